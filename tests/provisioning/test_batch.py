"""The batch's state machine, station faults and circuit breaker, with the network replaced by fakes.

The real flow against the double is in test_cli_e2e.py; here every step runs in-process in
milliseconds, so each rule of the batch has a test of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provisioning import batch as batch_mod
from provisioning.batch import Batch, CircuitBreaker, RateLimiter, Settings, Stopped
from provisioning.errors import StationFault, TargetGone
from provisioning.journal import DeviceState, Journal
from provisioning.mqtt_flow import ConnectFailed, Credentials
from provisioning.target import Fleet, Target


@dataclass
class Modeled:
    status_code: int
    error_code: str
    error_message: str


class Rejected(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.modeled_error = Modeled(status, code, code)


@dataclass
class Created:
    certificate_id: str
    certificate_pem: str
    certificate_ownership_token: str


@dataclass
class Registered:
    thing_name: str
    device_configuration: dict[str, str]


class CA:
    def __init__(self, directory: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test root")])
        now = dt.datetime.now(dt.UTC)
        builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
        builder = builder.serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        self.cert = builder.sign(self.key, hashes.SHA256())
        self.file = directory / "ca.pem"
        self.file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, csr_pem: str) -> Created:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        now = dt.datetime.now(dt.UTC)
        builder = x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.cert.subject)
        builder = builder.public_key(csr.public_key()).serial_number(x509.random_serial_number())
        builder = builder.not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        cert = builder.sign(self.key, hashes.SHA256())
        der = cert.public_bytes(serialization.Encoding.DER)
        return Created(hashlib.sha256(der).hexdigest(), cert.public_bytes(serialization.Encoding.PEM).decode(), "tok")


@dataclass
class Service:
    """What the fake sessions answer; ``register_fault`` may reject a serial."""

    ca: CA
    register_fault: Callable[[str], Exception | None] = lambda serial: None
    registered: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeSession:
    def __init__(self, service: Service) -> None:
        self.service = service

    def create_certificate(self, csr: str) -> Created:
        return self.service.ca.issue(csr)

    def register(self, template: str, token: str, params: dict[str, str]) -> Registered:
        if token == "preflight-probe-token":
            raise Rejected(400, "InvalidCertificateOwnershipToken")
        serial = params["SerialNumber"]
        fault = self.service.register_fault(serial)
        if fault is not None:
            raise fault
        with self.service.lock:
            self.service.registered.append(serial)
        return Registered(f"sensor-{serial}", {"topic": f"dt/{serial}"})

    def close(self) -> None:
        pass


class NoClaim:
    expires = False

    def credentials(self) -> Credentials:
        return Credentials(certificate_pem=b"", key_pem=b"")


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Service:
    svc = Service(CA(tmp_path))
    monkeypatch.setattr(batch_mod, "probe_endpoint", lambda target: "ok")
    monkeypatch.setattr(batch_mod, "open_claim_session", lambda target, client_id, creds: FakeSession(svc))
    monkeypatch.setattr(batch_mod, "ClaimSession", lambda target, client_id, creds: FakeSession(svc))
    monkeypatch.setattr(batch_mod, "verify_device", lambda target, thing, creds, topic: None)
    monkeypatch.setattr(batch_mod, "backoff", lambda attempt: 0.0)
    return svc


def target(ca_file: Path) -> Target:
    fleet = Fleet(
        name="sensors",
        template="t",
        serial_parameter="SerialNumber",
        thing_name_template="sensor-{SerialNumber}",
        patterns={"SerialNumber": "^SN[0-9]+$"},
        defaults={},
        publish_namespaces=("dt/sensors/{thing_name}",),
        claim_prefix="claim.",
        claim_certificate_id=None,
    )
    return Target("localhost", 8883, ca_file, None, None, {"sensors": fleet}, stack="s")


def run(service: Service, tmp_path: Path, count: int, **settings: Any) -> tuple[batch_mod.Summary, Journal]:
    manifest = tmp_path / "m.csv"
    manifest.write_text("SerialNumber\n" + "".join(f"SN{i:04d}\n" for i in range(count)))
    options = {"workers": 1, "rate": None, "plaintext_keys": True, **settings}
    b = Batch(target(service.ca.file), Settings(fleet="sensors", work_dir=tmp_path / "work", **options), NoClaim())
    try:
        summary = b.run(manifest)
    finally:
        b.close()
    return summary, Journal(tmp_path / "work" / "journal.sqlite", read_only=True)


def test_every_device_walks_every_state(service: Service, tmp_path: Path) -> None:
    summary, journal = run(service, tmp_path, 5, workers=3)
    assert summary.verified == 5
    assert summary.fault is None
    assert journal.counts() == {"verified": 5}
    assert [to for _, to, _ in journal.events("SN0000")] == [
        "key_made",
        "csr_sent",
        "cert_received",
        "registered",
        "verified",
    ]
    device = json.loads((tmp_path / "work" / "bundles" / "sensor-SN0000" / "device.json").read_text())
    assert device["key"] == {"file": "../../keys/SN0000.key", "format": "PKCS#8 PEM", "encrypted": False}
    assert device["deviceConfiguration"] == {"topic": "dt/SN0000"}
    binding = journal.binding()
    assert binding is not None
    assert binding.fleet == "sensors"
    journal.close()


def test_a_device_failure_stays_with_the_device(service: Service, tmp_path: Path) -> None:
    service.register_fault = lambda serial: Rejected(403, "AccessDenied") if serial == "SN0001" else None
    summary, journal = run(service, tmp_path, 3)
    assert summary.verified == 2
    assert list(summary.failed) == ["SN0001"]
    assert "hook denied" in summary.failed["SN0001"]
    assert summary.fault is None
    journal.close()


def test_a_station_fault_stops_once_and_leaves_the_rest_untouched(service: Service, tmp_path: Path) -> None:
    service.register_fault = lambda serial: Rejected(404, "ResourceNotFoundException") if serial == "SN0002" else None
    summary, journal = run(service, tmp_path, 6)
    assert isinstance(summary.fault, StationFault)
    assert "template t" in summary.fault.cause
    assert summary.verified == 2
    assert summary.failed == {}
    assert summary.not_started == 3
    by_serial = {d.serial: d.state for d in journal.devices()}
    assert by_serial == {
        "SN0000": DeviceState.VERIFIED,
        "SN0001": DeviceState.VERIFIED,
        "SN0002": DeviceState.CERT_RECEIVED,  # its last proven step: resumable, not failed
    }
    journal.close()


def test_the_circuit_breaker_opens_on_consecutive_connection_failures(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def unreachable(target: Target, thing: str, creds: Credentials, topic: str | None) -> None:
        calls.append(thing)
        raise ConnectFailed("could not connect", "check", crt_error="AWS_IO_SOCKET_CONNECTION_REFUSED", refused=False)

    monkeypatch.setattr(batch_mod, "verify_device", unreachable)
    workers, threshold = 2, 4
    summary, journal = run(
        service, tmp_path, 20, workers=workers, breaker_threshold=threshold, breaker_seconds=0.0, max_attempts=10
    )
    assert isinstance(summary.fault, TargetGone)
    assert f"{threshold} connections in a row failed" in summary.fault.cause
    # A claim connection that comes up closes the breaker again; each worker opens at most one (the
    # preflight's is reused), so whatever the interleaving the batch stops within this many tries:
    bound = (workers - 1) * (threshold - 1) + threshold + (workers - 1)
    assert len(calls) <= bound, "the batch stopped instead of burning through the manifest"
    assert summary.failed == {}
    assert DeviceState.FAILED not in {d.state for d in journal.devices()}
    assert len(list(journal.devices())) <= bound
    journal.close()


def test_breaker_and_limiter_units() -> None:
    now = {"t": 0.0}
    breaker = CircuitBreaker(2, window=5.0, clock=lambda: now["t"])
    failure = ConnectFailed("x", "y", crt_error=None, refused=False)
    breaker.failure(failure)
    breaker.success()
    breaker.failure(failure)
    breaker.failure(failure)  # two in a row, but within a blip of the window: still closed
    now["t"] = 6.0
    with pytest.raises(TargetGone, match="3 connections in a row failed over 6 s"):
        breaker.failure(failure)
    stop = threading.Event()
    limiter = RateLimiter(0.001, stop)  # one request per 1000 s
    limiter.acquire()
    stop.set()
    with pytest.raises(Stopped):
        limiter.acquire()  # a stopping batch does not wait out the limiter
    RateLimiter(None).acquire()


def test_resume_goes_on_from_the_furthest_proven_step(service: Service, tmp_path: Path) -> None:
    service.register_fault = lambda serial: Rejected(403, "AccessDenied")
    summary, journal = run(service, tmp_path, 2)
    assert len(summary.failed) == 2
    journal.close()
    service.register_fault = lambda serial: None
    before = len(list((tmp_path / "work" / "keys").glob("*.key")))
    summary, journal = run(service, tmp_path, 2)
    assert summary.verified == 2
    assert len(list((tmp_path / "work" / "keys").glob("*.key"))) == before, "the keys already made are kept"
    events = [to for _, to, _ in journal.events("SN0000")]
    assert events.count("key_made") == 1
    journal.close()


def test_throttling_has_a_budget_of_its_own(service: Service, tmp_path: Path) -> None:
    throttles = {"left": 8}

    def throttled(serial: str) -> Exception | None:
        if throttles["left"] > 0:
            throttles["left"] -= 1
            return Rejected(429, "ThrottlingException")
        return None

    service.register_fault = throttled
    summary, journal = run(service, tmp_path, 1, max_attempts=3)
    assert summary.verified == 1, summary.failed  # 8 throttles, more than max_attempts: still provisioned
    journal.close()


def test_a_claim_connection_lost_mid_batch_is_retried_not_a_station_fault(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the preflight's first connection speaks for the station; later ones fail like a device's."""
    dropped = {"once": True}
    original = FakeSession.create_certificate

    def drop_once(self: FakeSession, csr: str) -> Created:
        if dropped["once"]:
            dropped["once"] = False
            raise TimeoutError
        return original(self, csr)

    def reconnect(target: Target, client_id: str, creds: Credentials) -> FakeSession:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise ConnectFailed("hung up", "check", crt_error="AWS_ERROR_MQTT_UNEXPECTED_HANGUP", refused=False)
        return FakeSession(service)

    failures = {"left": 2}
    monkeypatch.setattr(FakeSession, "create_certificate", drop_once)
    monkeypatch.setattr(batch_mod, "ClaimSession", reconnect)
    summary, journal = run(service, tmp_path, 3, max_attempts=5)
    assert summary.fault is None
    assert summary.verified == 3
    assert failures["left"] == 0
    journal.close()
