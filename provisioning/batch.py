"""Run a manifest: a preflight, N workers, a shared rate limiter, a circuit breaker, journal-driven resume.

Each device moves through ``DeviceState`` with one step function per state (``STEPS``); the journal
records every step before the next. Failures are judged by type (``mqtt_flow.diagnose``):

- a device's own failure is retried with backoff when a retry can help, else the device is ``failed``
  with its cause, and the batch goes on;
- a station fault (``StationFault``, ``UsageError``) stops the batch once: no new device is started,
  devices in flight keep their last journaled step (they are not marked failed), and the fault is
  raised to the caller with its cause and fix;
- ``breaker_threshold`` consecutive connection failures open the circuit breaker: the target is
  gone, the batch stops (``TargetGone``) instead of burning through the manifest.

Before any device is touched, ``preflight`` opens the key stores (passphrase, PIN, token), the claim
credentials, probes the endpoint (TCP, TLS, root CA, clock), opens the first claim connection and,
by claim, asks RegisterThing about the template with a probe token (404: the template is missing).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
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

from contracts.cli import Environment, Progress
from provisioning import greengrass, manifest
from provisioning.claims import RENEW_AFTER_SECONDS, ClaimSource
from provisioning.errors import DeviceError, ProvisioningError, StationFault, TargetGone, UsageError
from provisioning.journal import JOURNAL_FILE, Binding, Device, DeviceState, Journal
from provisioning.keys import (
    FileKeyStore,
    KeyStore,
    KeyType,
    Pkcs11KeyStore,
    build_csr,
    pem_in_memory,
    write_private,
)
from provisioning.mqtt_flow import (
    SOCKET_CLOSED,
    ClaimSession,
    ConnectFailed,
    Credentials,
    diagnose,
    open_claim_session,
    probe_endpoint,
    probe_fault,
    template_fault,
    verify_device,
)
from provisioning.target import Fleet, Target

#: Throttled requests one device may retry (with backoff up to 16 s) before it is marked failed.
MAX_THROTTLED = 20
#: Connection failures (not refusals) a device may retry per ``--max-attempts`` while the breaker stays closed.
CONNECT_RETRIES_PER_ATTEMPT = 3


class Stopped(Exception):
    """The batch is stopping (a station fault or Ctrl-C): leave this device as the journal has it."""


class RateLimiter:
    """Blocking token bucket shared by all workers (set it to the account's quota)."""

    def __init__(self, per_second: float | None, stop: threading.Event | None = None) -> None:
        self.rate = per_second
        self._stop = stop or threading.Event()
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def acquire(self) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + 1.0 / self.rate
        if wait > 0 and self._stop.wait(wait):
            raise Stopped


class CircuitBreaker:
    """Opens after ``threshold`` connection failures in a row, across all workers, that span at least
    ``window`` seconds (a broker restart is a blip, not a target gone); a success closes it."""

    def __init__(self, threshold: int, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self.consecutive = 0
        self._since: float | None = None

    def success(self) -> None:
        with self._lock:
            self.consecutive = 0
            self._since = None

    def failure(self, exc: ConnectFailed) -> None:
        with self._lock:
            now = self.clock()
            self.consecutive += 1
            self._since = now if self._since is None else self._since
            lasted = now - self._since
            opened = self.threshold > 0 and self.consecutive >= self.threshold and lasted >= self.window
        if opened:
            raise TargetGone(
                f"{self.consecutive} connections in a row failed over {lasted:.0f} s, the last: {exc.cause}",
                "the target went away: check the endpoint and the network, then run the same command to resume",
            )


def backoff(attempt: int, base: float = 0.5, cap: float = 20.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True)
class CoreSettings:
    """What a Greengrass core's bundle config.yaml needs beyond the device (docs/factory-cli.md)."""

    root: str
    endpoints: greengrass.Endpoints
    nucleus_version: str | None = None
    #: The PKCS#11 module's path on the device (default: the station's --pkcs11-module).
    pkcs11_library: str | None = None


@dataclass
class Settings:
    fleet: str
    work_dir: Path
    workers: int = 4
    rate: float | None = 10.0
    max_attempts: int = 5
    breaker_threshold: int = 5
    breaker_seconds: float = 10.0
    key_type: KeyType = "ec-p256"
    key_store: str = "file"
    passphrase: bytes | None = None
    #: File keys without a passphrase were asked for explicitly (``--plaintext-keys``).
    plaintext_keys: bool = False
    pkcs11: Mapping[str, str] | None = None
    station: str = "station"
    #: Greengrass core fleets: what the nucleus's config.yaml in each bundle names.
    greengrass: CoreSettings | None = None

    @property
    def journal(self) -> Path:
        return self.work_dir / JOURNAL_FILE

    @property
    def keys_dir(self) -> Path:
        return self.work_dir / "keys"

    @property
    def bundle_dir(self) -> Path:
        return self.work_dir / "bundles"


@dataclass
class Summary:
    total: int = 0
    verified: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    planned: int = 0
    seconds: float = 0.0
    #: The station fault that stopped the batch, if one did.
    fault: ProvisioningError | None = None
    #: Rows the batch never started because it stopped.
    not_started: int = 0

    @property
    def done(self) -> int:
        return self.verified + self.skipped + len(self.failed)


@dataclass
class Work:
    """One device in progress: its row, its key store and the journal's view of it."""

    row: manifest.Row
    store_name: str
    store: KeyStore
    thing: str
    device: Device
    #: The device's private key (a token key is a handle), loaded once for its steps; never written anywhere.
    key: Any = None
    attempts: int = 0
    throttled: int = 0
    connect_failures: int = 0

    @property
    def serial(self) -> str:
        return self.row.serial


class _SessionPool:
    """Claim connections shared by the workers; a temporary claim's connections are renewed in time."""

    def __init__(self, make: Callable[[], ClaimSession], *, expires: bool) -> None:
        self._make = make
        self._expires = expires
        self._idle: list[tuple[float, ClaimSession]] = []
        self._lock = threading.Lock()
        self._all: list[ClaimSession] = []

    def put(self, session: ClaimSession, made: float | None = None) -> None:
        with self._lock:
            self._idle.append((made if made is not None else time.monotonic(), session))
            if session not in self._all:
                self._all.append(session)

    def take(self) -> tuple[float, ClaimSession, bool]:
        """(when it was made, the session, whether it was connected just now)."""
        with self._lock:
            while self._idle:
                made, session = self._idle.pop()
                if not self._expires or time.monotonic() - made < RENEW_AFTER_SECONDS:
                    return made, session, False
                self._all.remove(session)
                session.close()
        session = self._make()
        with self._lock:
            self._all.append(session)
        return time.monotonic(), session, True

    def drop(self, session: ClaimSession) -> None:
        with self._lock:
            if session in self._all:
                self._all.remove(session)
        session.close()

    def close(self) -> None:
        with self._lock:
            sessions, self._all, self._idle = self._all, [], []
        for session in sessions:
            session.close()


class Batch:
    def __init__(
        self, target: Target, settings: Settings, claim: ClaimSource, *, env: Environment | None = None
    ) -> None:
        self.target = target
        self.settings = settings
        self.fleet: Fleet = target.fleet(settings.fleet)
        self.claim = claim
        self.env = env or Environment()
        self.stop = threading.Event()
        self.breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_seconds)
        # One bucket per operation: each has its own account quota (set --rate to it).
        self.csr_limiter = RateLimiter(settings.rate, self.stop)
        self.register_limiter = RateLimiter(settings.rate, self.stop)
        self.journal: Journal | None = None
        self._stores: dict[str, KeyStore] = {}
        self._lock = threading.Lock()
        self._fault: ProvisioningError | None = None
        prefix = self.fleet.claim_prefix or "claim."
        self._client_ids = (f"{prefix}{settings.station}-{os.getpid() % 10000}-{n}" for n in range(1_000_000))
        self.sessions = _SessionPool(self._new_session, expires=claim.expires)

    # preflight ------------------------------------------------------------------------------------------

    def _store(self, name: str) -> KeyStore:
        with self._lock:
            if name not in self._stores:
                self._stores[name] = self._open_store(name)
            return self._stores[name]

    def _open_store(self, name: str) -> KeyStore:
        if name == "file" and self.settings.passphrase is None and not self.settings.plaintext_keys:
            raise UsageError(
                "device keys in files are encrypted at rest and no passphrase was given",
                "set PROVISIONING_KEY_PASSPHRASE_FILE (or PROVISIONING_KEY_PASSPHRASE), or pass --plaintext-keys",
            )
        if name == "file":
            store: KeyStore = FileKeyStore(self.settings.keys_dir, passphrase=self.settings.passphrase)
        elif name == "pkcs11" and self.settings.pkcs11:
            p = self.settings.pkcs11
            store = Pkcs11KeyStore(module=p["module"], token_label=p["token_label"], pin=p["pin"])
        else:
            raise UsageError(
                f"a row asks for key store {name!r}, which is not configured",
                "pass --pkcs11-module and --token-label and set PROVISIONING_PKCS11_PIN",
            )
        store.open()
        return store

    def _new_session(self) -> ClaimSession:
        """Another claim connection mid-batch: a failure is a connection failure (the breaker counts it)."""
        return ClaimSession(self.target, client_id=next(self._client_ids), creds=self.claim.credentials())

    def preflight(self) -> None:
        """Everything the station itself needs, checked once before any device is touched."""
        self._store(self.settings.key_store)
        if self.settings.pkcs11:
            self._store("pkcs11")
        probe_endpoint(self.target)
        # The first claim connection: its refusal is the station's fault (the claim), not a device's.
        session = open_claim_session(self.target, client_id=next(self._client_ids), creds=self.claim.credentials())
        try:
            self._probe_template(session)
        except BaseException:
            session.close()
            raise
        self.sessions.put(session)

    def _probe_template(self, session: ClaimSession) -> None:
        if self.claim.expires:
            return  # a trusted user's CreateProvisioningClaim has already named the template
        self.register_limiter.acquire()
        try:
            session.register(self.fleet.template, "preflight-probe-token", {})
        except Exception as exc:
            fault = probe_fault(exc, self.fleet.template)
            if fault is not None:
                raise fault from None

    # one device: one step function per state ----------------------------------------------------------

    def _step_new(self, w: Work) -> DeviceState:
        # A key this station already made for this serial is kept: a journal entry lost in a power
        # cut must never orphan a key whose certificate may be active.
        if w.store.exists(w.serial):
            ref = f"{w.store_name}:{w.serial}"
        else:
            ref = w.store.generate(w.serial, self.settings.key_type, known_absent=True).describe()
        w.device = self._journal.move(w.serial, DeviceState.KEY_MADE, key_ref=ref)
        return DeviceState.KEY_MADE

    def _step_key_made(self, w: Work) -> DeviceState:
        try:
            key = w.key = w.key or w.store.load(w.serial)  # once per device: one decryption, one token lookup
        except DeviceError:  # the journal is ahead of the key store: make the key
            return DeviceState.NEW
        csr = build_csr(key, w.thing)
        w.device = self._journal.move(w.serial, DeviceState.CSR_SENT)
        self.csr_limiter.acquire()
        created = self._with_session(lambda s: s.create_certificate(csr))
        self._check_certificate(created.certificate_pem, key.public_key())
        w.device = self._journal.move(
            w.serial,
            DeviceState.CERT_RECEIVED,
            certificate_id=created.certificate_id,
            certificate_pem=created.certificate_pem,
            token=created.certificate_ownership_token,
        )
        return DeviceState.CERT_RECEIVED

    def _step_cert_received(self, w: Work) -> DeviceState:
        self.register_limiter.acquire()
        token, params = w.device.token or "", w.row.parameters
        try:
            registered = self._with_session(lambda s: s.register(self.fleet.template, token, params))
            config, thing = dict(registered.device_configuration or {}), registered.thing_name
        except Exception as exc:
            if getattr(getattr(exc, "modeled_error", None), "error_code", "") != "InvalidCertificateOwnershipToken":
                raise
            # The token was used before a crash: if the registration went through, the device can
            # connect as its thing; otherwise start again with a new certificate for the same key.
            if not self._connects(w):
                w.device = self._journal.move(
                    w.serial, DeviceState.KEY_MADE, detail="token used or expired; new certificate", token=None
                )
                raise DeviceError(
                    "the certificate ownership token was used or expired (1 h) before RegisterThing",
                    "the device gets a new certificate; keep stations under an hour per device",
                    transient=True,
                ) from None
            config, thing = {}, w.thing
        w.device = self._journal.move(
            w.serial, DeviceState.REGISTERED, thing_name=thing, token=None, detail=json.dumps(config)
        )
        return DeviceState.REGISTERED

    def _step_registered(self, w: Work) -> DeviceState:
        thing = w.device.thing_name or w.thing
        verify_device(self.target, thing=thing, creds=self._device_credentials(w), topic=self.fleet.check_topic(thing))
        self.breaker.success()
        self._bundle(w)
        w.device = self._journal.move(w.serial, DeviceState.VERIFIED)
        return DeviceState.VERIFIED

    def _step_failed(self, w: Work) -> DeviceState:
        """Resume from the furthest step the journal proves."""
        d = w.device
        if d.thing_name and d.certificate_pem:
            return DeviceState.REGISTERED
        if d.token and d.certificate_pem:
            return DeviceState.CERT_RECEIVED
        return DeviceState.KEY_MADE if w.store.exists(w.serial) else DeviceState.NEW

    STEPS: Mapping[DeviceState, Callable[[Batch, Work], DeviceState]] = {
        DeviceState.NEW: _step_new,
        DeviceState.KEY_MADE: _step_key_made,
        DeviceState.CSR_SENT: _step_key_made,  # the CSR may not have arrived: ask again
        DeviceState.CERT_RECEIVED: _step_cert_received,
        DeviceState.REGISTERED: _step_registered,
        DeviceState.FAILED: _step_failed,
    }

    @property
    def _journal(self) -> Journal:
        assert self.journal is not None, "run() opens the journal"
        return self.journal

    def _with_session(self, call: Callable[[ClaimSession], Any]) -> Any:
        try:
            made, session, connected = self.sessions.take()
        except ConnectFailed as exc:
            self.breaker.failure(exc)
            raise
        if connected:  # a connection that came up just now proves the target is there; a reused one does not
            self.breaker.success()
        try:
            result = call(session)
        except BaseException:
            self.sessions.drop(session)
            raise
        self.sessions.put(session, made)
        return result

    def _device_credentials(self, w: Work) -> Credentials:
        cert = (w.device.certificate_pem or "").encode()
        if isinstance(w.store, Pkcs11KeyStore):
            return Credentials(certificate_pem=cert, token=w.store.token, key_label=w.serial)
        return Credentials(certificate_pem=cert, key_pem=pem_in_memory(w.key or w.store.load(w.serial)))

    def _connects(self, w: Work) -> bool:
        """Does the device's certificate connect as its thing? Only a definite answer counts.

        True: it connected (the registration went through). False: the endpoint answered and
        refused the certificate in its CONNACK (it was never activated). Anything else (a timeout,
        a connection reset, a broker restarting, the socket closed before any CONNACK) says nothing
        about the registration: ``ConnectFailed`` goes up and the step is retried with the token
        kept. Taking such a failure for "not registered" gave a registered device a second
        certificate, which the hook then refused as already provisioned (found by bench/chaos.py).
        """
        thing = w.device.thing_name or w.thing
        try:
            verify_device(self.target, thing=thing, creds=self._device_credentials(w), topic=None)
            return True
        except ConnectFailed as exc:
            if exc.refused and exc.crt_error != SOCKET_CLOSED:
                return False
            raise

    def device(self, row: manifest.Row) -> Device:
        """Move one device to ``verified`` or ``failed``; raise ``StationFault``/``Stopped`` to stop the batch."""
        store_name = row.key_store or self.settings.key_store
        w = Work(
            row,
            store_name,
            self._store(store_name),
            self.fleet.thing_name(row.parameters),
            self._journal.ensure(row.serial, self.fleet.name),
        )
        state = w.device.state
        while state is not DeviceState.VERIFIED:
            if self.stop.is_set():
                raise Stopped
            try:
                state = self.STEPS[state](self, w)
            except (StationFault, UsageError, Stopped):
                raise
            except Exception as exc:
                state = self._after_failure(w, exc)
                if state is DeviceState.FAILED:
                    break
        return w.device

    def _after_failure(self, w: Work, exc: Exception) -> DeviceState:
        """Retry (the state to go on from) or give up (``FAILED``); station-wide causes stop the batch.

        Throttling has a budget of its own (``MAX_THROTTLED``): the target is there and asks to slow
        down, so waiting is right. A connection that does not come up is the network's or the
        target's, not the device's: it is retried while the circuit breaker stays closed. Other
        transient failures get ``max_attempts`` tries.
        """
        if isinstance(exc, ConnectFailed):
            self.breaker.failure(exc)
        fault = template_fault(exc, self.fleet.template)
        if fault is not None:
            raise fault from None
        d = diagnose(exc)
        if d.station:
            raise StationFault(d.cause, d.fix) from None
        current = self._journal.get(w.serial) or w.device
        w.device = current
        if d.throttled:
            w.throttled += 1
            retry, wait = w.throttled < MAX_THROTTLED, backoff(min(w.throttled, 5))
        elif isinstance(exc, ConnectFailed) and not exc.refused:
            # The network or the target, not this device: the circuit breaker bounds these retries.
            w.connect_failures += 1
            retry = w.connect_failures < CONNECT_RETRIES_PER_ATTEMPT * self.settings.max_attempts
            wait = backoff(min(w.connect_failures, 5))
        else:
            w.attempts += 1
            retry, wait = d.transient and w.attempts < self.settings.max_attempts, backoff(w.attempts - 1)
        if retry:
            self.stop.wait(wait)
            if self.stop.is_set():
                raise Stopped from None
            return current.state if current.state is not DeviceState.FAILED else self._step_failed(w)
        w.device = self._journal.move(
            w.serial, DeviceState.FAILED, cause=f"{d.cause} — {d.fix}", detail=type(exc).__name__
        )
        return DeviceState.FAILED

    def _check_certificate(self, pem: str, public_key: Any) -> None:
        cert = x509.load_pem_x509_certificate(pem.encode())
        if cert.public_key() != public_key:
            raise DeviceError("the returned certificate is not for this device's key", "report: wrong response")
        roots = x509.load_pem_x509_certificates(self.target.ca_file.read_bytes())
        issuers = [r for r in roots if r.subject == cert.issuer]
        for root in issuers:
            try:
                cert.verify_directly_issued_by(root)
                return
            except (ValueError, TypeError, InvalidSignature):
                continue
        if issuers:
            raise DeviceError("the certificate does not verify against the root CA file", "check --ca-file")
        # AWS IoT signs with an intermediate not sent in the response: the TLS connection made
        # with this certificate in the verify step is the chain check then.

    def _bundle(self, w: Work) -> None:
        """``bundles/<thing>/``: certificate, root CA, device.json pointing at the key (kept once, in its store)."""
        device = w.device
        thing = device.thing_name or w.thing
        directory = self.settings.bundle_dir / thing
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "certificate.pem").write_text(device.certificate_pem or "")
        (directory / "root-ca.pem").write_bytes(self.target.ca_file.read_bytes())
        key_ref: dict[str, object]
        if isinstance(w.store, FileKeyStore):
            key_ref = {
                "file": os.path.relpath(w.store.path(w.serial), directory),
                "format": "PKCS#8 PEM",
                "encrypted": w.store.encrypted,
            }
        else:
            key_ref = {"pkcs11TokenLabel": w.store.token_label, "pkcs11KeyLabel": w.serial}
        config: dict[str, str] = {}
        for _, to_state, detail in self._journal.events(w.serial):
            if to_state == DeviceState.REGISTERED and detail.startswith("{"):
                config = json.loads(detail)
        if self.settings.greengrass is not None:
            self._greengrass_config(w, thing, directory, key_ref)
        document = {
            "thingName": thing,
            "clientId": thing,
            "serial": w.serial,
            "endpoint": self.target.endpoint,
            "port": self.target.port,
            "certificateId": device.certificate_id,
            "key": key_ref,
            "deviceConfiguration": config,
        }
        (directory / "device.json").write_text(json.dumps(document, indent=2))

    def _greengrass_config(self, w: Work, thing: str, directory: Path, key_ref: dict[str, object]) -> None:
        """``bundles/<thing>/greengrass/config.yaml``: what the nucleus boots from (``--init-config``).

        A file key is named where ``iot-provision export-key`` puts it on the device (the nucleus
        cannot read an encrypted key; the station's copy stays encrypted until it is exported); a
        token key by its PKCS#11 URI, through the nucleus's PKCS#11 provider (the PIN is in the
        file, so it is written 0600)."""
        core = self.settings.greengrass
        assert core is not None
        key: greengrass.FileKey | greengrass.Pkcs11Key
        if isinstance(w.store, Pkcs11KeyStore):
            pkcs11 = self.settings.pkcs11 or {}
            key = greengrass.Pkcs11Key(
                library=core.pkcs11_library or w.store.module,
                slot=w.store.token.slot_id,
                user_pin=str(pkcs11.get("pin", "")),
                label=w.serial,
            )
        else:
            key = greengrass.FileKey(greengrass.device_path(core.root, greengrass.PRIVATE_KEY_FILE))
        document = greengrass.core_config(
            thing=thing, root=core.root, endpoints=core.endpoints, key=key, nucleus_version=core.nucleus_version
        )
        (directory / "greengrass").mkdir(exist_ok=True)
        write_private(directory / "greengrass" / "config.yaml", greengrass.to_yaml(document).encode())
        key_ref["greengrassPrivateKeyPath"] = document["system"]["privateKeyPath"]

    # the batch ------------------------------------------------------------------------------------------

    def binding(self, path: Path) -> Binding:
        description, digest = self.target.identity(self.fleet)
        return Binding(str(path), manifest.fingerprint(path), self.fleet.name, description, digest)

    def plan(self, path: Path, *, only_failed: bool = False) -> Summary:
        """``--dry-run``: validate and count, touching nothing (the journal is only read, if there is one)."""
        summary = Summary(total=manifest.validate(path, self.fleet.schema))
        journal = Journal(self.settings.journal, read_only=True) if self.settings.journal.is_file() else None
        try:
            for row in manifest.rows(path, self.fleet.schema):
                current = journal.get(row.serial) if journal else None
                if self._skip(current, only_failed):
                    summary.skipped += 1
                    continue
                self.fleet.thing_name(row.parameters)
                summary.planned += 1
        finally:
            if journal:
                journal.close()
        return summary

    @staticmethod
    def _skip(current: Device | None, only_failed: bool) -> bool:
        if current is not None and current.state is DeviceState.VERIFIED:
            return True
        return only_failed and (current is None or current.state is not DeviceState.FAILED)

    def run(self, path: Path, *, only_failed: bool = False) -> Summary:
        """Validate the whole manifest, preflight, then stream its rows through the workers (bounded in flight)."""
        summary = Summary(total=manifest.validate(path, self.fleet.schema))
        binding = self.binding(path)
        if self.settings.journal.is_file():  # refuse another batch's journal before anything else
            existing = Journal(self.settings.journal, read_only=True)
            try:
                current = existing.binding()
            finally:
                existing.close()
            if current is not None:
                Journal.check(current, binding, self.settings.journal)
        self.preflight()
        self.journal = Journal(self.settings.journal)
        self.journal.bind(binding)
        progress = Progress(self.env, summary.total)
        started = time.monotonic()
        try:
            self._stream(path, summary, progress, only_failed)
        finally:
            progress.close()
            summary.seconds = time.monotonic() - started
            self._write_batch_manifest()
        summary.fault = self._fault
        return summary

    def _stream(self, path: Path, summary: Summary, progress: Progress, only_failed: bool) -> None:
        in_flight = threading.BoundedSemaphore(self.settings.workers * 4)

        def work(row: manifest.Row) -> None:
            try:
                self._work(row, summary, progress)
            finally:
                in_flight.release()

        pool = ThreadPoolExecutor(max_workers=self.settings.workers)
        try:
            for row in manifest.rows(path, self.fleet.schema):
                if self.stop.is_set():
                    summary.not_started += 1
                    continue
                if self._skip(self._journal.get(row.serial), only_failed):
                    with self._lock:
                        summary.skipped += 1
                    continue
                in_flight.acquire()
                pool.submit(work, row)
        except BaseException:
            self.stop.set()  # Ctrl-C: workers finish their current step and leave the rest as it is
            raise
        finally:
            self._drain(pool)

    def _drain(self, pool: ThreadPoolExecutor) -> None:
        """Wait for the workers; a second interrupt while waiting stops them at their next step."""
        try:
            pool.shutdown(wait=True)
        except BaseException:
            self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise

    def _work(self, row: manifest.Row, summary: Summary, progress: Progress) -> None:
        if self.stop.is_set():
            with self._lock:
                summary.not_started += 1
            return
        try:
            device = self.device(row)
        except Stopped:
            return
        except ProvisioningError as exc:  # StationFault or UsageError: stop once
            with self._lock:
                if self._fault is None:
                    self._fault = exc
            self.stop.set()
            return
        with self._lock:
            if device.state is DeviceState.VERIFIED:
                summary.verified += 1
            else:
                summary.failed[device.serial] = device.cause or device.state.value
            progress.update(summary.done, len(summary.failed))

    def _write_batch_manifest(self) -> None:
        if self.journal is None:
            return
        path = self.settings.bundle_dir / "batch-manifest.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["serial", "thingName", "certificateId", "sha256Fingerprint", "state"])
            for d in self.journal.devices():
                fingerprint = ""
                if d.certificate_pem:
                    cert = x509.load_pem_x509_certificate(d.certificate_pem.encode())
                    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
                writer.writerow([d.serial, d.thing_name or "", d.certificate_id or "", fingerprint, d.state.value])

    def close(self) -> None:
        self.stop.set()
        self.sessions.close()
        for store in self._stores.values():
            store.close()
        self._stores.clear()
        if self.journal is not None:
            self.journal.close()
