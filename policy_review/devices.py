"""The devices a holder's policies are judged for, and the connections each of them can make.

The simulation puts four things in one account: the **attacker** ``dev-1``, two **victims** whose
names overlap it (``dev-10`` extends it, ``xdev-1`` ends with it) and a **bystander** ``dev-2``
unrelated to all of them. For a provisioning template the names come from its body: every
parameter without a default takes ``1``, ``10``, ``x1`` and ``2`` (so ``sensor-`` + serial gives
``sensor-1``, ``sensor-10``, ...), and the thing type, attributes and inline policies are the ones
the template gives each device. For a policy standing alone, the devices are of the thing type its
conditions require and each thing attribute it names holds the device's name.

A connection's context follows AWS IoT (fact sheet 5.4): thing variables are set when the client ID
is the name of a thing, with ``IsAttached`` true only for the thing the certificate is attached to
(the AWS audit treats ``client/${iot:ClientId}`` without IsAttached as ``client/*`` because the
thing variables then take another thing's values). Greengrass core devices get no thing variables
(fact sheet 7.3). CloudFormation pseudo parameters are bound to the account and region the policies
name (or sample values), so ``${AWS::Region}`` placeholders and literal ARNs meet.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iot_semantics import variables as var
from iot_semantics.policy_eval import CompiledPolicy, Context, referenced_variables
from iot_semantics.template_eval import CERTIFICATE_ID, TemplateError, evaluate
from policy_review.model import Holder, Policy

ATTACKER, VICTIMS, BYSTANDER = "1", ("10", "x1"), "2"
STANDALONE_NAMES = {"1": "dev-1", "10": "dev-10", "x1": "xdev-1", "2": "dev-2"}
DEFAULT_REGION, DEFAULT_ACCOUNT, DEFAULT_PARTITION = "us-east-1", "123456789012", "aws"
_ARN = re.compile(r"arn:(aws[a-z-]*):[a-z0-9-]+:([a-z]{2}-[a-z-]+-\d+|):([0-9A-Za-z]{12}):")
#: Condition keys set by the connection's identity; any other key is the attacker's to choose.
_IDENTITY_KEYS = {
    k.lower() for k in (var.CLIENT_ID, var.CERTIFICATE_ID, var.THING_NAME, var.THING_TYPE_NAME, var.IS_ATTACHED)
}
_MAX_FREE_COMBINATIONS = 8
_WILDCARD_BEFORE_VARIABLE = re.compile(r"[*?][^/]*\$\{")


def certificate_id(name: str) -> str:
    """The certificate ID the simulation gives device ``name``."""
    return f"cert-of-{name}"


@dataclass(frozen=True)
class Device:
    name: str
    thing_type: str | None
    attributes: Mapping[str, str]
    certificate_id: str
    #: The device's policies (a template's inline ones instantiated for this device).
    policies: tuple[Policy, ...]
    compiled: tuple[CompiledPolicy, ...]


@dataclass(frozen=True)
class Deployment:
    """Where the policies live: the ARN prefix and the pseudo-parameter bindings that produce it."""

    partition: str
    region: str
    account: str

    @property
    def prefix(self) -> str:
        return f"arn:{self.partition}:iot:{self.region}:{self.account}"

    def bindings(self) -> dict[str, str]:
        return {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com",
        }

    def arn(self, rtype: str, name: str) -> str:
        return f"{self.prefix}:{rtype}/{name}"


def deployment_of(policies: Iterable[Policy], *, region: str | None = None, account: str | None = None) -> Deployment:
    """The partition, region and account the policies' literal ARNs name, else sample values."""
    partition = found_region = found_account = None
    for p in policies:
        for s in p.compiled.statements:
            for r in s.resources:
                for m in _ARN.finditer(r):
                    partition = partition or m.group(1)
                    found_region = found_region or m.group(2) or None
                    found_account = found_account or m.group(3)
            if partition and found_region and found_account:
                break
    return Deployment(
        partition or DEFAULT_PARTITION,
        region or found_region or DEFAULT_REGION,
        account or found_account or DEFAULT_ACCOUNT,
    )


def _required_thing_type(policies: Iterable[Policy]) -> str | None:
    for p in policies:
        for s in p.compiled.statements:
            for c in s.conditions:
                if c.key.lower() == var.THING_TYPE_NAME.lower() and c.operator.startswith("String") and c.values:
                    if "Not" not in c.operator and not any(ch in c.values[0] for ch in "*?$"):
                        return c.values[0]
    return None


def _attribute_names(policies: Iterable[Policy]) -> set[str]:
    names = set()
    for p in policies:
        for name in referenced_variables(p.document):
            if (m := var.ATTRIBUTE.fullmatch(name)) is not None:
                names.add(m.group(1))
        for s in p.compiled.statements:
            for c in s.conditions:
                if (m := var.ATTRIBUTE.fullmatch(c.key)) is not None:
                    names.add(m.group(1))
    return names


def _body_parameters(body: Mapping[str, Any], value: str) -> dict[str, str]:
    declared = body.get("Parameters")
    params = {}
    for name, spec in declared.items() if isinstance(declared, dict) else ():
        if not (isinstance(spec, dict) and "Default" in spec):
            params[name] = value
    params[CERTIFICATE_ID] = f"cert-{value}"
    return params


@dataclass
class World:
    """The attacker, the victims and the bystander for one holder, and their connections."""

    holder: Holder
    deployment: Deployment
    devices: dict[str, Device] = field(default_factory=dict)
    #: Why the template body could not be evaluated for its devices (they fall back to sample names).
    template_error: str | None = None

    @property
    def attacker(self) -> Device:
        return self.devices[ATTACKER]

    @property
    def victims(self) -> list[Device]:
        """The victims worth trying: the one that ends with the attacker's name only when some resource puts
        a wildcard before a variable in one level (``*${iot:ClientId}``), the only way to reach it alone."""
        names = [VICTIMS[0]]
        if any(
            _WILDCARD_BEFORE_VARIABLE.search(r)
            for p in self.holder.policies
            for s in p.compiled.statements
            for r in s.resources
        ):
            names.append(VICTIMS[1])
        return [self.devices[v] for v in names]

    @property
    def bystander(self) -> Device:
        return self.devices[BYSTANDER]

    @property
    def thing_variables(self) -> bool:
        return self.holder.role != "core-device"

    def by_name(self, name: str) -> Device | None:
        return next((d for d in self.devices.values() if d.name == name), None)

    def context(self, device: Device, client_id: str | None, free: Mapping[str, str] | None = None) -> Context:
        """The context of ``device``'s certificate connecting with ``client_id`` (None: HTTPS, no connection)."""
        extra = {**self.deployment.bindings(), "iot:Certificate.Subject.CommonName": device.name, **(free or {})}
        thing = None
        if client_id is not None and self.thing_variables:
            thing = device if client_id == device.name else self.by_name(client_id)
        if thing is None:
            return Context(client_id=client_id, certificate_id=device.certificate_id, extra=extra)
        return Context(
            client_id=client_id,
            certificate_id=device.certificate_id,
            thing_name=thing.name,
            thing_type=thing.thing_type,
            thing_attributes=thing.attributes,
            is_attached=thing is device,
            extra=extra,
        )

    def free_assignments(self) -> list[dict[str, str]]:
        """Values of condition keys the connection's identity does not fix (source IP, connect
        attributes, ...): the attacker picks them, so each candidate the conditions name is tried."""
        candidates: dict[str, list[str | None]] = {}
        for p in self.attacker.policies:
            for s in p.compiled.statements:
                for c in s.conditions:
                    key = c.key
                    if key.lower() in _IDENTITY_KEYS or key.lower().startswith(("iot:connection.thing.", "aws::")):
                        continue
                    if key.lower().startswith("iot:certificate."):
                        continue
                    values = candidates.setdefault(key, [None])
                    for v in c.values:
                        concrete = _candidate_value(c.operator, v)
                        if concrete not in values:
                            values.append(concrete)
                    if "ConnectAttributes" in key and len(c.values) > 1:
                        joined = ",".join(c.values)
                        if joined not in values:
                            values.append(joined)
        keys = sorted(candidates)
        out: list[dict[str, str]] = []
        for combo in itertools.islice(itertools.product(*(candidates[k] for k in keys)), _MAX_FREE_COMBINATIONS):
            out.append({k: v for k, v in zip(keys, combo, strict=True) if v is not None})
        return out or [{}]


def _candidate_value(operator: str, value: str) -> str:
    if "IpAddress" in operator:
        return value.split("/", 1)[0]
    return value.replace("*", "x").replace("?", "x")


def _instantiated(holder: Holder, device_value: str) -> tuple[str | None, str | None, dict[str, str], list[Policy]]:
    """(thing name, thing type, attributes, policies) a template gives the device whose parameters are
    ``device_value``; raises TemplateError when the body cannot be evaluated."""
    template = holder.template
    assert template is not None
    plan = evaluate(template.body, _body_parameters(template.body, device_value))
    thing = plan.thing
    embedded = iter(p.document for p in plan.policies if p.name is None)
    policies = []
    for p in holder.policies:
        if p.source == "template-body":
            document = next(embedded, None)
            policies.append(_with_document(p, document if isinstance(document, dict) else p.document))
        else:
            policies.append(p)
    return (
        thing.name if thing else None,
        thing.thing_type if thing else None,
        dict(thing.attributes) if thing else {},
        policies,
    )


def _with_document(policy: Policy, document: dict[str, Any]) -> Policy:
    if document is policy.document:
        return policy
    return Policy(
        policy.kind,
        policy.name,
        policy.stack,
        policy.logical_id,
        policy.path,
        document,
        policy.source,
        policy.role,
        policy.roles,
        policy.variant,
        policy.problems,
    )


def _device(
    name: str, value: str, thing_type: str | None, attributes: dict[str, str], policies: list[Policy]
) -> Device:
    return Device(
        name, thing_type, attributes, certificate_id(name), tuple(policies), tuple(p.compiled for p in policies)
    )


def _body_thing_type(body: Mapping[str, Any]) -> str | None:
    resources = body.get("Resources")
    for resource in resources.values() if isinstance(resources, dict) else ():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::IoT::Thing":
            props = resource.get("Properties")
            if isinstance(props, dict) and isinstance(props.get("ThingTypeName"), str):
                return str(props["ThingTypeName"])
    return None


def world(holder: Holder, *, deployment: Deployment | None = None) -> World:
    """The symbolic devices of ``holder``."""
    w = World(holder, deployment or deployment_of(holder.policies))
    values = (ATTACKER, *VICTIMS, BYSTANDER)
    if holder.template is not None and holder.template.body_error is None:
        try:
            built = {v: _instantiated(holder, v) for v in values}
            names = [b[0] for b in built.values()]
            if all(names) and len(set(names)) == len(names):
                for v, (thing, kind, values_of, held) in built.items():
                    assert thing is not None
                    w.devices[v] = _device(thing, v, kind, values_of, held)
                return w
            w.template_error = "the template gives every device the same thing name"
        except TemplateError as exc:
            w.template_error = str(exc)
    policies = list(holder.policies)
    compiled = tuple(p.compiled for p in policies)
    thing_type = (_body_thing_type(holder.template.body) if holder.template else None) or _required_thing_type(policies)
    attributes = _attribute_names(policies)
    for v in values:
        name = STANDALONE_NAMES[v]
        w.devices[v] = Device(
            name, thing_type, dict.fromkeys(attributes, name), certificate_id(name), tuple(policies), compiled
        )
    return w


def device_named(holder: Holder, name: str) -> Device:
    """One device of ``holder`` called ``name`` (a template's parameters all take ``name``)."""
    w = world(holder)
    sample = w.attacker
    if holder.template is not None and w.template_error is None:
        try:
            _, thing_type, attributes, policies = _instantiated(holder, name)
            return _device(name, name, thing_type, attributes, policies)
        except TemplateError:
            pass
    return Device(
        name,
        sample.thing_type,
        dict.fromkeys(sample.attributes, name),
        certificate_id(name),
        sample.policies,
        sample.compiled,
    )


def sample_name(holder: Holder, value: str = "0001") -> str:
    """The thing name a template gives a device whose parameters are ``value`` (else ``sensor-0001``)."""
    if holder.template is not None and holder.template.body_error is None:
        try:
            name = _instantiated(holder, value)[0]
            if name:
                return name
        except TemplateError:
            pass
    return "sensor-0001"
