"""The factory CLI's exceptions: one root, and a class for each kind of failure the batch treats differently.

- ``UsageError`` (exit 2): the operator's input is wrong (arguments, manifest, outputs file, files).
  Nothing was touched.
- ``StationFault`` (exit 3): the station or the target cannot work (passphrase, PIN, token, module,
  claim credentials, CA, endpoint, template, clock). Recognised by type, it stops the whole batch
  once; devices not yet started are left as they were, devices in flight keep their last step.
- ``DeviceError``: one device's own failure (its serial refused by the hook, its certificate); it
  stays with that device.
"""

from __future__ import annotations

from contracts.exit_status import ExitStatus


class ProvisioningError(Exception):
    """``cause`` is what went wrong, ``fix`` what the operator should do."""

    exit_status = ExitStatus.FAILED

    def __init__(self, cause: str, fix: str = "", *, transient: bool = False) -> None:
        super().__init__(cause if not fix else f"{cause} — {fix}")
        self.cause = cause
        self.fix = fix
        #: A retry can succeed (the batch retries with backoff).
        self.transient = transient


class UsageError(ProvisioningError):
    """Bad arguments or input files; nothing was touched."""

    exit_status = ExitStatus.USAGE


class StationFault(ProvisioningError):
    """The station or the target is unusable: stop the batch once, touch no other device."""

    exit_status = ExitStatus.UNAVAILABLE


class PassphraseError(StationFault):
    """The key store's passphrase does not open it."""


class TokenError(StationFault):
    """The PKCS#11 module, token or PIN does not work."""


class ClaimCredentialsError(StationFault):
    """No usable claim credentials (trusted user: no AWS credentials, or the claim was refused)."""


class EndpointUnreachable(StationFault):
    """No TCP or TLS connection to the endpoint."""


class CaMismatch(StationFault):
    """The endpoint's server certificate does not verify against the root CA file."""


class ClockSkew(StationFault):
    """The station's clock makes valid certificates look invalid."""


class TemplateMissing(StationFault):
    """The provisioning template (or a resource it creates) does not exist on the target."""


class CertificateRefused(StationFault):
    """The endpoint refused the claim certificate (unknown, inactive, or its policy denies connect)."""


class TargetGone(StationFault):
    """The circuit breaker opened: consecutive connection failures, the target went away mid-batch."""


class DeviceError(ProvisioningError):
    """One device's own failure; other devices go on."""
