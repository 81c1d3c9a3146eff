"""Who a trust policy, a resource policy or a Lambda permission lets in.

A principal is *anyone* when it is ``*``, ``{"AWS": "*"}`` or any account's root, unless a condition
restricts who can match: an account, organization, principal ARN, source or external ID key tested
positively with a value that is not itself a wildcard. AWS service principals act for every customer,
so a role or resource they may use must say on whose behalf (``aws:SourceAccount`` or
``aws:SourceArn``; AWS IoT: fact sheet 10, the pre-provisioning hook: either one suffices).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from iot_semantics.policy_eval import Clause, Effect, Statement, as_list
from policy_review.model import LambdaPermission, Severity
from policy_review.rules.base import Found, Review, Rule

RESTRICTING_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOwner",
        "sts:ExternalId",
        "aws:userid",
        "aws:username",
        "aws:PrincipalServiceName",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
    )
)
SOURCE_KEYS = frozenset(
    {"aws:sourceaccount", "aws:sourcearn", "aws:sourceowner", "aws:sourceorgid", "aws:sourceorgpaths"}
)
#: Service principals of AWS IoT that assume customer roles by ARN (fact sheet 10).
IOT_SERVICES = ("iot.amazonaws.com", "credentials.iot.amazonaws.com")
_ASSUME = ("sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML", "sts:TagSession")


def normalize(principal: str) -> str:
    return principal.replace("${AWS::URLSuffix}", "amazonaws.com").replace("amazonaws.com.cn", "amazonaws.com")


def _restricts(clause: Clause, keys: frozenset[str]) -> bool:
    op = clause.operator
    if clause.key.lower() not in keys or "Not" in op or op.endswith("IfExists") or op.startswith("ForAllValues"):
        return False
    if not op.replace("ForAnyValue:", "").startswith(("String", "Arn")):
        return False
    return bool(clause.values) and not any(v.strip("*?") == "" or _any_account_arn(v) for v in clause.values)


def _any_account_arn(value: str) -> bool:
    """``arn:aws:iot:*:*:*`` names no account: it restricts nothing."""
    fields = value.split(":")
    return len(fields) >= 5 and value.startswith("arn:") and fields[4] in ("*", "")


def restricted(statement: Statement, keys: frozenset[str] = RESTRICTING_KEYS) -> bool:
    return any(_restricts(c, keys) for c in statement.conditions)


def principals(source: Mapping[str, Any]) -> dict[str, list[str]]:
    """``Principal`` as {kind: [values]}; ``"*"`` reads as {"*": ["*"]}."""
    principal = source.get("Principal")
    if principal is None:
        return {}
    if isinstance(principal, str):
        return {"*": [principal]} if principal == "*" else {"AWS": [principal]}
    if not isinstance(principal, dict):
        return {"?": [json.dumps(principal, default=str)]}
    return {
        str(k): [v if isinstance(v, str) else json.dumps(v, default=str) for v in as_list(vs)]
        for k, vs in principal.items()
    }


def _anyone(kinds: dict[str, list[str]]) -> bool:
    values = kinds.get("*", []) + kinds.get("AWS", [])
    return any(v == "*" or v.startswith("arn:aws:iam::*:") or v.endswith(":*:root") for v in values)


def _allows(statement: Statement, actions: tuple[str, ...]) -> bool:
    return statement.valid and statement.effect is Effect.ALLOW and any(statement.matches_action(a) for a in actions)


def _any_principal(review: Review) -> Iterator[Found]:
    for policy in review.inv.policies:
        if policy.kind not in ("trust", "resource"):
            continue
        for st in policy.compiled.statements:
            if st.effect is not Effect.ALLOW or not st.valid:
                continue
            kinds = principals(st.source)
            if policy.kind == "trust" and not _allows(st, _ASSUME):
                continue
            if _anyone(kinds) and not restricted(st):
                what = "assume the role" if policy.kind == "trust" else f"use it ({', '.join(st.actions)})"
                condition = " (its conditions do not restrict who)" if st.conditions else ""
                yield Found(
                    policy,
                    f"statement {st.label()} lets any AWS principal of any account {what}{condition}",
                    f"anyone::{st.label()}",
                )
            federated = [v for v in kinds.get("Federated", []) if "cognito-identity" in v]
            if (
                federated
                and policy.kind == "trust"
                and not any(
                    c.key.lower() == "cognito-identity.amazonaws.com:aud" and "Not" not in c.operator
                    for c in st.conditions
                )
            ):
                yield Found(
                    policy,
                    f"statement {st.label()} lets any Amazon Cognito identity pool of any account "
                    "assume the role (no cognito-identity.amazonaws.com:aud condition)",
                    f"cognito::{st.label()}",
                )


ANY_PRINCIPAL = Rule(
    id="IAM-ANY-PRINCIPAL",
    severity=Severity.CRITICAL,
    title="A role or resource anyone may use",
    explanation="Principal * (or any account's root, or any Cognito identity pool) with no condition naming the "
    "account, organization, principal or source.",
    fix="Name the trusted accounts or roles, or add aws:PrincipalOrgID / aws:SourceAccount / sts:ExternalId "
    "(and cognito-identity.amazonaws.com:aud for Cognito).",
    check=_any_principal,
    see_also=(
        "Cloudsplaining AssumableByAnyPrincipal(WithConditions)",
        "Checkov CKV_AWS_60, CKV_AWS_33 (KMS)",
        "cfn_nag F2/F16",
        "Prowler sns_topics_not_publicly_accessible, sqs_queues_not_publicly_accessible, "
        "kms_key_not_publicly_accessible",
        "Device Defender UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK",
    ),
)


def _service_without_source(st: Statement, services: tuple[str, ...] | None) -> list[str]:
    values = [normalize(v) for v in principals(st.source).get("Service", [])]
    hits = [v for v in values if (v in services if services is not None else v.endswith(".amazonaws.com"))]
    return hits if hits and not restricted(st, SOURCE_KEYS) else []


def _confused_deputy(review: Review) -> Iterator[Found]:
    for policy in review.inv.policies:
        if policy.kind == "trust":
            services: tuple[str, ...] | None = IOT_SERVICES
        elif policy.kind == "resource" and policy.source in (
            "AWS::SNS::TopicPolicy",
            "AWS::SQS::QueuePolicy",
            "AWS::S3::BucketPolicy",
        ):
            services = None
        else:
            continue
        for st in policy.compiled.statements:
            if st.effect is not Effect.ALLOW or not st.valid:
                continue
            if policy.kind == "trust" and not _allows(st, _ASSUME):
                continue
            hits = _service_without_source(st, services)
            if hits:
                yield Found(
                    policy,
                    f"statement {st.label()} trusts {', '.join(hits)} without aws:SourceAccount or "
                    "aws:SourceArn naming this account: that service acting for another customer can "
                    "use it (confused deputy)",
                    f"confused-deputy::{st.label()}",
                )


CONFUSED_DEPUTY = Rule(
    id="IAM-CONFUSED-DEPUTY",
    severity=Severity.HIGH,
    title="An AWS service principal trusted without saying on whose behalf",
    explanation="AWS IoT (and the IoT credentials provider) assume customer roles by ARN; SNS, SQS and S3 policies "
    "for a service principal are used by that service for every customer.",
    fix='Add "Condition": {"StringEquals": {"aws:SourceAccount": "<account>"}, "ArnLike": {"aws:SourceArn": '
    '"arn:aws:iot:<region>:<account>:*"}}.',
    check=_confused_deputy,
    see_also=(
        "Prowler iam_role_cross_service_confused_deputy_prevention",
        "AWS IoT cross-service-confused-deputy-prevention",
    ),
)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str) if value is not None else ""


def _lambda_subject(review: Review, permission: LambdaPermission) -> str:
    what = "the pre-provisioning hook " if review.inv.is_hook(permission) else ""
    return f"{what}{permission.function}"


def _lambda_public(review: Review) -> Iterator[Found]:
    for p in review.inv.permissions:
        principal = normalize(p.principal)
        if principal in ("*", '{"AWS": "*"}') and not (p.source_account or p.source_arn or p.principal_org_id):
            yield Found(
                p,
                f"{_lambda_subject(review, p)} may be invoked ({p.action}) by anyone: Principal * without "
                "SourceAccount, SourceArn or PrincipalOrgID",
                "public",
            )


LAMBDA_PUBLIC = Rule(
    id="IAM-LAMBDA-PUBLIC",
    severity=Severity.CRITICAL,
    title="A Lambda function anyone may invoke",
    explanation="A permission for Principal * with nothing narrowing it.",
    fix="Name the principal (a service with SourceArn/SourceAccount, or an account).",
    check=_lambda_public,
    see_also=(
        "cdk-nag Serverless-LambdaStarPermissions",
        "Prowler awslambda_function_not_publicly_accessible",
        "Checkov CKV_AWS_301",
    ),
)


def _source_arn_broad(value: Any) -> bool:
    text = _text(value)
    return not text or text == "*" or _any_account_arn(text)


def _lambda_deputy(review: Review) -> Iterator[Found]:
    for p in review.inv.permissions:
        principal = normalize(p.principal)
        if not principal.endswith(".amazonaws.com"):
            continue
        account, arn = _text(p.source_account), p.source_arn
        if account and account != "*":
            continue  # SourceAccount names the account (AWS: enough for the pre-provisioning hook)
        if arn is not None and not _source_arn_broad(arn):
            continue
        why = f"SourceArn {_text(arn)} names no account" if arn is not None else "no SourceArn or SourceAccount"
        yield Found(
            p,
            f"{_lambda_subject(review, p)} may be invoked by {principal} acting for any AWS account ({why}): "
            "another customer's resource can invoke it (confused deputy)",
            "confused-deputy",
        )


LAMBDA_CONFUSED_DEPUTY = Rule(
    id="IAM-LAMBDA-CONFUSED-DEPUTY",
    severity=Severity.HIGH,
    title="A Lambda permission for a service without SourceArn or SourceAccount",
    explanation="Without them, the service invokes the function for any customer's resource: another account's "
    "provisioning template could call your pre-provisioning hook.",
    fix="Set SourceArn to the template's (or rule's) ARN, or SourceAccount to the account (AWS documents either "
    "for the pre-provisioning hook).",
    check=_lambda_deputy,
    see_also=(
        "tfsec/Trivy AVD-AWS-0067 lambda restrict-source-arn",
        "Prowler awslambda_function_not_publicly_accessible",
    ),
)


RULES = (ANY_PRINCIPAL, CONFUSED_DEPUTY, LAMBDA_PUBLIC, LAMBDA_CONFUSED_DEPUTY)
