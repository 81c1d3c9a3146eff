"""``python -m provisioning doctor``: check a station's configuration against its target."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from provisioning.errors import ProvisioningError
from provisioning.mqtt_flow import ClaimSession
from provisioning.target import Fleet, Target


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _check(name: str, fn: Callable[[], str]) -> Check:
    try:
        return Check(name, True, fn())
    except ProvisioningError as exc:
        return Check(name, False, f"{exc.cause}; fix: {exc.fix}" if exc.fix else exc.cause)
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}")


def run_checks(target: Target, fleet: Fleet, claim_cert: Path | None, claim_key: Path | None) -> list[Check]:
    checks = [
        _check("fleet template", lambda: f"{fleet.name} provisions through template {fleet.template}"),
        _check("root CA file", lambda: _ca(target)),
        _check("endpoint reachable (TLS, server certificate verified)", lambda: _tls(target)),
    ]
    if claim_cert and claim_key:
        checks.append(_check("claim certificate and key", lambda: _claim_files(claim_cert, claim_key)))
        name = "claim policy covers this template's topics"
        if all(c.ok for c in checks):
            checks.append(_check(name, lambda: _claim_session(target, fleet, claim_cert, claim_key)))
        else:
            checks.append(Check(name, False, "not tried: fix the checks above first"))
    return checks


def _ca(target: Target) -> str:
    roots = x509.load_pem_x509_certificates(target.ca_file.read_bytes())
    return f"{target.ca_file}: {len(roots)} certificate(s), first {roots[0].subject.rfc4514_string()}"


def _tls(target: Target) -> str:
    context = ssl.create_default_context(cafile=str(target.ca_file))
    try:
        with socket.create_connection((target.endpoint, target.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=target.endpoint) as tls:
                der = tls.getpeercert(binary_form=True)
                if der:
                    server = x509.load_der_x509_certificate(der)
                    now = dt.datetime.now(dt.UTC)
                    if now < server.not_valid_before_utc - dt.timedelta(minutes=10):
                        raise ProvisioningError(
                            f"this station's clock ({now:%Y-%m-%d %H:%M}Z) is before the server certificate's start",
                            "synchronize the clock (NTP); certificates look invalid to a clock that is off",
                        )
                return f"{target.endpoint}:{target.port} {tls.version()}"
    except ssl.SSLCertVerificationError as exc:
        raise ProvisioningError(
            f"the server certificate does not verify: {exc.verify_message}", "wrong root CA file?"
        ) from None
    except OSError as exc:
        raise ProvisioningError(
            f"cannot reach {target.endpoint}:{target.port}: {exc}", "check the endpoint and network"
        ) from None


def _claim_files(cert_file: Path, key_file: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        raise ProvisioningError(f"{key_file} is readable by others (mode {mode:o})", f"chmod 600 {key_file}")
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if key.public_key() != cert.public_key():
        raise ProvisioningError("the claim key does not belong to the claim certificate", "pair the right files")
    return f"certificate valid until {cert.not_valid_after_utc:%Y-%m-%d}, key 0600 and matching"


def _claim_session(target: Target, fleet: Fleet, cert_file: Path, key_file: Path) -> str:
    prefix = fleet.claim_prefix or "claim."
    session = ClaimSession(target, client_id=f"{prefix}doctor", cert_file=cert_file, key_file=key_file)
    try:
        try:
            session.register(fleet.template, "doctor-probe-token", {})
        except Exception as exc:
            code = getattr(getattr(exc, "modeled_error", None), "error_code", None)
            if code is None:
                raise ProvisioningError(
                    f"no answer from RegisterThing on {fleet.template}: {exc}",
                    "the claim policy must allow publish/subscribe/receive on this template's provision/json topics",
                ) from None
            return f"connected as {prefix}doctor; RegisterThing answered ({code} for a probe token, as expected)"
        raise ProvisioningError("RegisterThing accepted a probe token", "the target is not behaving like AWS IoT")
    finally:
        session.close()
