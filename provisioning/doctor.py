"""``iot-provision doctor``: check a station's configuration against its target, one line per check."""

from __future__ import annotations

import stat
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from provisioning.errors import ProvisioningError
from provisioning.target import Fleet, Target


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _check(name: str, fn: Callable[[], str]) -> Check:
    """Run one check; a library warning about the input (cryptography's deprecations) becomes part of its line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check = Check(name, True, fn())
        except ProvisioningError as exc:
            check = Check(name, False, f"{exc.cause}; fix: {exc.fix}" if exc.fix else exc.cause)
        except (OSError, ValueError) as exc:
            check = Check(name, False, f"{type(exc).__name__}: {exc}")
    notes = sorted({str(w.message) for w in caught})
    if notes:
        check = Check(check.name, check.ok, f"{check.detail} (note: {'; '.join(notes)})")
    return check


def run_checks(
    target: Target, fleet: Fleet, claim_cert: Path | None, claim_key: Path | None, passphrase: bytes | None = None
) -> list[Check]:
    from provisioning.mqtt_flow import probe_endpoint

    checks = [
        _check("fleet template", lambda: f"{fleet.name} provisions through template {fleet.template}"),
        _check("root CA file", lambda: _ca(target)),
        _check("endpoint reachable (TLS, server certificate verified, clock)", lambda: probe_endpoint(target)),
    ]
    if claim_cert and claim_key:
        checks.append(_check("claim certificate and key", lambda: _claim_files(claim_cert, claim_key, passphrase)))
        name = "claim policy covers this template's topics"
        if all(c.ok for c in checks):
            checks.append(_check(name, lambda: _claim_session(target, fleet, claim_cert, claim_key, passphrase)))
        else:
            checks.append(Check(name, False, "not tried: fix the checks above first"))
    return checks


def _ca(target: Target) -> str:
    roots = x509.load_pem_x509_certificates(target.ca_file.read_bytes())
    return f"{target.ca_file}: {len(roots)} certificate(s), first {roots[0].subject.rfc4514_string()}"


def _claim_files(cert_file: Path, key_file: Path, passphrase: bytes | None) -> str:
    from provisioning.claims import FileClaim

    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        raise ProvisioningError(f"{key_file} is readable by others (mode {mode:o})", f"chmod 600 {key_file}")
    FileClaim(cert_file, key_file, passphrase=passphrase)
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return f"certificate valid until {cert.not_valid_after_utc:%Y-%m-%d}, key 0600 and matching"


def _claim_session(target: Target, fleet: Fleet, cert_file: Path, key_file: Path, passphrase: bytes | None) -> str:
    from provisioning.claims import FileClaim
    from provisioning.mqtt_flow import ClaimSession, probe_fault

    prefix = fleet.claim_prefix or "claim."
    creds = FileClaim(cert_file, key_file, passphrase=passphrase).credentials()
    session = ClaimSession(target, client_id=f"{prefix}doctor", creds=creds)
    try:
        try:
            session.register(fleet.template, "doctor-probe-token", {})
        except Exception as exc:
            fault = probe_fault(exc, fleet.template)
            if fault is not None:
                raise fault from None
            code = getattr(getattr(exc, "modeled_error", None), "error_code", None)
            if code is None:
                raise ProvisioningError(
                    f"no answer from RegisterThing on {fleet.template} ({type(exc).__name__})",
                    "the claim policy must allow publish/subscribe/receive on this template's provision/json topics",
                ) from None
            return f"connected as {prefix}doctor; RegisterThing answered ({code} for a probe token, as expected)"
        raise ProvisioningError("RegisterThing accepted a probe token", "the target is not behaving like AWS IoT")
    finally:
        session.close()
