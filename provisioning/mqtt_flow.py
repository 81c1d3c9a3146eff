"""Fleet provisioning over MQTT with AWS's device SDK (awsiotsdk ``IotIdentityClientV2``, MQTT 5).

``ClaimSession`` holds one claim connection and serves many devices in turn; ``verify_device``
reconnects with a device's new certificate as its thing and publishes to its own topic. Keys reach
awscrt from memory (``mtls_from_bytes``) or stay in the token (``mtls_with_pkcs11``); nothing is
written to disk for a connection. ``probe_endpoint`` checks TCP, TLS, the root CA and the clock
before a batch; ``diagnose`` maps every failure, by type and error code, to a cause and a fix.
"""

from __future__ import annotations

import datetime as dt
import functools
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from provisioning.errors import (
    CaMismatch,
    CertificateRefused,
    ClockSkew,
    DeviceError,
    EndpointUnreachable,
    ProvisioningError,
    StationFault,
    TemplateMissing,
)
from provisioning.keys import Token
from provisioning.target import Target

TIMEOUT_SECONDS = 15
CONNECT_TIMEOUT_SECONDS = 10
#: How long ``Connection.stop`` waits for the client's stopped event (awscrt stops asynchronously).
STOP_TIMEOUT_SECONDS = 15
#: X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED (OpenSSL verify codes).
CLOCK_VERIFY_CODES = frozenset({9, 10})
#: MQTT 5 CONNACK reason codes that refuse the client's identity.
REFUSED_CONNACK = frozenset({0x86, 0x87, 0x8A})
#: The runtime's error when the server closed the socket (after the handshake, before any CONNACK).
SOCKET_CLOSED = "AWS_IO_SOCKET_CLOSED"
#: The claim connection may not subscribe to a template's response topics (its policy, or a wrong name).
SUBSCRIBE_REFUSED = frozenset({"AWS_ERROR_MQTT_REQUEST_RESPONSE_SUBSCRIBE_FAILURE"})


@dataclass(frozen=True)
class Credentials:
    """What a TLS connection authenticates with: a certificate and a key in memory or in a token."""

    certificate_pem: bytes
    key_pem: bytes | None = None
    token: Token | None = None
    key_label: str | None = None


class ConnectFailed(DeviceError):
    """One MQTT connection did not come up (the circuit breaker counts these)."""

    def __init__(self, cause: str, fix: str, *, crt_error: str | None, refused: bool) -> None:
        super().__init__(cause, fix, transient=True)
        self.crt_error = crt_error
        #: The server answered and refused the identity (CONNACK reason or closed after the handshake).
        self.refused = refused


@dataclass(frozen=True)
class Diagnosis:
    cause: str
    fix: str
    transient: bool
    station: bool = False
    #: The target asks to slow down (the batch retries with a budget of its own).
    throttled: bool = False


def _modeled(exc: BaseException) -> tuple[int | None, str, str] | None:
    """(status, errorCode, errorMessage) of an AWS IoT rejection (awsiot ``V2ServiceException``)."""
    modeled = getattr(exc, "modeled_error", None)
    if modeled is None:
        return None
    status = getattr(modeled, "status_code", None)
    code = str(getattr(modeled, "error_code", "") or "")
    message = str(getattr(modeled, "error_message", "") or "")
    return (int(status) if status is not None else None), code, message


def _rejection(status: int | None, code: str, message: str) -> Diagnosis:
    shown = f"{status} {code}: {message}".strip()
    if status == 403 or code == "AccessDenied":
        return Diagnosis(
            "the pre-provisioning hook denied the device "
            "(serial not allowlisted, already provisioned, or bad parameters)",
            "check the serial in the allowlist table and the hook's log",
            False,
        )
    if status == 429 or code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
        return Diagnosis(
            "throttled by AWS IoT", "retried with backoff; lower --workers or --rate", True, throttled=True
        )
    if code == "InvalidCertificateOwnershipToken":
        return Diagnosis(
            "the ownership token is used or expired (1 h)", "the device gets a new certificate on retry", True
        )
    if status == 404 or code == "ResourceNotFoundException":
        return Diagnosis(
            f"the target lacks what the template needs ({shown})",
            "deploy the fleet provisioning stack the outputs file describes",
            False,
            station=True,
        )
    if status is not None and status >= 500:
        return Diagnosis(f"AWS IoT failed ({shown})", "retried with backoff", True)
    return Diagnosis(f"rejected ({shown})", "see the message; fix the device's row or the template", False)


def diagnose(exc: BaseException) -> Diagnosis:
    """Map a failure to its cause and fix by its type and error code (never by searching its text)."""
    if isinstance(exc, ProvisioningError):
        return Diagnosis(exc.cause, exc.fix, exc.transient, isinstance(exc, StationFault))
    rejection = _modeled(exc)
    if rejection is not None:
        return _rejection(*rejection)
    if isinstance(exc, TimeoutError):
        return Diagnosis("no answer in time", "retried; check the network and the endpoint", True)
    name = _crt_name(exc)
    if name is not None and name.startswith("AWS_ERROR_PKCS11_"):
        return Diagnosis(f"the PKCS#11 token failed ({name})", "check the token and its PIN", False, station=True)
    operation = getattr(exc, "message", None)
    if isinstance(operation, str) and name is not None:  # awsiot V2ServiceException around a runtime error
        return Diagnosis(f"{operation} ({name})", "retried; run `iot-provision doctor`", True)
    text = str(exc) or repr(exc)
    return Diagnosis(f"{type(exc).__name__}: {text}", "retried; run `iot-provision doctor`", True)


def _crt_name(exc: BaseException) -> str | None:
    """The AWS Common Runtime error name of ``exc`` or of the error it wraps."""
    for candidate in (exc, getattr(exc, "inner_error", None)):
        name = getattr(candidate, "name", None)
        if isinstance(name, str):
            return name
    return None


def probe_fault(exc: BaseException, template: str) -> TemplateMissing | None:
    """What the failure of a preflight RegisterThing probe says about the station (None: nothing)."""
    fault = template_fault(exc, template)
    if fault is None and _crt_name(exc) in SUBSCRIBE_REFUSED:
        fault = TemplateMissing(
            f"the claim may not use template {template}: subscribing to its response topics was refused",
            "check the template name in the outputs file and that the claim certificate's policy covers it "
            "(iot-provision doctor)",
        )
    return fault


def template_fault(exc: BaseException, template: str) -> TemplateMissing | None:
    """A rejection that is about the target, not the device: a missing template or resource."""
    diagnosis = diagnose(exc)
    if diagnosis.station and _modeled(exc) is not None:
        return TemplateMissing(f"template {template}: {diagnosis.cause}", diagnosis.fix)
    return None


# before a batch -------------------------------------------------------------------------------------------


def probe_endpoint(target: Target, *, timeout: float = 5.0) -> str:
    """TCP, TLS with the root CA file, and the clock against the server's certificate; typed failures."""
    context = ssl.create_default_context(cafile=str(target.ca_file))
    where = f"{target.endpoint}:{target.port}"
    try:
        raw = socket.create_connection((target.endpoint, target.port), timeout=timeout)
    except socket.gaierror as exc:
        raise EndpointUnreachable(
            f"cannot resolve {target.endpoint} ({exc.strerror})", "check --endpoint and DNS"
        ) from None
    except TimeoutError:
        raise EndpointUnreachable(
            f"no answer from {where} within {timeout:.0f} s", "check --endpoint, --port and the network"
        ) from None
    except OSError as exc:
        raise EndpointUnreachable(
            f"cannot reach {where}: {exc.strerror or type(exc).__name__}",
            "check --endpoint, --port and that the target is up",
        ) from None
    with raw:
        try:
            with context.wrap_socket(raw, server_hostname=target.endpoint) as tls:
                der = tls.getpeercert(binary_form=True)
                version = tls.version()
        except ssl.SSLCertVerificationError as exc:
            if exc.verify_code in CLOCK_VERIFY_CODES:
                raise ClockSkew(
                    f"the server certificate of {where} looks {exc.verify_message} to this station's clock "
                    f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}Z)",
                    "synchronize the station's clock (NTP) and run again",
                ) from None
            raise CaMismatch(
                f"the server certificate of {where} does not verify against {target.ca_file} ({exc.verify_message})",
                "pass --ca-file with the endpoint's root CA (AmazonRootCA1.pem for AWS IoT; the double's CaFile)",
            ) from None
        except ssl.SSLError:
            # The server verified and then ended the handshake (it wants a client certificate): reachable.
            return f"{where} reachable, server certificate verified"
        except OSError as exc:
            raise EndpointUnreachable(
                f"TLS to {where} failed: {exc.strerror or type(exc).__name__}", "check the endpoint"
            ) from None
    if der:
        server = x509.load_der_x509_certificate(der)
        now = dt.datetime.now(dt.UTC)
        if now < server.not_valid_before_utc - dt.timedelta(minutes=10):
            raise ClockSkew(
                f"this station's clock ({now:%Y-%m-%d %H:%M}Z) is before the server certificate's start",
                "synchronize the clock (NTP); certificates look invalid to a clock that is off",
            )
    return f"{where} {version}"


# connections ----------------------------------------------------------------------------------------------


def _builder(target: Target, client_id: str, creds: Credentials, common: Mapping[str, Any]) -> Any:
    from awsiot import mqtt5_client_builder

    if creds.token is not None:
        with creds.token.session():  # awscrt opens its session and logs in here: serialized with ours
            return mqtt5_client_builder.mtls_with_pkcs11(
                pkcs11_lib=creds.token.module.crt,
                user_pin=creds.token.pin,
                token_label=creds.token.label,
                private_key_label=creds.key_label,
                cert_bytes=creds.certificate_pem,
                **common,
            )
    return mqtt5_client_builder.mtls_from_bytes(cert_bytes=creds.certificate_pem, pri_key_bytes=creds.key_pem, **common)


@functools.lru_cache(maxsize=8)
def root_ca_bytes(path: str) -> bytes:
    """The root CA file, read once per process: awscrt parses bytes faster than it opens a path,
    and a TLS context is made for every device connection (measured in bench/ratios.py)."""
    return Path(path).read_bytes()


class Connection:
    """An awscrt MQTT 5 client and its stopped event: ``stop`` returns once the client has stopped.

    awscrt's ``Client.stop`` only asks: the native client goes on shutting down on its own threads.
    Dropping the client, or logging out of its PKCS#11 token, before its ``on_lifecycle_stopped``
    has fired races with that shutdown (a crash in the runtime, or a TLS handshake on a token that
    was logged out and in again: ``CKR_USER_ALREADY_LOGGED_IN``). AWS's samples wait for the event;
    so does every connection here.
    """

    def __init__(self, client: Any, stopped: threading.Event) -> None:
        self.client = client
        self._stopped = stopped
        self._stop_lock = threading.Lock()

    def publish(self, packet: Any) -> Any:
        return self.client.publish(packet)

    def stop(self) -> None:
        with self._stop_lock:
            if not self._stopped.is_set():
                self.client.stop()
                if not self._stopped.wait(STOP_TIMEOUT_SECONDS):
                    raise StationFault(
                        f"the MQTT client did not stop within {STOP_TIMEOUT_SECONDS} s",
                        "report this: the device SDK's runtime is stuck; run the batch again",
                    )


def connect(
    target: Target, client_id: str, creds: Credentials, *, timeout: float = CONNECT_TIMEOUT_SECONDS
) -> Connection:
    """An MQTT 5 connection that is up, or ``ConnectFailed`` with the runtime's error name."""
    from awscrt import io

    socket_options = io.SocketOptions()
    socket_options.connect_timeout_ms = int(timeout * 1000)
    connected, stopped = threading.Event(), threading.Event()
    failures: list[Any] = []

    def failed(data: Any) -> None:
        failures.append(data)
        connected.set()

    common: dict[str, Any] = {
        "endpoint": target.endpoint,
        "port": target.port,
        "ca_bytes": root_ca_bytes(str(target.ca_file)),
        "client_id": client_id,
        "socket_options": socket_options,
        "on_lifecycle_connection_success": lambda data: connected.set(),
        "on_lifecycle_connection_failure": failed,
        "on_lifecycle_stopped": lambda data: stopped.set(),
    }
    connection = Connection(_builder(target, client_id, creds, common), stopped)
    connection.client.start()
    if connected.wait(timeout) and not failures:
        return connection
    connection.stop()
    failure = failures[0] if failures else None
    error = getattr(failure, "exception", None)
    name = getattr(error, "name", None)
    reason = getattr(getattr(failure, "connack_packet", None), "reason_code", None)
    refused = (reason is not None and int(reason) in REFUSED_CONNACK) or name == SOCKET_CLOSED
    detail = name or ("timed out" if failure is None else type(error).__name__)
    if reason is not None:
        detail += f", CONNACK {getattr(reason, 'name', reason)}"
    raise ConnectFailed(
        f"could not connect to {target.endpoint}:{target.port} as {client_id} ({detail})",
        "check the endpoint, the root CA file, the certificate and its policy (iot-provision doctor)",
        crt_error=name,
        refused=refused,
    )


class ClaimSession:
    """One claim-certificate connection, used for many devices in turn (one request at a time)."""

    def __init__(self, target: Target, *, client_id: str, creds: Credentials) -> None:
        from awscrt import mqtt_request_response
        from awsiot import iotidentity

        self._iotidentity = iotidentity
        self.connection = connect(target, client_id, creds)
        self.identity = iotidentity.IotIdentityClientV2(
            self.connection.client,
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
        """Stop the client and wait until it has stopped, then let the identity client go (as AWS's samples do)."""
        self.connection.stop()


def open_claim_session(target: Target, *, client_id: str, creds: Credentials) -> ClaimSession:
    """The first claim connection of a batch: a refusal is the station's fault (the claim), not a device's."""
    try:
        return ClaimSession(target, client_id=client_id, creds=creds)
    except ConnectFailed as exc:
        if exc.refused:
            raise CertificateRefused(
                f"{target.endpoint}:{target.port} refused the claim certificate ({exc.crt_error})",
                "check that the claim certificate is ACTIVE with the fleet's claim policy, and the client-ID prefix",
            ) from None
        raise EndpointUnreachable(exc.cause, "check the endpoint and the network (iot-provision doctor)") from None


def verify_device(target: Target, *, thing: str, creds: Credentials, topic: str | None) -> None:
    """Connect as the thing with its new certificate; publish QoS 1 to its own topic when it has one."""
    from awscrt import mqtt5

    client = connect(target, thing, creds)
    try:
        if topic is None:
            return
        result = client.publish(
            mqtt5.PublishPacket(topic=topic, payload=b'{"check":"provisioned"}', qos=mqtt5.QoS.AT_LEAST_ONCE)
        ).result(TIMEOUT_SECONDS)
        reason = getattr(getattr(result, "puback", None), "reason_code", None)
        if reason is not None and int(reason) >= 0x80:
            raise DeviceError(
                f"{thing} may not publish to {topic} ({reason.name})",
                "the device policy does not cover the fleet's topics: check the stack's device policy",
            )
    finally:
        client.stop()
