"""Run a manifest: N workers, a shared rate limiter, jittered backoff, journal-driven resume."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from provisioning import manifest
from provisioning.errors import ProvisioningError
from provisioning.journal import Device, Journal
from provisioning.keys import FileKeyStore, KeyType, Pkcs11KeyStore, write_private
from provisioning.mqtt_flow import ClaimSession, diagnose, verify_device
from provisioning.target import Fleet, Target

ORDER = ("new", "key_made", "csr_sent", "cert_received", "registered", "verified")


class RateLimiter:
    """Blocking token bucket shared by all workers (set it to the account's quota)."""

    def __init__(self, per_second: float | None) -> None:
        self.rate = per_second
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def acquire(self) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + 1.0 / self.rate
        if wait > 0:
            time.sleep(wait)


def backoff(attempt: int, base: float = 0.5, cap: float = 20.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not cryptography


@dataclass
class Claim:
    """How workers get claim credentials: a claim certificate, or a trusted user's temporary claim."""

    cert_file: Path | None = None
    key_file: Path | None = None
    trusted_user: Callable[[], tuple[Path, Path]] | None = None

    def credentials(self) -> tuple[Path, Path]:
        if self.trusted_user is not None:
            return self.trusted_user()
        if self.cert_file is None or self.key_file is None:
            raise ProvisioningError("no claim credentials", "pass --claim-cert and --claim-key, or --trusted-user")
        return self.cert_file, self.key_file


@dataclass
class Settings:
    fleet: str
    journal: Path
    keys_dir: Path
    bundle_dir: Path
    workers: int = 4
    rate: float | None = 10.0
    max_attempts: int = 5
    key_type: KeyType = "ec-p256"
    key_store: str = "file"
    passphrase: bytes | None = None
    pkcs11: Mapping[str, str] | None = None
    station: str = "station"


@dataclass
class Summary:
    total: int = 0
    verified: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    planned: int = 0
    seconds: float = 0.0


class Batch:
    def __init__(self, target: Target, settings: Settings, claim: Claim, *, out: Any = sys.stderr) -> None:
        self.target = target
        self.settings = settings
        self.fleet: Fleet = target.fleet(settings.fleet)
        self.claim = claim
        self.journal = Journal(settings.journal)
        # One bucket per operation: each has its own account quota (set --rate to it).
        self.csr_limiter = RateLimiter(settings.rate)
        self.register_limiter = RateLimiter(settings.rate)
        self.out = out
        self._local = threading.local()
        self._stores: dict[str, Any] = {"file": FileKeyStore(settings.keys_dir, passphrase=settings.passphrase)}
        self._lock = threading.Lock()
        self._done = 0
        self._sessions: list[ClaimSession] = []

    def _store(self, name: str) -> Any:
        with self._lock:  # the PKCS#11 module must be loaded by one thread only
            return self._store_locked(name)

    def _store_locked(self, name: str) -> Any:
        if name not in self._stores:
            if name != "pkcs11" or not self.settings.pkcs11:
                raise ProvisioningError(
                    f"key store {name!r} is not configured", "pass --pkcs11-module, --token-label and PIN"
                )
            p = self.settings.pkcs11
            self._stores[name] = Pkcs11KeyStore(module=p["module"], token_label=p["token_label"], pin=p["pin"])
        return self._stores[name]

    def _session(self) -> ClaimSession:
        session: ClaimSession | None = getattr(self._local, "session", None)
        if session is None:
            cert, key = self.claim.credentials()
            prefix = self.fleet.claim_prefix or "claim."
            client_id = f"{prefix}{self.settings.station}-{threading.get_ident() % 100000}"
            session = ClaimSession(self.target, client_id=client_id, cert_file=cert, key_file=key)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _drop_session(self) -> None:
        session: ClaimSession | None = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None
            with self._lock:
                if session in self._sessions:
                    self._sessions.remove(session)

    # one device ---------------------------------------------------------------------------------------

    def _key_spec(self, store_name: str, serial: str) -> dict[str, str]:
        if store_name == "pkcs11":
            assert self.settings.pkcs11 is not None
            return {"store": "pkcs11", "label": serial, **self.settings.pkcs11}
        return {"store": "file", "path": str(self._stores["file"].path(serial))}

    def device(self, row: manifest.Row) -> Device:
        serial = row.serial
        store_name = row.key_store or self.settings.key_store
        store = self._store(store_name)
        thing = self.fleet.thing_name(row.parameters)
        device = self.journal.ensure(serial, self.fleet.name)
        for attempt in range(self.settings.max_attempts):
            try:
                state = device.state
                if state == "verified":
                    return device
                if state == "failed":  # resume from the furthest step the journal proves
                    if device.thing_name and device.certificate_pem:
                        state = "registered"
                    elif device.token and device.certificate_pem:
                        state = "cert_received"
                    elif store.exists(serial):
                        state = "key_made"
                    else:
                        state = "new"
                if state == "new" or not store.exists(serial):
                    # A key this station already made for this serial is kept: a journal entry lost
                    # in a power cut must never orphan a key whose certificate may be active.
                    if store.exists(serial):
                        ref_text = f"{store_name}:{serial}"
                    else:
                        ref_text = store.generate(serial, self.settings.key_type).describe()
                    self.journal.move(serial, "key_made", key_ref=ref_text)
                    state = "key_made"
                if state in ("key_made", "csr_sent"):
                    csr = store.csr(serial, thing)
                    self.journal.move(serial, "csr_sent")
                    self.csr_limiter.acquire()
                    created = self._session().create_certificate(csr)
                    self._check_certificate(created.certificate_pem, store.public_key(serial))
                    self.journal.move(
                        serial,
                        "cert_received",
                        certificate_id=created.certificate_id,
                        certificate_pem=created.certificate_pem,
                        token=created.certificate_ownership_token,
                    )
                    state = "cert_received"
                device = self.journal.get(serial) or device
                if state == "cert_received":
                    self.register_limiter.acquire()
                    try:
                        registered = self._session().register(self.fleet.template, device.token or "", row.parameters)
                        config = dict(registered.device_configuration or {})
                        thing = registered.thing_name
                    except Exception as exc:
                        code = getattr(getattr(exc, "modeled_error", None), "error_code", "")
                        if code != "InvalidCertificateOwnershipToken":
                            raise
                        # The token was used before a crash: if the registration went through, the
                        # device can connect as its thing; otherwise start again with a new certificate.
                        if not self._verify(serial, thing, device, store_name):
                            self.journal.move(
                                serial, "key_made", detail="token used or expired; new certificate", token=None
                            )
                            raise ProvisioningError(
                                "the certificate ownership token was used or expired (1 h) before RegisterThing",
                                "the device gets a new certificate; keep stations under an hour per device",
                                transient=True,
                            ) from None
                        config = {}
                    self.journal.move(serial, "registered", thing_name=thing, token=None, detail=json.dumps(config))
                    state = "registered"
                device = self.journal.get(serial) or device
                if state == "registered":
                    if not self._verify(serial, device.thing_name or thing, device, store_name):
                        raise ProvisioningError(
                            f"{thing} could not connect with its new certificate", "run doctor", transient=True
                        )
                    self._bundle(serial, device, store_name)
                    self.journal.move(serial, "verified")
                return self.journal.get(serial) or device
            except Exception as exc:
                d = diagnose(exc)
                self._drop_session()
                if d.transient and attempt + 1 < self.settings.max_attempts:
                    time.sleep(backoff(attempt))
                    device = self.journal.get(serial) or device
                    continue
                self.journal.move(serial, "failed", cause=f"{d.cause} — {d.fix}", detail=type(exc).__name__)
                return self.journal.get(serial) or device
        return self.journal.get(serial) or device  # pragma: no cover - the last attempt returns above

    def _verify(self, serial: str, thing: str, device: Device, store_name: str) -> bool:
        cert_file = self.settings.bundle_dir / thing / "certificate.pem"
        cert_file.parent.mkdir(parents=True, exist_ok=True)
        cert_file.write_text(device.certificate_pem or "")
        try:
            verify_device(
                self.target,
                thing=thing,
                cert_file=cert_file,
                key=self._key_spec(store_name, serial),
                topic=self.fleet.check_topic(thing),
            )
            return True
        except ProvisioningError:
            return False

    def _check_certificate(self, pem: str, public_key: Any) -> None:
        cert = x509.load_pem_x509_certificate(pem.encode())
        if cert.public_key() != public_key:
            raise ProvisioningError("the returned certificate is not for this device's key", "report: wrong response")
        roots = x509.load_pem_x509_certificates(self.target.ca_file.read_bytes())
        issuers = [r for r in roots if r.subject == cert.issuer]
        for root in issuers:
            try:
                cert.verify_directly_issued_by(root)
                return
            except (ValueError, TypeError, InvalidSignature):
                continue
        if issuers:
            raise ProvisioningError("the certificate does not verify against the root CA file", "check --ca-file")
        # AWS IoT signs with an intermediate not sent in the response: the TLS connection made
        # with this certificate in the verify step is the chain check then.

    def _bundle(self, serial: str, device: Device, store_name: str) -> None:
        thing = device.thing_name or serial
        directory = self.settings.bundle_dir / thing
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "certificate.pem").write_text(device.certificate_pem or "")
        (directory / "root-ca.pem").write_bytes(self.target.ca_file.read_bytes())
        key_ref: dict[str, str]
        if store_name == "file":
            write_private(directory / "private.key", self._stores["file"].path(serial).read_bytes())
            key_ref = {"file": "private.key"}
        else:
            assert self.settings.pkcs11 is not None
            key_ref = {"pkcs11TokenLabel": self.settings.pkcs11["token_label"], "pkcs11KeyLabel": serial}
        config = {}
        for _, to_state, detail in self.journal.events(serial):
            if to_state == "registered" and detail.startswith("{"):
                config = json.loads(detail)
        (directory / "device.json").write_text(
            json.dumps(
                {
                    "thingName": thing,
                    "clientId": thing,
                    "serial": serial,
                    "endpoint": self.target.endpoint,
                    "port": self.target.port,
                    "certificateId": device.certificate_id,
                    "key": key_ref,
                    "deviceConfiguration": config,
                },
                indent=2,
            )
        )

    # the batch ------------------------------------------------------------------------------------------

    def run(self, path: Path, *, only_failed: bool = False, dry_run: bool = False) -> Summary:
        """Validate the whole manifest, then stream its rows through the workers (bounded in flight)."""
        patterns, serial, defaults = self.fleet.patterns, self.fleet.serial_parameter, self.fleet.defaults
        total = manifest.validate(path, patterns=patterns, serial_parameter=serial, defaults=defaults)
        summary = Summary(total=total)
        started = time.monotonic()
        in_flight = threading.BoundedSemaphore(self.settings.workers * 4)
        pending = 0

        def work(row: manifest.Row) -> None:
            try:
                device = self.device(row)
                with self._lock:
                    self._done += 1
                    if device.state == "verified":
                        summary.verified += 1
                    else:
                        summary.failed[device.serial] = device.cause or device.state
                    self._progress(summary.total - summary.skipped, started)
            finally:
                in_flight.release()

        with ThreadPoolExecutor(max_workers=self.settings.workers) as pool:
            for row in manifest.rows(path, patterns=patterns, serial_parameter=serial, defaults=defaults):
                current = self.journal.get(row.serial)
                if current is not None and current.state == "verified":
                    summary.skipped += 1
                    continue
                if only_failed and (current is None or current.state != "failed"):
                    summary.skipped += 1
                    continue
                if dry_run:
                    self.fleet.thing_name(row.parameters)
                    summary.planned += 1
                    continue
                in_flight.acquire()
                pending += 1
                pool.submit(work, row)
        summary.seconds = time.monotonic() - started
        if not dry_run:
            self._write_batch_manifest()
        return summary

    def _progress(self, total: int, started: float) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        rate = self._done / elapsed
        eta = (total - self._done) / rate if rate else 0.0
        line = f"{self._done}/{total} devices, {rate:.1f}/s, ETA {eta:.0f} s"
        if getattr(self.out, "isatty", lambda: False)():
            self.out.write("\r" + line)
            if self._done == total:
                self.out.write("\n")
        elif self._done == total or self._done % max(1, total // 20) == 0:
            self.out.write(line + "\n")
        self.out.flush()

    def _write_batch_manifest(self) -> None:
        path = self.settings.bundle_dir / "batch-manifest.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["serial", "thingName", "certificateId", "sha256Fingerprint", "state"])
            for d in self.journal.devices():
                fingerprint = ""
                if d.certificate_pem:
                    cert = x509.load_pem_x509_certificate(d.certificate_pem.encode())
                    der = cert.public_bytes(serialization.Encoding.DER)
                    fingerprint = hashlib.sha256(der).hexdigest()
                writer.writerow([d.serial, d.thing_name or "", d.certificate_id or "", fingerprint, d.state])

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self.journal.close()
