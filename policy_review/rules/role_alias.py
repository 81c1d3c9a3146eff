"""Role aliases: the IAM role behind each, and what it gives every device that may obtain its credentials.

Followed through the alias to its role and every policy the role holds (inline, ``AWS::IAM::Policy``
and ``ManagedPolicy`` by Ref or role name, managed policy ARNs), then judged as Device Defender's
role-alias audit does (fact sheet 7.2): service-wide access, security-auditing services, IoT
administration, the IoT data plane of every device, broad managed policies.
"""

from __future__ import annotations

from collections.abc import Iterator

from iot_semantics.policy_match import Glob, witness
from policy_review.model import Policy, RoleAlias, Severity
from policy_review.rules.base import Found, Review, Rule
from policy_review.rules.probe import FRESH, Probe

_BROAD_MANAGED = ("AdministratorAccess", "PowerUserAccess", "FullAccess")
_AUDIT_SERVICES = ("iam", "cloudtrail", "guardduty", "inspector", "inspector2", "trustedadvisor")
_IOT_ADMIN = (
    "iot:CreateThing",
    "iot:DeleteThing",
    "iot:UpdateThing",
    "iot:UpdateCertificate",
    "iot:CreatePolicy",
    "iot:AttachPolicy",
    "iot:CreateKeysAndCertificate",
    "iot:CreateTopicRule",
    "iot:DeleteTopicRule",
    "iot:UpdateThingShadow",
)
#: CredentialDurationSeconds defaults to 3600 and must not exceed the role's MaxSessionDuration (IAM default 3600).
MAX_DURATION = 3600


def _reasons(probe: Probe, policies: list[Policy]) -> list[str]:
    reasons: list[str] = []
    for policy in policies:
        managed = str(policy.document.get("ManagedPolicyArn", ""))
        if any(b in managed for b in _BROAD_MANAGED):
            reasons.append(f"managed policy {managed}")
        for st in policy.compiled.statements:
            if not st.valid or st.effect is None or st.effect.value != "Allow":
                continue
            services = {a.partition(":")[0].lower() for a in st.actions if ":" in a} if not st.not_action else {"*"}
            for svc in sorted(services):
                if svc == "*" or (st.matches_action(f"{svc}:ZzProbeAction") and "*" not in svc):
                    reasons.append(
                        f"{policy.name}: every action of {'every service' if svc == '*' else svc} "
                        f"(statement {st.label()})"
                    )
            audit = [
                s
                for s in _AUDIT_SERVICES
                if any(witness([Glob.parse(a.lower()), Glob.parse(f"{s}:*")]) is not None for a in st.actions)
                != st.not_action
            ]
            if audit:
                reasons.append(
                    f"{policy.name}: {', '.join(audit)} (security-auditing services, statement {st.label()})"
                )
        admin = [
            a
            for a in _IOT_ADMIN
            if probe.grant(policy, a, probe.arn("iot", f"thing/{FRESH}")) is not None
            or probe.grant(policy, a, probe.arn("iot", f"policy/{FRESH}")) is not None
        ]
        if admin:
            reasons.append(
                f"{policy.name}: {', '.join(admin)} on things or policies it does not name (IoT administration "
                "or every device's shadow)"
            )
        data = [
            a
            for a, r in (
                ("iot:Publish", f"topic/$aws/things/{FRESH}/shadow/update"),
                ("iot:Connect", f"client/{FRESH}"),
                ("iot:Receive", f"topic/$aws/things/{FRESH}/jobs/notify-next"),
            )
            if probe.grant(policy, a, probe.arn("iot", r)) is not None
        ]
        if data:
            reasons.append(
                f"{policy.name}: {', '.join(data)} on every device's topics or client IDs (the IoT data plane "
                "over SigV4)"
            )
    return list(dict.fromkeys(reasons))


def _subject_policies(review: Review, alias: RoleAlias) -> list[Policy]:
    assert alias.role_logical_id is not None
    return review.inv.role_policies(alias.stack, alias.role_logical_id)


def _broad(review: Review) -> Iterator[Found]:
    probe = review.probe
    for alias in review.inv.role_aliases:
        if alias.role_logical_id is None:
            continue
        reasons = _reasons(probe, _subject_policies(review, alias))
        if reasons:
            yield Found(
                alias,
                f"role alias {alias.name} gives every device that may use it the credentials of role "
                f"{alias.role_logical_id}, which grants {'; '.join(reasons)}",
                "role",
            )


ROLE_ALIAS_BROAD = Rule(
    id="IOT-ROLE-ALIAS-BROAD",
    severity=Severity.HIGH,
    title="Role alias to an over-broad role",
    explanation="The credentials provider hands the alias's role to any device whose policy allows "
    "iot:AssumeRoleWithCertificate on it; service-wide access, security-auditing services, IoT administration or "
    "every device's data plane there is a fleet-wide grant.",
    fix="Give the alias its own role with the exact actions and resources the devices need, scoped per device with "
    "${credentials-iot:ThingName}.",
    check=_broad,
    see_also=("Device Defender IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK", "Checkov CKV_AWS_107..111 (cloudsplaining)"),
)


def _duration(review: Review) -> Iterator[Found]:
    for alias in review.inv.role_aliases:
        if alias.credential_duration and alias.credential_duration > MAX_DURATION:
            yield Found(
                alias,
                f"role alias {alias.name} issues credentials for {alias.credential_duration} s: above the "
                "3600 s default, so a leaked credential lives longer, and the role's MaxSessionDuration "
                "(IAM default 3600 s) must be raised to match",
                "duration",
            )


ROLE_ALIAS_DURATION = Rule(
    id="IOT-ROLE-ALIAS-DURATION",
    severity=Severity.LOW,
    title="Role alias credentials that live longer than an hour",
    explanation="CredentialDurationSeconds above the 3600 s default widens the window of a leaked credential.",
    fix="Keep CredentialDurationSeconds at 3600 or below unless devices cannot refresh.",
    check=_duration,
)

RULES = (ROLE_ALIAS_BROAD, ROLE_ALIAS_DURATION)
