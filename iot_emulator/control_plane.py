"""The AWS IoT control plane and data-plane REST API the toolkit uses, for boto3 pointed at the double.

One HTTP server answers both ``iot`` and ``iot-data`` clients (``endpoint_url``, or the
``AWS_ENDPOINT_URL_IOT`` / ``AWS_ENDPOINT_URL_IOT_DATA`` environment variables), routed by the
request URIs of botocore's own service models, so every operation is recognised by name. Served
operations (the ``_op_*`` methods) read and change the double's registry, shadows and retained
messages; Device Defender findings and violations come from a store that rehearsals fill
(``DefenderStore``). Any other operation answers 501 naming itself ("<Operation> is not served by
the local double"). Errors use AWS's REST-JSON shape: the status, ``x-amzn-ErrorType`` and
``{"message": ...}``. Departure: requests are not SigV4-verified (any credentials work), as with moto.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from iot_emulator.ca import CertificateAuthority
from iot_emulator.certificate_ops import CertificateOperations
from iot_emulator.errors import ServiceError
from iot_emulator.registry import Registry
from iot_emulator.retained import RetainedStore
from iot_emulator.shadow import ShadowError, ShadowService
from iot_emulator.tunneling import TARGET_PREFIX as TUNNELING_TARGET
from iot_emulator.tunneling import TunnelService
from iot_semantics import topics

#: A temporary claim certificate from CreateProvisioningClaim is valid for five minutes (AWS).
CLAIM_TTL_SECONDS = 300
CERT_STATUSES = ("ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER", "PENDING_ACTIVATION")
#: DescribeEndpoint's endpoint types (botocore ``iot`` model documentation).
ENDPOINT_TYPES = ("iot:Data", "iot:Data-ATS", "iot:CredentialProvider", "iot:Jobs")
SERVICES = ("iot", "iot-data")


def claim_policy_name(template: str) -> str:
    return f"__provisioning-claim__{template}"


def temporary_claim_policy(arn_prefix: str, template: str) -> dict[str, Any]:
    """What the temporary claim may do: that template's provisioning API (both payload formats)."""
    formats: tuple[topics.PayloadFormat, ...] = ("json", "cbor")
    requests = [topics.create_certificate_from_csr_topic(fmt) for fmt in formats]
    requests += [topics.create_keys_and_certificate_topic(fmt) for fmt in formats]
    requests += [topics.register_thing_topic(template, fmt) for fmt in formats]
    responses = [f"{r}/{x}" for r in requests for x in ("accepted", "rejected")]
    return {
        "Version": "2012-10-17",
        "Statement": [
            # Client ID rules for temporary claims are not documented: any client ID.
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{arn_prefix}:client/*"},
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": [f"{arn_prefix}:topic/{t}" for t in requests]},
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [f"{arn_prefix}:topicfilter/{t}" for t in responses],
            },
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": [f"{arn_prefix}:topic/{t}" for t in responses]},
        ],
    }


# Routing by botocore's models ------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    service: str
    operation: str
    method: str
    pattern: re.Pattern[str]
    variables: tuple[str, ...]
    required_query: tuple[str, ...]
    literal_length: int


def _route(service: str, name: str, http: Mapping[str, str]) -> Route:
    path, _, query = http["requestUri"].partition("?")
    variables: list[str] = []

    def variable(m: re.Match[str]) -> str:
        variables.append(m.group(1).rstrip("+"))
        return "(.+)" if m.group(1).endswith("+") else "([^/]+)"

    regex = re.sub(r"\\\{([^}]+)\\\}", lambda m: variable(m), re.escape(path))
    literal = len(re.sub(r"\{[^}]+\}", "", path))
    required = tuple(q.split("=")[0] for q in query.split("&") if q)
    return Route(service, name, http["method"], re.compile(regex), tuple(variables), required, literal)


def _routes() -> list[Route]:
    session = botocore.session.get_session()
    routes = []
    for service in SERVICES:
        model = session.get_service_model(service)
        for name in model.operation_names:
            routes.append(_route(service, name, model.operation_model(name).http))
    return sorted(routes, key=lambda r: (-r.literal_length, len(r.variables)))


ROUTES = _routes()
_MODELS = {s: botocore.session.get_session().get_service_model(s) for s in SERVICES}
#: Secure tunneling's operations (JSON 1.1 protocol: routed by ``X-Amz-Target``, not by URI).
TUNNELING_OPERATIONS = frozenset(botocore.session.get_session().get_service_model("iotsecuretunneling").operation_names)


def match(method: str, path: str, query: Mapping[str, list[str]]) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        if route.method != method or any(q not in query for q in route.required_query):
            continue
        m = route.pattern.fullmatch(path)
        if m:
            return route, {k: urllib.parse.unquote(v) for k, v in zip(route.variables, m.groups(), strict=True)}
    return None


def _convert(value: str, type_name: str) -> Any:
    if type_name in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise ServiceError(400, "InvalidRequestException", f"{value!r} is not an integer") from None
    if type_name == "boolean":
        return value.lower() == "true"
    return value


def request_input(
    route: Route, uri: Mapping[str, str], query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """The operation's input members from the URI, query string, headers and body, as botocore sends them."""
    operation = _MODELS[route.service].operation_model(route.operation)
    shape = operation.input_shape
    if shape is None:
        return {}
    payload_member = shape.serialization.get("payload")
    try:
        document = json.loads(body) if body and payload_member is None else {}
    except ValueError:
        raise ServiceError(400, "InvalidRequestException", "The request body is not JSON.") from None
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        location, wire = member.serialization.get("location"), member.serialization.get("name", name)
        if location == "uri" and wire in uri:
            out[name] = uri[wire]
        elif location == "querystring" and wire in query:
            out[name] = _convert(query[wire][0], member.type_name)
        elif location == "header" and wire in headers:
            out[name] = headers[wire]
        elif name == payload_member:
            out[name] = body
        elif location is None and isinstance(document, dict) and name in document:
            out[name] = document[name]
    return out


def _page(items: list[Any], token: str | None, size: int | None, default: int = 100) -> tuple[list[Any], str | None]:
    start = int(token) if token and token.isdigit() else 0
    count = size or default
    rest = items[start : start + count]
    return rest, str(start + count) if start + count < len(items) else None


# Device Defender findings ---------------------------------------------------------------------------


@dataclass
class DefenderStore:
    """Audit findings and active violations (the double runs no audit or Detect; rehearsals add them),
    and the mitigation tasks started on them."""

    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    violations: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)


# The server --------------------------------------------------------------------------------------------


class ControlPlane(CertificateOperations):
    def __init__(
        self,
        *,
        registry: Registry,
        ca: CertificateAuthority,
        templates: Callable[[], set[str]],
        endpoint_host: str,
        shadows: ShadowService | None = None,
        retained: RetainedStore | None = None,
        publish: Callable[[list[tuple[str, bytes]]], None] | None = None,
        mitigation_actions: Mapping[str, Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
        tunnels: TunnelService | None = None,
        credential_endpoint: str | None = None,
    ) -> None:
        self.tunnels = tunnels
        #: DescribeEndpoint's answer for ``iot:CredentialProvider`` (host[:port]); default: the data host.
        self.credential_endpoint = credential_endpoint
        self.registry = registry
        self.ca = ca
        self.templates = templates
        self.endpoint_host = endpoint_host
        self.shadows = shadows
        self.retained = retained
        self.publish = publish or (lambda messages: None)
        self.mitigation_actions = dict(mitigation_actions or {})
        self.defender = DefenderStore()
        self.clock = clock
        self._server: ThreadingHTTPServer | None = None

    # iot: endpoints, claims ------------------------------------------------------------------------------

    def _op_DescribeEndpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        kind = p.get("endpointType") or "iot:Data"
        if kind not in ENDPOINT_TYPES:
            raise ServiceError(400, "InvalidRequestException", f"Endpoint type {kind} is not valid.")
        if kind == "iot:CredentialProvider" and self.credential_endpoint:
            return {"endpointAddress": self.credential_endpoint}
        return {"endpointAddress": self.endpoint_host}

    def _op_CreateProvisioningClaim(self, p: dict[str, Any]) -> dict[str, Any]:
        template = p["templateName"]
        if template not in self.templates():
            raise ServiceError(404, "ResourceNotFoundException", f"Template {template} does not exist.")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issued = self.ca.issue_device_certificate(key.public_key())
        expires = self.clock() + CLAIM_TTL_SECONDS
        policy = claim_policy_name(template)
        self.registry.define(
            thing_types=[], groups={}, policies={policy: temporary_claim_policy(self.registry.arn_prefix, template)}
        )
        self.registry.add_certificate(issued.certificate_id, issued.pem, token=None, token_ttl=None, status="ACTIVE")
        self.registry.set_temporary_claim(issued.certificate_id, expires)
        self.registry.attach_policy(policy, self.registry.cert_arn(issued.certificate_id))
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        return {
            "certificateId": issued.certificate_id,
            "certificatePem": issued.pem,
            "keyPair": {"PublicKey": public.decode(), "PrivateKey": private.decode()},
            "expiration": expires,
        }

    def _op_CreateKeysAndCertificate(self, p: dict[str, Any]) -> dict[str, Any]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issued = self.ca.issue_device_certificate(key.public_key())
        status = "ACTIVE" if p.get("setAsActive") else "INACTIVE"
        self.registry.add_certificate(issued.certificate_id, issued.pem, token=None, token_ttl=None, status=status)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        return {
            "certificateArn": self.registry.cert_arn(issued.certificate_id),
            "certificateId": issued.certificate_id,
            "certificatePem": issued.pem,
            "keyPair": {"PublicKey": public.decode(), "PrivateKey": private.decode()},
        }

    def _op_CreatePolicy(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["policyName"]
        if self.registry.policy_document(name) is not None:
            raise ServiceError(409, "ResourceAlreadyExistsException", f"Policy {name} already exists.")
        try:
            document = json.loads(p.get("policyDocument") or "")
        except ValueError:
            raise ServiceError(400, "MalformedPolicyException", "The policy document is not JSON.") from None
        if not isinstance(document, dict):
            raise ServiceError(400, "MalformedPolicyException", "The policy document is not an object.")
        self.registry.define(thing_types=[], groups={}, policies={name: document})
        arn = f"{self.registry.arn_prefix}:policy/{name}"
        return {"policyName": name, "policyArn": arn, "policyDocument": p["policyDocument"], "policyVersionId": "1"}

    # iot: things and groups ------------------------------------------------------------------------------

    def _thing(self, name: str) -> Any:
        thing = self.registry.thing(name)
        if thing is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Thing {name} cannot be found.")
        return thing

    def _group(self, name: str | None, arn: str | None = None) -> str:
        group = name or (arn.rsplit("/", 1)[-1] if arn else None)
        if not group or not self.registry.has_group(group):
            raise ServiceError(404, "ResourceNotFoundException", f"Thing group {group} cannot be found.")
        return group

    def _op_CreateThing(self, p: dict[str, Any]) -> dict[str, Any]:
        name, thing_type = p["thingName"], p.get("thingTypeName")
        if thing_type and not self.registry.has_type(thing_type):
            raise ServiceError(404, "ResourceNotFoundException", f"Thing type {thing_type} cannot be found.")
        attributes = dict((p.get("attributePayload") or {}).get("attributes") or {})
        existing = self.registry.thing(name)
        if existing is not None and (existing.type != thing_type or dict(existing.attributes) != attributes):
            raise ServiceError(409, "ResourceAlreadyExistsException", f"Thing {name} already exists.")
        if existing is None:
            with self.registry.transaction() as db:
                self.registry.upsert_thing(
                    db, name=name, thing_type=thing_type, attributes=attributes, groups=(), overrides={}
                )
        return {"thingName": name, "thingArn": f"{self.registry.arn_prefix}:thing/{name}", "thingId": name}

    def _op_DescribeThing(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["thingName"]
        thing = self._thing(name)
        out: dict[str, Any] = {
            "defaultClientId": name,
            "thingName": name,
            "thingId": name,
            "thingArn": f"{self.registry.arn_prefix}:thing/{name}",
            "attributes": dict(thing.attributes),
            "version": thing.version,
        }
        if thing.type:
            out["thingTypeName"] = thing.type
        return out

    def _op_ListThings(self, p: dict[str, Any]) -> dict[str, Any]:
        names, token = _page(self.registry.thing_names(), p.get("nextToken"), p.get("maxResults"))
        things = [{"thingName": n, "thingArn": f"{self.registry.arn_prefix}:thing/{n}"} for n in names]
        return {"things": things, **({"nextToken": token} if token else {})}

    def _op_ListThingPrincipals(self, p: dict[str, Any]) -> dict[str, Any]:
        self._thing(p["thingName"])
        return {"principals": self.registry.thing_principals(p["thingName"])}

    def _op_ListPrincipalThings(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"things": self.registry.principal_things(p["principal"])}

    def _op_AttachThingPrincipal(self, p: dict[str, Any]) -> dict[str, Any]:
        self._thing(p["thingName"])
        with self.registry.transaction() as db:
            self.registry.attach_thing_principal(db, p["thingName"], p["principal"])
        return {}

    def _op_DetachThingPrincipal(self, p: dict[str, Any]) -> dict[str, Any]:
        self._thing(p["thingName"])
        self.registry.detach_thing_principal(p["thingName"], p["principal"])
        return {}

    def _op_AddThingToThingGroup(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group(p.get("thingGroupName"), p.get("thingGroupArn"))
        thing = p.get("thingName") or str(p.get("thingArn", "")).rsplit("/", 1)[-1]
        self._thing(thing)
        self.registry.add_to_group(group, thing)
        return {}

    def _op_RemoveThingFromThingGroup(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group(p.get("thingGroupName"), p.get("thingGroupArn"))
        thing = p.get("thingName") or str(p.get("thingArn", "")).rsplit("/", 1)[-1]
        self._thing(thing)
        self.registry.remove_from_group(group, thing)
        return {}

    def _op_ListThingGroupsForThing(self, p: dict[str, Any]) -> dict[str, Any]:
        thing = self._thing(p["thingName"])
        groups, token = _page(list(thing.groups), p.get("nextToken"), p.get("maxResults"))
        out = [{"groupName": g, "groupArn": self.registry.group_arn(g)} for g in groups]
        return {"thingGroups": out, **({"nextToken": token} if token else {})}

    def _op_ListThingsInThingGroup(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group(p["thingGroupName"])
        names, token = _page(self.registry.group_things(group), p.get("nextToken"), p.get("maxResults"))
        return {"things": names, **({"nextToken": token} if token else {})}

    def _op_DescribeThingGroup(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group(p["thingGroupName"])
        parent = self.registry.group_parent(group)
        out: dict[str, Any] = {"thingGroupName": group, "thingGroupArn": self.registry.group_arn(group), "version": 1}
        if parent:
            out["thingGroupMetadata"] = {"parentGroupName": parent}
        return out

    # iot: certificates and policies ----------------------------------------------------------------------

    def _op_DescribeCertificate(self, p: dict[str, Any]) -> dict[str, Any]:
        certificate_id = p["certificateId"]
        cert = self.registry.certificate(certificate_id)
        if cert is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Certificate {certificate_id} cannot be found.")
        return {
            "certificateDescription": {
                "certificateArn": self.registry.cert_arn(cert.id),
                "certificateId": cert.id,
                "status": cert.status,
                "certificatePem": cert.pem,
                "ownedBy": self.registry.arn_prefix.rsplit(":", 1)[1],
                "creationDate": cert.created,
                "certificateMode": "DEFAULT",
            }
        }

    def _op_ListCertificates(self, p: dict[str, Any]) -> dict[str, Any]:
        certs, marker = _page(self.registry.certificates(), p.get("marker"), p.get("pageSize"))
        out = [
            {
                "certificateArn": self.registry.cert_arn(c.id),
                "certificateId": c.id,
                "status": c.status,
                "creationDate": c.created,
            }
            for c in certs
        ]
        return {"certificates": out, **({"nextMarker": marker} if marker else {})}

    def _op_UpdateCertificate(self, p: dict[str, Any]) -> dict[str, Any]:
        status, certificate_id = p.get("newStatus"), p["certificateId"]
        if status not in CERT_STATUSES:
            raise ServiceError(400, "InvalidRequestException", f"newStatus must be one of {', '.join(CERT_STATUSES)}.")
        cert = self.registry.certificate(certificate_id)
        if cert is not None and cert.status == "REVOKED" and status != "REVOKED":
            raise ServiceError(400, "InvalidRequestException", "A revoked certificate cannot change status.")
        self.registry.set_certificate_status(certificate_id, status)
        return {}

    def _policy(self, name: str) -> dict[str, Any]:
        document = self.registry.policy_document(name)
        if document is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Policy {name} does not exist.")
        return document

    def _op_GetPolicy(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["policyName"]
        document = self._policy(name)
        return {
            "policyName": name,
            "policyArn": f"{self.registry.arn_prefix}:policy/{name}",
            "policyDocument": json.dumps(document),
            "defaultVersionId": "1",
        }

    def _op_ListPolicies(self, p: dict[str, Any]) -> dict[str, Any]:
        names, marker = _page(self.registry.policy_names(), p.get("marker"), p.get("pageSize"))
        out = [{"policyName": n, "policyArn": f"{self.registry.arn_prefix}:policy/{n}"} for n in names]
        return {"policies": out, **({"nextMarker": marker} if marker else {})}

    def _op_AttachPolicy(self, p: dict[str, Any]) -> dict[str, Any]:
        self._policy(p["policyName"])
        self.registry.attach_policy(p["policyName"], p["target"])
        return {}

    def _op_DetachPolicy(self, p: dict[str, Any]) -> dict[str, Any]:
        self._policy(p["policyName"])
        self.registry.detach_policy(p["policyName"], p["target"])
        return {}

    def _op_ListAttachedPolicies(self, p: dict[str, Any]) -> dict[str, Any]:
        names, marker = _page(self.registry.policies_of(p["target"]), p.get("marker"), p.get("pageSize"))
        out = [{"policyName": n, "policyArn": f"{self.registry.arn_prefix}:policy/{n}"} for n in names]
        return {"policies": out, **({"nextMarker": marker} if marker else {})}

    def _op_ListTargetsForPolicy(self, p: dict[str, Any]) -> dict[str, Any]:
        self._policy(p["policyName"])
        targets, marker = _page(self.registry.targets_of(p["policyName"]), p.get("marker"), p.get("pageSize"))
        return {"targets": targets, **({"nextMarker": marker} if marker else {})}

    # iot: Device Defender (the runbook) -------------------------------------------------------------------

    def _finding(self, finding_id: str) -> dict[str, Any]:
        finding = self.defender.findings.get(finding_id)
        if finding is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Audit finding {finding_id} cannot be found.")
        return finding

    def _op_DescribeAuditFinding(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"finding": self._finding(p["findingId"])}

    def _op_ListAuditFindings(self, p: dict[str, Any]) -> dict[str, Any]:
        found = [f for f in self.defender.findings.values() if p.get("checkName") in (None, f.get("checkName"))]
        findings, token = _page(found, p.get("nextToken"), p.get("maxResults"))
        return {"findings": findings, **({"nextToken": token} if token else {})}

    def _op_ListActiveViolations(self, p: dict[str, Any]) -> dict[str, Any]:
        found = [
            v
            for v in self.defender.violations
            if p.get("thingName") in (None, v.get("thingName"))
            and p.get("securityProfileName") in (None, v.get("securityProfileName"))
        ]
        violations, token = _page(found, p.get("nextToken"), p.get("maxResults"))
        return {"activeViolations": violations, **({"nextToken": token} if token else {})}

    def _apply_action(self, action: str, thing: str | None, certificate_id: str | None) -> None:
        """Carry out one mitigation action the way its ``ActionParams`` say, on the registry."""
        params = self.mitigation_actions.get(action)
        if params is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Mitigation action {action} cannot be found.")
        add = params.get("AddThingsToThingGroupParams") or params.get("addThingsToThingGroupParams")
        update = params.get("UpdateDeviceCertificateParams") or params.get("updateDeviceCertificateParams")
        if add and thing and self.registry.thing(thing) is not None:
            for group in add.get("ThingGroupNames") or add.get("thingGroupNames") or []:
                self.registry.add_to_group(self._group(group), thing)
        if update and certificate_id and self.registry.certificate(certificate_id) is not None:
            self.registry.set_certificate_status(certificate_id, "INACTIVE")

    def _start_task(self, task_id: str, record: dict[str, Any]) -> dict[str, Any]:
        if task_id in self.defender.tasks:
            raise ServiceError(409, "TaskAlreadyExistsException", f"Task {task_id} already exists.")
        self.defender.tasks[task_id] = {**record, "taskStatus": "COMPLETED", "startTime": self.clock()}
        return {"taskId": task_id}

    def _op_StartAuditMitigationActionsTask(self, p: dict[str, Any]) -> dict[str, Any]:
        mapping: dict[str, list[str]] = p.get("auditCheckToActionsMapping") or {}
        for finding_id in (p.get("target") or {}).get("findingIds", []):
            finding = self._finding(finding_id)
            resource = finding.get("nonCompliantResource", {}).get("resourceIdentifier", {})
            for action in mapping.get(finding.get("checkName", ""), []):
                thing = resource.get("clientId") or resource.get("thingName")
                self._apply_action(action, thing, resource.get("deviceCertificateId"))
        return self._start_task(p["taskId"], {"target": p.get("target"), "auditCheckToActionsMapping": mapping})

    def _op_DescribeAuditMitigationActionsTask(self, p: dict[str, Any]) -> dict[str, Any]:
        task = self.defender.tasks.get(p["taskId"])
        if task is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Task {p['taskId']} cannot be found.")
        return task

    def _op_StartDetectMitigationActionsTask(self, p: dict[str, Any]) -> dict[str, Any]:
        target = p.get("target") or {}
        for violation in self.defender.violations:
            wanted = target.get("securityProfileName") in (None, violation.get("securityProfileName"))
            behavior = target.get("behaviorName") in (None, violation.get("behavior", {}).get("name"))
            if wanted and behavior:
                for action in p.get("actions") or []:
                    self._apply_action(action, violation.get("thingName"), None)
        return self._start_task(p["taskId"], {"target": target, "actions": p.get("actions")})

    # iot-data: retained messages, publish, shadows ----------------------------------------------------------

    def _retained_store(self) -> RetainedStore:
        if self.retained is None:
            raise ServiceError(501, "NotImplementedException", "Retained messages are not served here.")
        return self.retained

    def _op_GetRetainedMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self._retained_store().get(p["topic"])
        if message is None:
            raise ServiceError(404, "ResourceNotFoundException", f"No retained message for topic {p['topic']}.")
        out: dict[str, Any] = {
            "topic": message.topic,
            "payload": base64.b64encode(message.payload).decode(),
            "qos": message.qos,
            "lastModifiedTime": message.modified_ms,
        }
        if message.user_properties():
            out["userProperties"] = base64.b64encode(message.user_properties_json().encode()).decode()
        return out

    def _op_ListRetainedMessages(self, p: dict[str, Any]) -> dict[str, Any]:
        size = p.get("maxResults") or 200
        if not 1 <= size <= 200:
            raise ServiceError(400, "InvalidRequestException", "maxResults must be between 1 and 200.")
        token = p.get("nextToken")
        start = int(token) if token and token.isdigit() else 0
        messages, more = self._retained_store().page(start, size)
        out: dict[str, Any] = {
            "retainedTopics": [
                {"topic": m.topic, "payloadSize": len(m.payload), "qos": m.qos, "lastModifiedTime": m.modified_ms}
                for m in messages
            ]
        }
        if more:
            out["nextToken"] = str(start + size)
        return out

    def _op_Publish(self, p: dict[str, Any]) -> dict[str, Any]:
        topic, payload = p["topic"], bytes(p.get("payload") or b"")
        if topics.topic_name_problem(topic) is not None:
            raise ServiceError(400, "InvalidRequestException", f"Topic {topic} is not valid.")
        if p.get("retain"):
            if topic.startswith(topics.RESERVED_PREFIX + "/"):
                raise ServiceError(400, "InvalidRequestException", "Reserved topics cannot hold retained messages.")
            self._retained_store().put(topic, payload, min(int(p.get("qos") or 0), 1))
        self.publish([(topic, payload)])
        return {}

    def _shadow_service(self) -> ShadowService:
        if self.shadows is None:
            raise ServiceError(501, "NotImplementedException", "Shadows are not served here.")
        return self.shadows

    def _shadow_call(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ShadowError as exc:
            error = {400: "InvalidRequestException", 404: "ResourceNotFoundException", 409: "ConflictException"}
            raise ServiceError(exc.code, error.get(exc.code, "InvalidRequestException"), exc.message) from None

    def _op_GetThingShadow(self, p: dict[str, Any]) -> bytes:
        shadows = self._shadow_service()
        document = self._shadow_call(lambda: shadows.get(p["thingName"], p.get("shadowName")))
        return json.dumps(document).encode()

    def _op_DeleteThingShadow(self, p: dict[str, Any]) -> bytes:
        shadows = self._shadow_service()
        document = self._shadow_call(lambda: shadows.delete(p["thingName"], p.get("shadowName")))
        return json.dumps(document).encode()

    def _op_UpdateThingShadow(self, p: dict[str, Any]) -> bytes:
        """REST updates publish accepted, documents and delta to MQTT subscribers as MQTT updates do."""
        shadows = self._shadow_service()
        thing, name = p["thingName"], p.get("shadowName")
        topic = topics.ShadowTopic(thing, name, "update")
        request = self._shadow_call(lambda: shadows.parse_request(bytes(p.get("payload") or b"")))
        token = self._shadow_call(lambda: shadows.client_token(request))
        accepted, previous, current, delta_doc = self._shadow_call(lambda: shadows.update(thing, name, request, token))
        documents: dict[str, Any] = {"current": current, "timestamp": accepted["timestamp"]}
        if previous is not None:
            documents["previous"] = previous
        messages = [(topic.reply("accepted"), accepted), (topic.reply("documents"), documents)]
        if delta_doc is not None:
            messages.append((topic.reply("delta"), delta_doc))
        self.publish([(t, json.dumps(body).encode()) for t, body in messages])
        return json.dumps(accepted).encode()

    def _op_ListNamedShadowsForThing(self, p: dict[str, Any]) -> dict[str, Any]:
        names, token = _page(
            self._shadow_service().named_shadows(p["thingName"]), p.get("nextToken"), p.get("pageSize")
        )
        return {"results": names, "timestamp": int(self.clock()), **({"nextToken": token} if token else {})}

    # HTTP ------------------------------------------------------------------------------------------------

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any] | bytes:
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            raise ServiceError(501, "NotImplementedException", f"{operation} is not served by the local double.")
        result: dict[str, Any] | bytes = handler(params)
        return result

    def route(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> dict[str, Any] | bytes:  # fmt: skip
        target = {k.lower(): v for k, v in (headers or {}).items()}.get("x-amz-target", "")
        service, _, operation = target.partition(".")
        if method == "POST" and service == TUNNELING_TARGET:  # JSON 1.1 protocol, routed by X-Amz-Target
            if operation not in TUNNELING_OPERATIONS:
                raise ServiceError(400, "UnknownOperationException", f"{target} is not an operation of the service.")
            if self.tunnels is None:
                raise ServiceError(501, "NotImplementedException", "Secure tunneling is not served here.")
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                raise ServiceError(400, "InvalidRequestException", "The request body is not JSON.") from None
            if not isinstance(params, dict):
                raise ServiceError(400, "InvalidRequestException", "The request body is not a JSON object.")
            return self.tunnels.call(operation, params)
        found = match(method, path, query)
        if found is None:
            raise ServiceError(404, "UnknownOperationException", f"No AWS IoT operation is {method} {path}.")
        route, uri = found
        return self.call(route.operation, request_input(route, uri, query, headers or {}, body))

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                json_protocol = "x-amz-target" in headers
                try:
                    result = plane.route(
                        self.command, url.path, urllib.parse.parse_qs(url.query, keep_blank_values=True), headers, body
                    )
                    data = result if isinstance(result, bytes) else json.dumps(result).encode()
                    status, error = 200, None
                except ServiceError as exc:
                    document = {"message": exc.message}
                    if json_protocol:  # AWS JSON 1.1: the error code is the body's __type
                        document = {"__type": exc.error_code, **document}
                    data, status, error = json.dumps(document).encode(), exc.status_code, exc.error_code
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1" if json_protocol else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                if error:
                    self.send_header("x-amzn-ErrorType", error)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="iot-double-control-plane",
            daemon=True,
        ).start()
        bound: int = self._server.server_address[1]
        return bound

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
