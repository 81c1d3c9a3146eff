"""Rules on what AWS IoT does with one document or template: size, variables, Greengrass, templates."""

from __future__ import annotations

import json
from collections.abc import Iterator

from iot_semantics import limits
from iot_semantics.policy_eval import unknown_variables
from policy_review.model import Severity
from policy_review.rules.base import Found, Review, Rule
from policy_review.rules.probe import FRESH

#: Greengrass actions outside the data plane a core or client device uses (fact sheet 7.3).
GREENGRASS_CONTROL_PLANE = (
    "greengrass:CreateDeployment",
    "greengrass:DeleteCoreDevice",
    "greengrass:CreateComponentVersion",
)


def _unknown_variables(review: Review) -> Iterator[Found]:
    for policy in review.inv.policies:
        if policy.kind != "iot":
            continue
        for name in unknown_variables(policy.document):
            if name.startswith(("AWS::", "Import:")) or ":" not in name or "." in name.split(":")[0]:
                continue  # a CloudFormation placeholder (${AWS::Region}, ${Logical.Arn}) or a body parameter
            yield Found(
                policy,
                f"${{{name}}} is not an AWS IoT policy variable: it never substitutes, so the resource "
                "holding it matches nothing (an Allow grants nothing, a Deny denies nothing)",
                f"variable::{name}",
            )


UNKNOWN_VARIABLE = Rule(
    id="IOT-UNKNOWN-VARIABLE",
    severity=Severity.MEDIUM,
    title="Unknown IoT policy variable",
    explanation="An unknown variable stays literal: the statement silently grants (or denies) nothing.",
    fix="Use a documented variable, e.g. ${iot:Connection.Thing.ThingName} instead of ${iot:ThingName}.",
    check=_unknown_variables,
    see_also=("Parliament UNKNOWN_CONDITION_FOR_ACTION (variables are not validated there)",),
)


#: The longest values CloudFormation's pseudo parameters take (what an ARN of the policy renders to
#: in the longest region); the placeholders themselves are not what AWS IoT counts.
_WORST_PSEUDO = {
    "${AWS::Partition}": "aws-us-gov",
    "${AWS::Region}": "ap-southeast-15",
    "${AWS::AccountId}": "123456789012",
    "${AWS::URLSuffix}": "amazonaws.com",
}


def _size_over_quota(document: object) -> int | None:
    """The document's non-whitespace length once rendered, when it is over the quota (else None)."""
    text = json.dumps(document)
    if len(text) + text.count("${AWS::Region}") <= limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE:
        return None  # a bound: only the region's placeholder renders longer (by one character)
    for placeholder, value in _WORST_PSEUDO.items():
        text = text.replace(placeholder, value)
    size = limits.non_whitespace_length(text)
    return size if size > limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE else None


def _size(review: Review) -> Iterator[Found]:
    for policy in review.inv.policies:
        if policy.kind == "iot" and (size := _size_over_quota(policy.document)) is not None:
            yield Found(
                policy,
                f"{size} non-whitespace characters; AWS IoT accepts {limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE}",
                "size",
            )


POLICY_SIZE = Rule(
    id="IOT-POLICY-SIZE",
    severity=Severity.HIGH,
    title="IoT policy over 2048 characters",
    explanation="CreatePolicy rejects it at deploy time (the CloudFormation schema's larger limit is misleading).",
    fix="Merge resources under the thing-name prefix or split features into fewer namespaces.",
    check=_size,
)


def _greengrass(review: Review) -> Iterator[Found]:
    probe = review.probe
    for policy in review.inv.policies:
        if policy.kind != "iot":
            continue
        for action in GREENGRASS_CONTROL_PLANE:
            st = probe.grant(policy, action, probe.arn("greengrass", f"{FRESH}/{FRESH}"))
            if st is not None:
                yield Found(
                    policy,
                    f"a device holding it may call {action} (statement {st.label()}): Greengrass "
                    "control-plane actions, deployments included, not the data plane a core needs",
                    f"greengrass::{st.label()}",
                )
                break


GREENGRASS_BROAD = Rule(
    id="IOT-GREENGRASS-BROAD",
    severity=Severity.HIGH,
    title="A device may use Greengrass control-plane actions",
    explanation="A core device needs a handful of data-plane actions; greengrass:* (or NotAction) also gives it "
    "CreateDeployment, so one core can deploy components to the fleet.",
    fix="List the actions the nucleus version needs (GetComponentVersionArtifact, ResolveComponentCandidates, "
    "GetDeploymentConfiguration, ListThingGroupsForCoreDevice).",
    check=_greengrass,
    see_also=("cdk-nag AwsSolutions-IAM5[Action::greengrass:*]",),
)


def _no_hook(review: Review) -> Iterator[Found]:
    for template in review.inv.templates:
        if not template.has_hook:
            yield Found(
                template,
                f"template {template.name} has no pre-provisioning hook: every claim holder provisions any serial",
                "no-hook",
            )


TEMPLATE_NO_HOOK = Rule(
    id="IOT-TEMPLATE-NO-HOOK",
    severity=Severity.HIGH,
    title="Provisioning template without a pre-provisioning hook",
    explanation="A leaked claim certificate then provisions unlimited devices with any parameters.",
    fix="Add a hook that validates parameters and checks the serial against an allowlist.",
    check=_no_hook,
)


def _managed_registration(review: Review) -> Iterator[Found]:
    for policy in review.inv.policies:
        if policy.source == "managed" and "AWSIoTThingsRegistration" in policy.name:
            yield Found(
                policy,
                "AWSIoTThingsRegistration grants every registry action on every resource",
                "managed::AWSIoTThingsRegistration",
            )


PROVISIONING_MANAGED_POLICY = Rule(
    id="IOT-PROVISIONING-MANAGED-POLICY",
    severity=Severity.MEDIUM,
    title="Provisioning role with the broad managed policy",
    explanation="The template only needs to create things of one fleet, activate its certificates and attach one "
    "policy.",
    fix="A scoped inline policy on thing/<prefix>*, the thing type, the groups, the device policy and cert/*.",
    check=_managed_registration,
    see_also=("cdk-nag AwsSolutions-IAM4[Policy::...AWSIoTThingsRegistration]",),
)

RULES = (UNKNOWN_VARIABLE, POLICY_SIZE, GREENGRASS_BROAD, TEMPLATE_NO_HOOK, PROVISIONING_MANAGED_POLICY)
