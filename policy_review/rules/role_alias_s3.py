"""The role behind a role alias reads S3 objects outside named buckets and prefixes.

A Greengrass token exchange role needs ``s3:GetObject`` on the component artifact locations only
(fact sheet 7.1). Every core whose IoT policy reaches the alias gets the role's credentials, so
``s3:GetObject`` on ``*``, ``arn:aws:s3:::*`` or a bucket's every object hands each core every
object there. Judged by probing the role's policies with a bucket and a key no policy can have
named (a fresh bucket: any bucket; a fresh key under each bucket a statement names: the whole bucket).
"""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Severity
from policy_review.rules.base import Found, Review, Rule
from policy_review.rules.probe import FRESH

_ACTION = "s3:GetObject"


def _broad(review: Review) -> Iterator[Found]:
    probe = review.probe
    any_object = probe.arn("s3", f"{FRESH}-bucket/{FRESH}")
    for alias in review.inv.role_aliases:
        if alias.role_logical_id is None:
            continue
        for policy in review.inv.role_policies(alias.stack, alias.role_logical_id):
            st = probe.grant(policy, _ACTION, any_object)
            if st is not None:
                yield Found(
                    alias,
                    f"role alias {alias.name}: its role reads any object of any bucket ({policy.name}, statement "
                    f"{st.label()}); every device that may use the alias gets that",
                    f"s3::{policy.name}::{st.label()}",
                    {"action": _ACTION, "resource": any_object},
                )
                break


ROLE_ALIAS_S3_BROAD = Rule(
    id="IOT-ROLE-ALIAS-S3-BROAD",
    severity=Severity.HIGH,
    title="Role alias to a role that reads any S3 bucket",
    explanation="The credentials provider hands the alias's role to every device whose policy allows "
    "iot:AssumeRoleWithCertificate on it; s3:GetObject on * (or arn:aws:s3:::*) gives each of them every object in "
    "the account, not only the component artifacts.",
    fix="Grant s3:GetObject on the artifact buckets and prefixes only (arn:aws:s3:::<bucket>/<prefix>*), per device "
    "with ${credentials-iot:ThingName} where objects belong to one core.",
    check=_broad,
    see_also=(
        "Device Defender IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK (ALLOWS_BROAD_ACCESS_TO_USED_SERVICES)",
        "cdk-nag AwsSolutions-IAM5[Resource::*]",
    ),
)

RULES = (ROLE_ALIAS_S3_BROAD,)
