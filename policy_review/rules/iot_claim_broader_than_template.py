"""IOT-CLAIM-BROADER-THAN-TEMPLATE: a claim policy's topics reach past its own template's API."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, actions_of, matches_action, resource_part, resources_of, statements

_TOPIC_ACTIONS = ("iot:Publish", "iot:Subscribe", "iot:Receive", "iot:RetainPublish")
#: Actions a claim certificate never needs (shadows, jobs, retained messages).
_NEVER = (
    "iot:RetainPublish",
    "iot:GetThingShadow",
    "iot:UpdateThingShadow",
    "iot:DeleteThingShadow",
    "iot:GetRetainedMessage",
    "iot:ListRetainedMessages",
    "iot:DescribeJobExecution",
    "iot:GetPendingJobExecutions",
    "iot:StartNextPendingJobExecution",
    "iot:UpdateJobExecution",
)


def _allowed_prefixes(template_names: list[str]) -> tuple[str, ...]:
    certs = ("$aws/certificates/create/", "$aws/certificates/create-from-csr/")
    return certs + tuple(f"$aws/provisioning-templates/{name}/provision/" for name in template_names)


def _within(rest: str, prefixes: tuple[str, ...]) -> bool:
    """``rest`` (after topic/ or topicfilter/) starts with an allowed prefix (template names hold no wildcard)."""
    return rest.startswith(prefixes)


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for policy in inv.policies:
        if policy.kind != "iot" or policy.role != "claim":
            continue
        names = [t.name for t in inv.templates if t.stack == policy.stack] or [t.name for t in inv.templates]
        prefixes = _allowed_prefixes(names)
        for s in statements(policy):
            if s.get("Effect") != "Allow":
                continue
            actions = actions_of(s)
            extra = [a for a in _NEVER if any(matches_action(p, a) for p in actions)]
            if extra:
                yield policy, f"claim policy {policy.name} allows {', '.join(extra)}: a claim only provisions"
            if not any(matches_action(p, a) for p in actions for a in _TOPIC_ACTIONS):
                continue
            for resource in resources_of(s):
                part = resource_part(resource)
                kind, _, rest = part.partition("/")
                if kind in ("topic", "topicfilter") and _within(rest, prefixes):
                    continue
                if kind == "client":
                    continue
                yield (
                    policy,
                    f"claim policy {policy.name} grants {', '.join(actions)} on {part}, beyond the certificate API "
                    f"and the provision topics of template(s) {', '.join(names) or '(none in this synth)'}",
                )


RULE = Rule(
    id="IOT-CLAIM-BROADER-THAN-TEMPLATE",
    severity=Severity.HIGH,
    title="Claim policy broader than its template's topics",
    explanation="A claim certificate is shared by a whole production run; if its policy reaches other templates "
    "or any non-provisioning topic, one leaked claim key provisions into other fleets or talks to devices.",
    fix="Grant only $aws/certificates/create-from-csr/* and $aws/provisioning-templates/<this template>/provision/*.",
    check=check,
)
