"""IOT-ROLE-ALIAS-BROAD: a role alias that hands devices the credentials of an over-broad role."""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Inventory, Severity
from policy_review.rules.base import Rule, Subject, actions_of, resources_of, statements

#: AWS managed policies too broad for any device (substring of the policy ARN).
_BROAD_MANAGED = ("AdministratorAccess", "PowerUserAccess", "FullAccess", "IAMFullAccess")
#: Read-only verbs a device credential may reasonably hold on "*" (e.g. logs:DescribeLogStreams).
_READ_VERBS = ("Get", "List", "Describe")
#: Services the AWS audit calls security auditing services; no device credential should reach them.
_AUDIT_SERVICES = ("iam", "cloudtrail", "guardduty", "inspector", "trustedadvisor")
#: CredentialDurationSeconds defaults to 3600 and must not exceed the role's MaxSessionDuration
#: (IAM default 3600); a longer life widens the window of a leaked credential.
MAX_DURATION = 3600


def _why_broad(inv: Inventory, stack: str, role: str) -> list[str]:
    reasons: list[str] = []
    for policy in inv.role_policies(stack, role):
        managed = str(policy.document.get("ManagedPolicyArn", ""))
        if any(b in managed for b in _BROAD_MANAGED):
            reasons.append(f"managed policy {managed}")
        for s in statements(policy):
            if s.get("Effect") != "Allow":
                continue
            actions = actions_of(s)
            audit = [a for a in actions if a.partition(":")[0].lower() in _AUDIT_SERVICES]
            if audit:
                reasons.append(f"{policy.name}: {', '.join(audit)} (security auditing service)")
            wild = [a for a in actions if "*" in a]
            if wild:
                reasons.append(f"{policy.name}: {', '.join(wild)}")
            elif "*" in resources_of(s):
                writes = [a for a in actions if not a.partition(":")[2].startswith(_READ_VERBS)]
                if writes:
                    reasons.append(f"{policy.name}: {', '.join(writes)} on *")
    return reasons


def check(inv: Inventory) -> Iterator[tuple[Subject, str]]:
    for alias in inv.role_aliases:
        if alias.role_logical_id is None:
            yield (
                alias,
                (
                    f"role alias {alias.name} points at {alias.role_arn}, outside this synth: "
                    "review that role's policies"
                ),
            )
            continue
        reasons = _why_broad(inv, alias.stack, alias.role_logical_id)
        if reasons:
            yield (
                alias,
                (
                    f"role alias {alias.name} gives every device holding it the credentials of role "
                    f"{alias.role_logical_id}, which grants {'; '.join(reasons)}"
                ),
            )
        if alias.credential_duration and alias.credential_duration > MAX_DURATION:
            yield (
                alias,
                (
                    f"role alias {alias.name} issues credentials for {alias.credential_duration} s: "
                    "above the 3600 s default, so a leaked credential lives longer, and the role's "
                    "MaxSessionDuration (IAM default 3600 s) must be raised to match"
                ),
            )


RULE = Rule(
    id="IOT-ROLE-ALIAS-BROAD",
    severity=Severity.HIGH,
    title="Role alias to an over-broad role",
    explanation="The credentials provider hands the alias's role to any device whose policy allows "
    "iot:AssumeRoleWithCertificate on it; a service wildcard or write on * there is a fleet-wide grant.",
    fix="Give the alias its own role with the exact actions and resources the devices need, "
    "scoped per device with ${credentials-iot:ThingName}, and CredentialDurationSeconds <= 3600.",
    check=check,
    see_also=("Device Defender IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK",),
)
