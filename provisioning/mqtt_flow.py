"""Fleet provisioning over MQTT with AWS's device SDK (awsiotsdk ``IotIdentityClientV2``, MQTT 5).

``ClaimSession`` holds one claim connection and serves many devices in turn;
``verify_device`` reconnects with a device's new certificate as its thing and publishes to its own
topic. ``diagnose`` turns every failure into a cause, a fix and whether a retry can help.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from provisioning.errors import ProvisioningError
from provisioning.target import Target

TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    fix: str
    transient: bool


def diagnose(exc: BaseException) -> Diagnosis:
    """Map a failure to its cause and fix (the error codes AWS IoT and the double send)."""
    modeled = getattr(exc, "modeled_error", None)
    status = getattr(modeled, "status_code", None)
    code = str(getattr(modeled, "error_code", "") or "")
    message = str(getattr(modeled, "error_message", "") or getattr(exc, "message", "") or exc)
    if status == 403 or code == "AccessDenied":
        return Diagnosis(
            "the pre-provisioning hook denied the device "
            "(serial not allowlisted, already provisioned, or bad parameters)",
            "check the serial in the allowlist table and the hook's log",
            False,
        )
    if status == 429 or "Throttl" in code:
        return Diagnosis("throttled by AWS IoT", "retried with backoff; lower --workers or --rate", True)
    if code == "InvalidCertificateOwnershipToken":
        return Diagnosis(
            "the ownership token is used or expired (1 h)", "the device gets a new certificate on retry", True
        )
    if "not enabled" in message:
        return Diagnosis(
            "the provisioning template is disabled",
            "enable it (fleets[].provisioning.enabled in the stack's config) and deploy",
            False,
        )
    if "certificate is not yet valid" in message.lower() or "certificate has expired" in message.lower():
        return Diagnosis(
            "TLS refused a certificate as not yet valid or expired: the station's clock is probably wrong",
            "synchronize the station's clock (NTP) and retry",
            False,
        )
    if status == 404:
        return Diagnosis(
            f"not found: {message}", "check the template name in the outputs file and that it is deployed", False
        )
    if status is not None and status >= 500:
        return Diagnosis(f"AWS IoT failed: {message}", "retried with backoff", True)
    if status is not None:
        return Diagnosis(f"rejected ({status} {code}): {message}", "see the message; fix the request", False)
    if isinstance(exc, ProvisioningError):
        return Diagnosis(exc.cause, exc.fix, exc.transient)
    if isinstance(exc, TimeoutError) or "timeout" in message.lower() or "Timeout" in type(exc).__name__:
        return Diagnosis("no answer in time", "retried; check the network and the endpoint", True)
    return Diagnosis(f"{type(exc).__name__}: {message}", "retried; run `python -m provisioning doctor`", True)


_PKCS11_LOCK = threading.Lock()


def _pkcs11_lib(module: str) -> Any:
    with _PKCS11_LOCK:  # loading a PKCS#11 module from two threads at once crashes some modules
        return _pkcs11_lib_locked(module)


@lru_cache(maxsize=4)
def _pkcs11_lib_locked(module: str) -> Any:
    """awscrt's handle on the module. python-pkcs11 (the key store) initializes the module for this
    process, so awscrt must neither initialize nor finalize it (two owners crash the module)."""
    import pkcs11
    from awscrt import io

    pkcs11.lib(module)  # initialized once per process, kept for its lifetime
    return io.Pkcs11Lib(file=module, behavior=io.Pkcs11Lib.InitializeFinalizeBehavior.OMIT)


def _client(
    target: Target, client_id: str, cert_file: Path, key: Mapping[str, str]
) -> tuple[Any, threading.Event, list[str]]:
    from awsiot import mqtt5_client_builder

    connected = threading.Event()
    failures: list[str] = []

    def failed(data: Any) -> None:
        failures.append(str(getattr(data, "exception", data)))
        connected.set()

    common: dict[str, Any] = {
        "endpoint": target.endpoint,
        "port": target.port,
        "ca_filepath": str(target.ca_file),
        "client_id": client_id,
        "on_lifecycle_connection_success": lambda data: connected.set(),
        "on_lifecycle_connection_failure": failed,
    }
    if key["store"] == "pkcs11":
        client = mqtt5_client_builder.mtls_with_pkcs11(
            pkcs11_lib=_pkcs11_lib(key["module"]),
            user_pin=key["pin"],
            token_label=key["token_label"],
            private_key_label=key["label"],
            cert_filepath=str(cert_file),
            **common,
        )
    else:
        client = mqtt5_client_builder.mtls_from_path(
            cert_filepath=str(cert_file), pri_key_filepath=key["path"], **common
        )
    return client, connected, failures


def _connect(target: Target, client_id: str, cert_file: Path, key: Mapping[str, str]) -> Any:
    client, connected, failures = _client(target, client_id, cert_file, key)
    client.start()
    if not connected.wait(TIMEOUT_SECONDS) or failures:
        client.stop()
        raise ProvisioningError(
            f"could not connect to {target.endpoint}:{target.port} as {client_id}: "
            f"{failures[0] if failures else 'timed out'}",
            "check the endpoint, the root CA file, the certificate and its policy (python -m provisioning doctor)",
            transient=True,
        )
    return client


class ClaimSession:
    """One claim-certificate connection, used for many devices in turn (one request at a time)."""

    def __init__(self, target: Target, *, client_id: str, cert_file: Path, key_file: Path) -> None:
        from awscrt import mqtt_request_response
        from awsiot import iotidentity

        self._iotidentity = iotidentity
        self.client = _connect(target, client_id, cert_file, {"store": "file", "path": str(key_file)})
        self.identity = iotidentity.IotIdentityClientV2(
            self.client,
            mqtt_request_response.ClientOptions(
                max_request_response_subscriptions=4,
                max_streaming_subscriptions=2,
                operation_timeout_in_seconds=TIMEOUT_SECONDS,
            ),
        )

    def create_certificate(self, csr_pem: str) -> Any:
        request = self._iotidentity.CreateCertificateFromCsrRequest(certificate_signing_request=csr_pem)
        return self.identity.create_certificate_from_csr(request).result(TIMEOUT_SECONDS + 5)

    def register(self, template: str, token: str, parameters: Mapping[str, str]) -> Any:
        request = self._iotidentity.RegisterThingRequest(
            template_name=template, certificate_ownership_token=token, parameters=dict(parameters)
        )
        return self.identity.register_thing(request).result(TIMEOUT_SECONDS + 5)

    def close(self) -> None:
        self.client.stop()


def verify_device(target: Target, *, thing: str, cert_file: Path, key: Mapping[str, str], topic: str | None) -> None:
    """Connect as the thing with its new certificate; publish QoS 1 to its own topic when it has one."""
    from awscrt import mqtt5

    client = _connect(target, thing, cert_file, key)
    try:
        if topic is None:
            return
        result = client.publish(
            mqtt5.PublishPacket(topic=topic, payload=b'{"check":"provisioned"}', qos=mqtt5.QoS.AT_LEAST_ONCE)
        ).result(TIMEOUT_SECONDS)
        reason = getattr(getattr(result, "puback", None), "reason_code", None)
        if reason is not None and int(reason) >= 0x80:
            raise ProvisioningError(
                f"{thing} may not publish to {topic} ({reason.name})",
                "the device policy does not cover the fleet's topics: check the stack's device policy",
            )
    finally:
        client.stop()
