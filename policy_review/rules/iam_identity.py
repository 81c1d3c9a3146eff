"""Rules on identity policies (roles, users, groups), judged by probe requests in the worst case.

Parity with the IAM checkers (their IDs in ``see_also``): administrator access, service-wide
actions, ``iam:PassRole`` on roles beyond the synth's, privilege escalation, policy management
(IoT and IAM), Allow with NotAction/NotResource, and the IoT data plane across devices over IAM.
A role that only an AWS IoT service principal may assume is held by the service (a provisioning
role, a Device Defender mitigation role): policy management is then what the service documents it
needs, judged through who may pass the role (``IAM-PASSROLE-BROAD``), not reported on the role.
"""

from __future__ import annotations

from collections.abc import Iterator

from iot_semantics.policy_eval import Effect, as_list
from iot_semantics.policy_match import Glob, Unknown, witness
from policy_review.model import Inventory, Policy, Severity
from policy_review.rules.base import Found, Review, Rule
from policy_review.rules.probe import FRESH, fresh

_ADMIN_MANAGED = ("/AdministratorAccess", "/PowerUserAccess", "/IAMFullAccess")
#: Single actions that let the holder become more than it is (Rhino Security Labs' list, as Cloudsplaining
#: and Prowler's iam_policy_allows_privilege_escalation use it), beyond PassRole and policy management.
ESCALATING = (
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "glue:UpdateDevEndpoint",
    "sts:AssumeRole",
)
POLICY_MANAGEMENT = (
    "iot:CreatePolicy",
    "iot:CreatePolicyVersion",
    "iot:SetDefaultPolicyVersion",
    "iot:DeletePolicy",
    "iot:DeletePolicyVersion",
    "iot:AttachPolicy",
    "iot:AttachPrincipalPolicy",
    "iot:DetachPolicy",
    "iot:DetachPrincipalPolicy",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:DetachRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
)
#: Service principals that hold a role themselves (the service decides when to act with it).
SERVICE_HOLDERS = ("iot.amazonaws.com",)


def _identity_policies(review: Review, *, except_admin: bool = False) -> Iterator[Policy]:
    """Identity policies; with ``except_admin``, not those IAM-ADMIN already reports (it says it all)."""
    admin = _admin_policies(review) if except_admin else set()
    for policy in review.inv.policies:
        if policy.kind == "iam" and id(policy) not in admin:
            yield policy


def _admin_policies(review: Review) -> set[int]:
    cached = getattr(review, "_admin", None)
    if cached is None:
        probe = review.probe
        cached = {
            id(p)
            for p in review.inv.policies
            if p.kind == "iam"
            and (
                any(str(p.document.get("ManagedPolicyArn", "")).endswith(m) for m in _ADMIN_MANAGED)
                or probe.grant(p, "zzprobe:ZzProbeAction", probe.arn("zzprobe", f"{FRESH}/{FRESH}")) is not None
            )
        }
        review._admin = cached  # type: ignore[attr-defined]
    return cached


def _service_held(inv: Inventory, policy: Policy) -> bool:
    """Every identity holding ``policy`` is a role only AWS IoT itself may assume."""
    if not policy.roles:
        return False
    for logical in policy.roles:
        identity = inv.identity(policy.stack, logical)
        if identity is None or identity.kind != "role":
            return False
        principals = []
        for st in as_list(identity.trust.get("Statement")):
            if isinstance(st, dict) and st.get("Effect") == "Allow":
                principal = st.get("Principal")
                if not isinstance(principal, dict) or set(principal) != {"Service"}:
                    return False
                principals += [str(p) for p in as_list(principal["Service"])]
        if not principals or not all(
            p.replace("${AWS::URLSuffix}", "amazonaws.com") in SERVICE_HOLDERS for p in principals
        ):
            return False
    return True


def _admin(review: Review) -> Iterator[Found]:
    probe = review.probe
    for policy in _identity_policies(review):
        managed = str(policy.document.get("ManagedPolicyArn", ""))
        if any(managed.endswith(m) for m in _ADMIN_MANAGED):
            yield Found(
                policy, f"the AWS managed policy {managed} is attached", f"managed::{managed.rsplit('/', 1)[-1]}"
            )
            continue
        st = probe.grant(policy, "zzprobe:ZzProbeAction", probe.arn("zzprobe", f"{FRESH}/{FRESH}"))
        if st is not None:
            yield Found(
                policy,
                f"statement {st.label()} allows any action of any service on any resource: full administrator",
                f"admin::{st.label()}",
            )


ADMIN = Rule(
    id="IAM-ADMIN",
    severity=Severity.CRITICAL,
    title="Administrator access",
    explanation="Every action on every resource (Action * or a NotAction list on Resource *).",
    fix="Grant the actions and resources the role needs.",
    check=_admin,
    see_also=(
        "cdk-nag AwsSolutions-IAM4/IAM5, NIST.800.53.R5-IAMPolicyNoStatementsWithAdminAccess",
        "Checkov CKV_AWS_62",
        "cfn_nag F4/F39",
        "Prowler iam_inline_policy_no_administrative_privileges",
    ),
)


def _service_wide(review: Review) -> Iterator[Found]:
    for policy in _identity_policies(review, except_admin=True):
        managed = str(policy.document.get("ManagedPolicyArn", ""))
        if managed.endswith("FullAccess") and not any(managed.endswith(m) for m in _ADMIN_MANAGED):
            yield Found(
                policy,
                f"the AWS managed policy {managed} grants every action of a service",
                f"managed::{managed.rsplit('/', 1)[-1]}",
            )
        for st in policy.compiled.statements:
            if not st.valid or st.effect is not Effect.ALLOW or st.not_action:
                continue
            for pattern in st.actions:
                service = pattern.partition(":")[0]
                if pattern == "*" or not service or "*" in service or "?" in service:
                    continue
                if st.matches_action(f"{service}:ZzProbeAction"):
                    yield Found(
                        policy,
                        f"{pattern} (statement {st.label()}) allows every action of {service}, its "
                        "administrative and destructive ones and any AWS adds later",
                        f"action::{pattern}",
                    )


SERVICE_WIDE = Rule(
    id="IAM-SERVICE-WIDE",
    severity=Severity.HIGH,
    title="Every action of a service",
    explanation="A service-wide action wildcard includes the service's administrative and destructive actions.",
    fix="List the actions needed.",
    check=_service_wide,
    see_also=(
        "cdk-nag AwsSolutions-IAM5[Action::<service>:*]",
        "Cloudsplaining ServiceWildcard",
        "Checkov CKV_AWS_63",
        "Prowler iam_policy_no_full_access_to_*",
    ),
)


def _role_names(inv: Inventory) -> list[str]:
    return [i.name for i in inv.identities if i.kind == "role"]


def _passrole(review: Review) -> Iterator[Found]:
    probe = review.probe
    known = [Glob.literal(n) for n in _role_names(review.inv)]
    head = probe.arn("iam", "role/")
    bindings = probe.deployment.bindings()
    for policy in _identity_policies(review, except_admin=True):
        for st in policy.compiled.statements:
            if not st.valid or st.effect is not Effect.ALLOW or not st.matches_action("iam:PassRole"):
                continue
            if st.not_resource:
                name: str | None = FRESH if probe.grant(policy, "iam:PassRole", head + FRESH) else None
            else:
                name = None
                for r in st.resources:
                    try:
                        name = witness([Glob.of(r, bindings).after(head), Glob.parse("?*")], known)
                    except Unknown:
                        name = FRESH
                    if name is not None and any(ch in r for ch in "*?"):
                        break
                    name = None
            if name is not None:
                condition = " (its conditions limit the service, not the role)" if st.conditions else ""
                yield Found(
                    policy,
                    f"statement {st.label()} allows iam:PassRole on role {name}, a role this synth "
                    f"does not define{condition}: the holder can hand any such role, an administrator "
                    "one included, to a service it controls",
                    f"passrole::{st.label()}",
                    {"action": "iam:PassRole", "resource": head + name},
                )


PASSROLE_BROAD = Rule(
    id="IAM-PASSROLE-BROAD",
    severity=Severity.HIGH,
    title="iam:PassRole on roles beyond the synth's",
    explanation="Privilege escalation: pass a more powerful role to a service you control (a topic rule, a "
    "provisioning template, a Lambda function).",
    fix="Name the role ARNs and add the iam:PassedToService condition.",
    check=_passrole,
    see_also=(
        "cfn-policy-validator PASS_ROLE_WITH_STAR_IN_RESOURCE",
        "Cloudsplaining PrivilegeEscalation",
        "Checkov CKV_AWS_110",
    ),
)


def _probing(review: Review, actions: tuple[str, ...], *, skip_service_held: bool) -> Iterator[tuple[Policy, str, str]]:
    probe = review.probe
    for policy in _identity_policies(review, except_admin=True):
        if skip_service_held and _service_held(review.inv, policy):
            continue
        if not policy.compiled.statements:
            continue
        hits = []
        label = ""
        for action in actions:
            for resource in fresh(probe, action):
                st = probe.grant(policy, action, resource)
                if st is not None:
                    hits.append(action)
                    label = label or st.label()
                    break
        if hits:
            yield policy, ", ".join(hits), label


def _escalation(review: Review) -> Iterator[Found]:
    for policy, hits, label in _probing(review, ESCALATING, skip_service_held=False):
        yield Found(
            policy,
            f"allows {hits} on principals or functions it does not name (statement {label}): the "
            "holder can make itself more than it is",
            f"escalation::{label}",
        )


PRIVILEGE_ESCALATION = Rule(
    id="IAM-PRIVILEGE-ESCALATION",
    severity=Severity.HIGH,
    title="Privilege escalation path",
    explanation="Access keys, login profiles, group membership, trust policies or function code of any principal, "
    "or assuming any role, lets the holder become an administrator.",
    fix="Drop the action or name the exact resources, and bound roles with a permissions boundary.",
    check=_escalation,
    see_also=(
        "Cloudsplaining PrivilegeEscalation",
        "Prowler iam_policy_allows_privilege_escalation",
        "Prowler iam_no_custom_policy_permissive_role_assumption",
        "Checkov CKV_AWS_286",
    ),
)


def _policy_management(review: Review) -> Iterator[Found]:
    for policy, hits, label in _probing(review, POLICY_MANAGEMENT, skip_service_held=True):
        yield Found(
            policy,
            f"allows {hits} on policies, principals or certificates it does not name (statement "
            f"{label}): the holder can write or attach a policy granting anything",
            f"policy-management::{label}",
        )


POLICY_MANAGEMENT_RULE = Rule(
    id="IAM-POLICY-MANAGEMENT",
    severity=Severity.HIGH,
    title="Policy management on any policy or principal",
    explanation="Creating policy versions or attaching policies (IoT or IAM) on resources the policy does not name "
    "is a grant of everything.",
    fix="Name the policy and the certificates or thing groups it may be attached to.",
    check=_policy_management,
    see_also=(
        "Cloudsplaining PermissionsManagement",
        "Parliament PERMISSIONS_MANAGEMENT_ACTIONS",
        "Checkov CKV_AWS_109",
    ),
)


def _not_allow(review: Review) -> Iterator[Found]:
    for policy in review.inv.policies:
        if policy.kind not in ("iam", "resource", "trust"):
            continue
        for st in policy.compiled.statements:
            if st.valid and st.effect is Effect.ALLOW and (st.not_action or st.not_resource):
                what = "NotAction" if st.not_action else "NotResource"
                yield Found(
                    policy,
                    f"statement {st.label()} allows with {what}: everything not listed, including what AWS adds later",
                    f"{what}::{st.label()}",
                )


NOT_ALLOW = Rule(
    id="IAM-NOT-ALLOW",
    severity=Severity.MEDIUM,
    title="Allow with NotAction or NotResource",
    explanation="The grant is everything except a list, and grows whenever AWS adds actions or resources.",
    fix="List the allowed actions and resources.",
    check=_not_allow,
    see_also=("Parliament NOTRESOURCE_WITH_ALLOW", "cfn_nag W15/W21/W22/F14/F15 (NotAction/NotResource)"),
)

_IOT_DATA_PROBES = (
    ("iot:Publish", "topic/$aws/things/{t}/shadow/update"),
    ("iot:UpdateThingShadow", "thing/{t}"),
    ("iot:GetThingShadow", "thing/{t}"),
    ("iot:Connect", "client/{t}"),
    ("iot:Receive", "topic/$aws/things/{t}/jobs/notify-next"),
)


def _iot_data(review: Review) -> Iterator[Found]:
    probe = review.probe
    for policy in _identity_policies(review, except_admin=True):
        for action, resource in _IOT_DATA_PROBES:
            target = probe.arn("iot", resource.format(t=FRESH))
            st = probe.grant(policy, action, target)
            if st is not None:
                yield Found(
                    policy,
                    f"allows {action} on {resource.format(t='<any thing>')} (statement {st.label()}): "
                    "over HTTPS or MQTT with SigV4, the holder reaches every device's data plane",
                    f"iot-data::{st.label()}",
                    {"action": action, "resource": target},
                )
                break


IOT_DATA_BROAD = Rule(
    id="IAM-IOT-DATA-BROAD",
    severity=Severity.MEDIUM,
    title="An IAM identity reaches every device's IoT data plane",
    explanation="iot:Publish, the shadow APIs or iot:Connect on any thing: a leaked credential of this identity "
    "speaks to, or as, every device.",
    fix="Scope the resources to the fleets and topics the identity serves (thing/<prefix>*, topic/cmd/<fleet>/*).",
    check=_iot_data,
    see_also=(
        "Device Defender IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK (ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS)",
    ),
)

#: Certificate actions that take devices off the fleet (or register rogue ones) when allowed on any certificate.
CERTIFICATE_CONTROL = (
    "iot:UpdateCertificate",
    "iot:DeleteCertificate",
    "iot:DetachThingPrincipal",
    "iot:AttachThingPrincipal",
    "iot:RegisterCertificateWithoutCA",
)


def _certificate_control(review: Review) -> Iterator[Found]:
    for policy, hits, label in _probing(review, CERTIFICATE_CONTROL, skip_service_held=True):
        yield Found(
            policy,
            f"allows {hits} on every device certificate (statement {label}): a leaked credential of "
            "the holder deactivates or reassigns the whole fleet's identities",
            f"certificates::{label}",
        )


CERTIFICATE_CONTROL_RULE = Rule(
    id="IAM-IOT-CERTIFICATE-CONTROL",
    severity=Severity.MEDIUM,
    title="An IAM identity controls every device certificate",
    explanation="UpdateCertificate, DeleteCertificate or thing-principal changes on cert/* (or *) let the holder "
    "revoke or move every device's identity.",
    fix="Scope to the certificates the identity manages (a claim certificate's ID, or via a tag condition), or keep "
    "the action in an AWS IoT service role (mitigation actions).",
    check=_certificate_control,
    see_also=(
        "Cloudsplaining InfrastructureModification (write without resource constraints)",
        "cdk-nag AwsSolutions-IAM5[Resource::cert/*]",
    ),
)

RULES = (
    ADMIN,
    SERVICE_WIDE,
    PASSROLE_BROAD,
    PRIVILEGE_ESCALATION,
    POLICY_MANAGEMENT_RULE,
    NOT_ALLOW,
    IOT_DATA_BROAD,
    CERTIFICATE_CONTROL_RULE,
)
