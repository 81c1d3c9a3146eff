"""``--can THING ACTION RESOURCE``: the evaluator's answer for one request, and which statement decided.

The question is asked of every holder of IoT policies in the targets (a template's devices, a
certificate's policies, a policy standing alone; claim and quarantine policies only when
``--policy`` names them), for a device called THING connected with its own name as client ID, its
certificate attached, of the thing type and attributes its template (or its policy's conditions)
gives it: the same device the HTML report's "what a sample device may do" is computed for.

RESOURCE is a full ARN (``arn:aws:iot:eu-west-1:123456789012:topic/dt/x``) or its resource part
(``topic/dt/x``): the short form takes the account and region the policies name, a full ARN binds
``${AWS::Region}``/``${AWS::AccountId}`` placeholders to its own fields, so both spellings get the
same answer. An unknown action, a resource of the wrong type for the action, a topic with MQTT
wildcards or an invalid topic filter is a usage error (``QueryError``), never a silent "deny".

Exit statuses (docs/policy-review.md): 0 some holder allows it (with ``--policy``: that holder),
1 none does (each answer is a Deny or an implicit deny), 2 a question that cannot be asked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from iot_semantics.arns import split_arn
from iot_semantics.policy_eval import ACTION_RESOURCE_TYPES, Decision, Effect, canonical_action, evaluate
from iot_semantics.policy_match import delivered
from policy_review.devices import Deployment, Device, World, deployment_of, device_named
from policy_review.errors import ReviewError
from policy_review.model import Holder, Inventory

__all__ = ["Answer", "QueryError", "Question", "ask", "can", "decide", "parse", "run"]

THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
RESOURCE_TYPES = ("client", "topic", "topicfilter", "thing", "rolealias")
_TOPIC_ACTIONS = ("iot:Publish", "iot:Receive", "iot:RetainPublish", "iot:GetRetainedMessage")


class QueryError(ReviewError):
    """The question cannot be asked: an unknown action, a malformed resource, a bad thing name."""


@dataclass(frozen=True)
class Question:
    thing: str
    action: str
    rtype: str
    name: str
    #: (partition, region, account) of a full ARN; None for the short form.
    arn_fields: tuple[str, str, str] | None

    def arn(self, deployment: Deployment) -> str:
        if self.rtype == "*":
            return "*"
        if self.arn_fields is not None:
            partition, region, account = self.arn_fields
            return f"arn:{partition}:iot:{region}:{account}:{self.rtype}/{self.name}"
        return deployment.arn(self.rtype, self.name)


@dataclass(frozen=True)
class Answer:
    holder: Holder
    decision: Decision
    #: Readable names of the deciding statements: ``statement PublishOwnTopics (#1) of policy p``.
    deciding: tuple[str, ...]

    @property
    def label(self) -> str:
        return holder_label(self.holder)

    def line(self) -> str:
        effect = self.decision.effect.value
        why = {
            Effect.ALLOW: "allowed by " + "; ".join(self.deciding),
            Effect.DENY: "denied by " + "; ".join(self.deciding),
            Effect.IMPLICIT_DENY: "no statement allows it",
        }[self.decision.effect]
        return f"{self.label}: {effect} ({why})"


def holder_label(holder: Holder) -> str:
    names = ", ".join(p.name for p in holder.policies) or holder.name
    where = {"template": f"template {holder.name}", "certificate": f"certificate {holder.name}"}.get(holder.kind)
    return f"{names} ({where})" if where else names


def _resource(action: str, resource: str) -> tuple[str, str, tuple[str, str, str] | None]:
    fields = None
    part = resource
    if resource.startswith("arn:"):
        parts = split_arn(resource)
        if len(parts) != 6 or parts[2] != "iot" or not parts[4]:
            raise QueryError(
                f"{resource!r} is not an AWS IoT ARN (arn:<partition>:iot:<region>:<account>:<type>/<name>)"
            )
        fields = (parts[1], parts[3], parts[4])
        part = parts[5]
    wanted = ACTION_RESOURCE_TYPES[action]
    if part == "*" or wanted == "*":
        if part != "*" or wanted not in ("*", None):
            raise QueryError(
                f"{action} takes the resource * only"
                if wanted == "*"
                else f"{action} needs a {wanted}/<name> resource, not *"
            )
        return "*", "*", fields
    rtype, slash, name = part.partition("/")
    if not slash or rtype not in RESOURCE_TYPES or not name:
        raise QueryError(
            f"{resource!r} is not a resource of AWS IoT: write <type>/<name> with a type among "
            f"{', '.join(RESOURCE_TYPES)}, or the full ARN"
        )
    if wanted is not None and rtype != wanted:
        raise QueryError(f"{action} is evaluated against {wanted}/ resources, not {rtype}/ (AWS IoT never asks it)")
    if action in _TOPIC_ACTIONS and ("+" in name or "#" in name):
        raise QueryError(f"{name!r} holds an MQTT wildcard: a topic a message is published to cannot")
    if action == "iot:Subscribe" and delivered(name) is None:
        raise QueryError(f"{name!r} is not a valid MQTT topic filter (+ and # must fill a whole level, # be last)")
    return rtype, name, fields


def parse(thing: str, action: str, resource: str) -> Question:
    """The question, validated; raises QueryError saying what is wrong."""
    canonical = canonical_action(action)
    if canonical is None:
        known = ", ".join(sorted(ACTION_RESOURCE_TYPES))
        raise QueryError(f"{action!r} is not an AWS IoT data-plane action (one of: {known})")
    if not THING_NAME.fullmatch(thing):
        raise QueryError(f"{thing!r} is not a thing name (1-128 of a-z A-Z 0-9 : _ -)")
    rtype, name, fields = _resource(canonical, resource)
    return Question(thing, canonical, rtype, name, fields)


def _deployment(holder: Holder, question: Question) -> Deployment:
    if question.arn_fields is not None:
        partition, region, account = question.arn_fields
        return Deployment(partition, region, account)
    return deployment_of(holder.policies)


def decide(holder: Holder, device: Device, question: Question) -> Answer:
    deployment = _deployment(holder, question)
    context = World(holder, deployment).context(device, device.name)
    decision = evaluate(device.compiled, question.action, question.arn(deployment), context)
    deciding = tuple(
        f"statement {device.compiled[p].statements[s].label()} of policy {device.policies[p].name}"
        for p, s, _ in decision.statements
    )
    return Answer(holder, decision, deciding)


def holders_for(inv: Inventory, policy: str | None = None) -> list[Holder]:
    if policy is not None:
        return [
            h
            for h in inv.holders
            if h.name == policy or any(policy in (p.name, p.logical_id, p.path) for p in h.policies)
        ]
    return [h for h in inv.holders if h.role not in ("claim", "quarantine") and h.policies]


def can(inv: Inventory, thing: str, action: str, resource: str, *, policy: str | None = None) -> list[Answer]:
    """What each holder decides; raises QueryError for a question that cannot be asked."""
    question = parse(thing, action, resource)
    holders = holders_for(inv, policy)
    if not holders:
        what = f"no holder of IoT policies named {policy}" if policy else "no device policy"
        raise QueryError(f"{what} in the targets")
    return [decide(h, device_named(h, thing), question) for h in holders]


def ask(
    inv: Inventory,
    thing: str,
    action: str,
    resource: str,
    *,
    policy: str | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Answer on ``out`` (one line per holder); 0 when some holder allows it, 1 when none does."""
    answers = can(inv, thing, action, resource, policy=policy)
    for answer in answers:
        out(answer.line())
    return 0 if any(a.decision.allowed for a in answers) else 1


run = ask
