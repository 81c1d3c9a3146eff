"""The fleet provisioning API (fact sheet sections 1 and 2), independent of the MQTT transport.

Each method takes the request payload (already decoded from JSON or CBOR) and returns the
accepted payload, or raises ServiceError whose ``payload()`` goes to the ``/rejected`` topic.
Where AWS documents no error code, the double uses the one noted here (also in docs/emulator.md):
unknown template 404 ``ResourceNotFoundException``, disabled template 400 ``InvalidRequestException``,
bad template evaluation 400 ``InvalidRequestException``, throttling 429 ``ThrottlingException``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from iot_emulator.assembly import Assembly, Template
from iot_emulator.ca import CertificateAuthority
from iot_emulator.errors import ServiceError
from iot_emulator.hooks import HookFailed, HookRunner
from iot_emulator.registry import Certificate, Registry
from iot_semantics import limits, names
from iot_semantics.template_eval import CERTIFICATE_ID, ProvisioningPlan, TemplateError, ThingPlan, evaluate

PENDING = "PENDING_ACTIVATION"
TOKEN_TTL_SECONDS = 3600.0  # AWS: the ownership token expires after one hour


#: Requests per second per operation. The MQTT API's quotas are UNVERIFIED (a user reports
#: RegisterThing at 10/s); every value is configurable (``--rate``) and can be switched off.
DEFAULT_RATES = {"RegisterThing": 10.0, "CreateCertificateFromCsr": 10.0, "CreateKeysAndCertificate": 10.0}


class RateLimiter:
    """Token bucket per operation (burst = one second of rate); ``None`` rate means unlimited."""

    def __init__(self, rates: Mapping[str, float | None], clock: Callable[[], float] = time.monotonic) -> None:
        self.rates = dict(rates)
        self._clock = clock
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}
        self._lock = threading.Lock()
        #: Requests refused per operation (429), for rehearsals and benchmarks to read.
        self.refused: dict[str, int] = {}

    def allow(self, operation: str) -> bool:
        rate = self.rates.get(operation)
        if not rate:
            return True
        with self._lock:
            now = self._clock()
            tokens = self._tokens.get(operation, rate)
            tokens = min(rate, tokens + (now - self._stamp.get(operation, now)) * rate)
            self._stamp[operation] = now
            if tokens < 1:
                self._tokens[operation] = tokens
                self.refused[operation] = self.refused.get(operation, 0) + 1
                return False
            self._tokens[operation] = tokens - 1
            return True


@dataclass
class Knobs:
    """Rate limits and fault injection for tests and rehearsals."""

    token_ttl_seconds: float = TOKEN_TTL_SECONDS
    rates: dict[str, float | None] = field(default_factory=lambda: dict(DEFAULT_RATES))
    #: Operation -> True: every request of it is throttled.
    throttle: dict[str, bool] = field(default_factory=dict)
    latency_seconds: float = 0.0


class ProvisioningService:
    def __init__(
        self,
        *,
        assembly: Assembly,
        registry: Registry,
        ca: CertificateAuthority,
        hooks: Mapping[str, HookRunner],
        knobs: Knobs | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.assembly = assembly
        self.registry = registry
        self.ca = ca
        self.hooks = hooks
        self.knobs = knobs or Knobs()
        self.clock = clock
        self.limiter = RateLimiter(self.knobs.rates)

    def _enter(self, operation: str) -> None:
        if self.knobs.latency_seconds:
            time.sleep(self.knobs.latency_seconds)
        if self.knobs.throttle.get(operation) or not self.limiter.allow(operation):
            raise ServiceError(429, "ThrottlingException", "Rate exceeded")

    def _new_token(self) -> str:
        return secrets.token_urlsafe(48)

    # CreateCertificateFromCsr / CreateKeysAndCertificate ---------------------------------------------

    def create_certificate_from_csr(self, payload: Any) -> dict[str, Any]:
        self._enter("CreateCertificateFromCsr")
        if not isinstance(payload, dict):
            raise ServiceError(400, "InvalidRequest", "The request payload is not an object.")
        issued = self.ca.issue_from_csr(payload.get("certificateSigningRequest", ""))
        token = self._new_token()
        self.registry.add_certificate(
            issued.certificate_id, issued.pem, token=token, token_ttl=self.knobs.token_ttl_seconds, status=PENDING
        )
        return {
            "certificateOwnershipToken": token,
            "certificateId": issued.certificate_id,
            "certificatePem": issued.pem,
        }

    def create_keys_and_certificate(self, payload: Any) -> dict[str, Any]:
        self._enter("CreateKeysAndCertificate")
        if payload not in (None, b"", "", {}):
            raise ServiceError(400, "InvalidRequest", "CreateKeysAndCertificate takes an empty payload.")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # AWS: RSA 2048
        issued = self.ca.issue_device_certificate(key.public_key())
        token = self._new_token()
        self.registry.add_certificate(
            issued.certificate_id, issued.pem, token=token, token_ttl=self.knobs.token_ttl_seconds, status=PENDING
        )
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()
        return {
            "certificateId": issued.certificate_id,
            "certificatePem": issued.pem,
            "privateKey": private,
            "certificateOwnershipToken": token,
        }

    # RegisterThing -------------------------------------------------------------------------------------

    def register_thing(
        self, template_name: str, payload: Any, *, claim_certificate_id: str, client_id: str
    ) -> dict[str, Any]:
        """RegisterThing: check the request, ask the hook, evaluate the template, then register at once."""
        self._enter("RegisterThing")
        template = self._template(template_name)
        token, parameters = self._request(payload)
        cert = self._certificate_of(token)
        values = dict(parameters)
        if template.hook is not None:
            values.update(self._ask_hook(template_name, cert, parameters, claim_certificate_id, client_id))
        plan, thing = self._plan(template, {**values, CERTIFICATE_ID: cert.id})
        self._register(token, cert, plan, thing)
        return {"deviceConfiguration": dict(plan.device_configuration), "thingName": thing.name}

    def _template(self, name: str) -> Template:
        template = self.assembly.templates.get(name)
        if template is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Template {name} does not exist.")
        if not template.enabled:
            raise ServiceError(400, "InvalidRequestException", f"Template {name} is not enabled.")
        return template

    @staticmethod
    def _request(payload: Any) -> tuple[str, dict[str, str]]:
        """(ownership token, parameters) of a RegisterThing payload."""
        if not isinstance(payload, dict):
            raise ServiceError(400, "InvalidRequest", "The request payload is not an object.")
        token = payload.get("certificateOwnershipToken")
        if not token:
            raise ServiceError(400, "InvalidCertificateOwnershipToken", "Certificate ownership token cannot be empty.")
        parameters = payload.get("parameters") or {}
        if not isinstance(parameters, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()
        ):
            raise ServiceError(400, "InvalidRequest", "parameters must be a map of strings.")
        return str(token), parameters

    def _certificate_of(self, token: str) -> Certificate:
        cert = self.registry.certificate_by_token(token)
        if cert is None or cert.token_used:
            raise ServiceError(400, "InvalidCertificateOwnershipToken", "Certificate ownership token is not valid.")
        if cert.token_expires is not None and cert.token_expires < self.clock():
            raise ServiceError(400, "InvalidCertificateOwnershipToken", "Certificate ownership token has expired.")
        return cert

    def _ask_hook(
        self,
        template_name: str,
        cert: Certificate,
        parameters: dict[str, str],
        claim_certificate_id: str,
        client_id: str,
    ) -> dict[str, str]:
        """The hook's parameter overrides; raises AccessDenied when it fails or does not allow."""
        hook = self.hooks.get(template_name)
        if hook is None:  # pragma: no cover - the double wires a runner for every hook
            raise ServiceError(403, "AccessDenied", "The pre-provisioning hook is not available.")
        event = {
            "claimCertificateId": claim_certificate_id,
            "certificateId": cert.id,
            "certificatePem": cert.pem,
            "templateArn": f"{self.assembly.iot_arn_prefix}:provisioningtemplate/{template_name}",
            "clientId": client_id,
            "parameters": dict(parameters),
        }
        try:
            answer = hook.invoke(event)
        except HookFailed as exc:
            raise ServiceError(403, "AccessDenied", f"Pre-provisioning hook failed: {exc}") from None
        if answer.get("allowProvisioning") is not True:
            raise ServiceError(403, "AccessDenied", "Pre-provisioning hook denied the request.")
        overrides = answer.get("parameterOverrides") or {}
        return {str(k): str(v) for k, v in overrides.items()} if isinstance(overrides, dict) else {}

    def _plan(self, template: Template, values: dict[str, str]) -> tuple[ProvisioningPlan, ThingPlan]:
        try:
            plan = evaluate(template.body, values)
        except TemplateError as exc:
            raise ServiceError(400, "InvalidRequestException", f"Template evaluation failed: {exc}") from None
        thing = plan.thing
        if thing is None:
            raise ServiceError(400, "InvalidRequestException", "The template creates no thing.")
        if not names.THING_NAME.fullmatch(thing.name) or len(thing.name) > limits.THING_NAME_MAX:
            raise ServiceError(400, "InvalidRequestException", f"{thing.name!r} is not a valid thing name.")
        if thing.thing_type and not self.registry.has_type(thing.thing_type):
            raise ServiceError(404, "ResourceNotFoundException", f"Thing type {thing.thing_type} does not exist.")
        for group in thing.groups:
            if not self.registry.has_group(group):
                raise ServiceError(404, "ResourceNotFoundException", f"Thing group {group} does not exist.")
        return plan, thing

    def _register(self, token: str, cert: Certificate, plan: ProvisioningPlan, thing: ThingPlan) -> None:
        """Carry out the plan in one transaction: nothing is registered when a step is refused."""
        cert_arn = self.registry.cert_arn(cert.id)
        with self.registry.transaction() as db:
            self.registry.consume_token(token, db)
            self.registry.upsert_thing(
                db,
                name=thing.name,
                thing_type=thing.thing_type,
                attributes=thing.attributes,
                groups=thing.groups,
                overrides=thing.overrides,
            )
            for planned in plan.certificates:
                if planned.certificate_id != cert.id:
                    raise ServiceError(400, "InvalidRequestException", "The template names another certificate.")
                self.registry.set_certificate_status(cert.id, planned.status, db)
            for policy in plan.policies:
                name = policy.name
                if name is None:
                    # A template's inline PolicyDocument becomes a policy named by the document's hash
                    # (AWS IoT's documented naming); identical documents share it.
                    text = json.dumps(policy.document, sort_keys=True, separators=(",", ":"))
                    name = hashlib.sha256(text.encode()).hexdigest()
                    db.execute("INSERT OR IGNORE INTO policies VALUES (?, ?)", (name, json.dumps(policy.document)))
                self.registry.attach_policy(name, cert_arn, db)
            self.registry.attach_thing_principal(db, thing.name, cert_arn)

    def sweep_expired(self) -> list[str]:
        """AWS deletes certificates never activated nor attached once their token expires."""
        return self.registry.expire_unactivated(self.clock())
