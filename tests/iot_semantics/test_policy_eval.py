"""IoT policy evaluation against the policies this toolkit synthesizes, plus the operators' semantics."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_semantics.policy_eval import (
    Context,
    Effect,
    canonical_action,
    compile_policy,
    evaluate,
    referenced_variables,
    unknown_variables,
    walked_variables,
)
from iot_semantics.variables import is_known as is_known_variable
from tests.conftest import Synth, render_document, resources_of

ARN = "arn:aws:iot:eu-west-1:123456789012"
ME, OTHER = "sensor-SN00000001", "sensor-SN000000010"


def _policy(synth: Synth, stack: str, name: str) -> dict[str, Any]:
    (doc,) = [
        r["Properties"]["PolicyDocument"]
        for r in resources_of(synth.templates[stack], "AWS::IoT::Policy").values()
        if r["Properties"]["PolicyName"] == name
    ]
    rendered: dict[str, Any] = render_document(doc)
    return rendered


def device(client_id: str = ME, *, attached: bool = True, thing_type: str = "acme-dev-env-sensor") -> Context:
    return Context(client_id=client_id, thing_name=client_id, thing_type=thing_type, is_attached=attached)


@pytest.fixture
def device_policy(synth: Synth) -> dict[str, Any]:
    return _policy(synth, "fleet_provisioning", "acme-dev-sensors-device")


@pytest.mark.parametrize(
    ("action", "resource", "context", "allowed"),
    [
        ("iot:Connect", f"client/{ME}", device(), True),
        ("iot:Connect", f"client/{OTHER}", device(OTHER, attached=False), False),  # cert not attached to OTHER
        ("iot:Connect", f"client/{ME}", device(thing_type="acme-dev-edge-gateway"), False),  # wrong fleet type
        ("iot:Publish", f"topic/dt/sensors/{ME}/telemetry", device(), True),
        ("iot:Publish", f"topic/dt/sensors/{OTHER}/telemetry", device(), False),
        ("iot:Publish", f"topic/$aws/things/{ME}/shadow/update", device(), True),
        ("iot:Publish", f"topic/$aws/things/{OTHER}/shadow/update", device(), False),
        ("iot:Publish", f"topic/$aws/things/{ME}/defender/metrics/json", device(), True),
        ("iot:Publish", f"topic/cmd/sensors/{ME}/x", device(), False),  # subscribe-only namespace
        ("iot:Subscribe", f"topicfilter/cmd/sensors/{ME}/#", device(), True),
        ("iot:Subscribe", "topicfilter/cmd/sensors/#", device(), False),
        ("iot:Subscribe", "topicfilter/$aws/things/+/shadow/update/accepted", device(), False),
        ("iot:Subscribe", f"topicfilter/$aws/things/{ME}/tunnels/notify", device(), False),  # feature off
        ("iot:Receive", f"topic/cmd/sensors/{ME}/reboot", device(), True),
        ("iot:Receive", f"topic/cmd/sensors/{OTHER}/reboot", device(), False),
        ("iot:UpdateThingShadow", f"thing/{ME}", device(), False),  # HTTP shadow API not granted
    ],
)
def test_device_policy(
    device_policy: dict[str, Any], action: str, resource: str, context: Context, allowed: bool
) -> None:
    assert evaluate([device_policy], action, f"{ARN}:{resource}", context).allowed is allowed


def test_claim_policy_only_provisions(synth: Synth) -> None:
    claim = _policy(synth, "fleet_provisioning", "acme-dev-sensors-claim")
    ctx = Context(client_id="claim.acme-dev-sensors.station-7")
    assert evaluate([claim], "iot:Connect", f"{ARN}:client/claim.acme-dev-sensors.station-7", ctx).allowed
    assert not evaluate([claim], "iot:Connect", f"{ARN}:client/{ME}", Context(client_id=ME)).allowed
    assert evaluate([claim], "iot:Publish", f"{ARN}:topic/$aws/certificates/create-from-csr/json", ctx).allowed
    assert not evaluate([claim], "iot:Publish", f"{ARN}:topic/$aws/certificates/create/json", ctx).allowed
    assert not evaluate(
        [claim], "iot:Publish", f"{ARN}:topic/$aws/provisioning-templates/acme-dev-gateways/provision/json", ctx
    ).allowed
    assert not evaluate([claim], "iot:Publish", f"{ARN}:topic/dt/sensors/{ME}/telemetry", ctx).allowed


def test_quarantine_deny_overrides_the_device_policy(synth: Synth, device_policy: dict[str, Any]) -> None:
    quarantine = _policy(synth, "device_defender", "acme-dev-quarantine")
    decision = evaluate([device_policy, quarantine], "iot:Publish", f"{ARN}:topic/dt/sensors/{ME}/x", device())
    assert decision.effect is Effect.DENY
    assert decision.statements == ((1, 0, "QuarantineDeniesEverything"),)


def test_not_action_and_not_resource() -> None:
    policy = {
        "Statement": [
            {"Effect": "Allow", "NotAction": "iot:Connect", "Resource": "*"},
            {"Effect": "Deny", "Action": "iot:Publish", "NotResource": f"{ARN}:topic/ok/*"},
        ]
    }
    ctx = Context(client_id="c")
    assert evaluate([policy], "iot:Publish", f"{ARN}:topic/ok/1", ctx).allowed
    assert evaluate([policy], "iot:Publish", f"{ARN}:topic/bad", ctx).effect is Effect.DENY
    assert evaluate([policy], "iot:Connect", f"{ARN}:client/c", ctx).effect is Effect.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringLike": {"iot:ClientId": "fac-*"}}, Context(client_id="fac-7"), True),
        ({"StringLike": {"iot:ClientId": "fac-*"}}, Context(client_id="dev-7"), False),
        ({"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}}, Context(client_id="c", source_ip="198.51.100.9"), True),
        (
            {"NotIpAddress": {"aws:SourceIp": "198.51.100.0/24"}},
            Context(client_id="c", source_ip="198.51.100.9"),
            False,
        ),
        ({"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}}, Context(client_id="c"), False),  # key absent
        ({"StringEqualsIfExists": {"aws:SourceIp": "1.2.3.4"}}, Context(client_id="c"), True),
        ({"Null": {"iot:Connection.Thing.ThingName": "true"}}, Context(client_id="c"), True),
        (
            {"ForAllValues:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect", "LastWill"]}},
            Context(client_id="c", extra={"iot:ConnectAttributes": "PersistentConnect"}),
            True,
        ),
        (
            {"ForAllValues:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}},
            Context(client_id="c", extra={"iot:ConnectAttributes": "PersistentConnect,LastWill"}),
            False,
        ),
        ({"NumericLessThan": {"iot:ClientId": "5"}}, Context(client_id="3"), True),
        ({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, Context(client_id="c"), False),  # not judged
    ],
)
def test_conditions(condition: dict[str, Any], context: Context, holds: bool) -> None:
    policy = {"Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Condition": condition}]}
    assert evaluate([policy], "iot:Connect", f"{ARN}:client/{context.client_id}", context).allowed is holds


def test_action_wildcards_are_case_insensitive() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Action": "IoT:Pub*", "Resource": "*"}]}
    assert evaluate([policy], "iot:Publish", f"{ARN}:topic/a", Context(client_id="c")).allowed


def test_unknown_policy_variables_are_reported() -> None:
    doc = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [
                    f"{ARN}:topic/${{iot:ThingName}}/x",
                    f"{ARN}:topic/${{iot:Connection.Thing.ThingName}}/x",
                    f"{ARN}:topic/${{iot:Connection.Thing.Attributes[site]}}/x",
                    f"{ARN}:topic/${{iot:Certificate.Subject.Organization.List}}/x",
                ],
            }
        ]
    }
    assert unknown_variables(doc) == ["iot:ThingName"]
    assert is_known_variable("iot:Certificate.Subject.CommonName")
    assert not is_known_variable("iot:Thing.ThingName")


@pytest.mark.parametrize(
    ("condition", "extra", "holds"),
    [
        ({"StringNotEquals": {"aws:SourceIp": "1.2.3.4"}}, {}, True),  # a negated operator holds on an absent key
        ({"StringEquals": {"aws:SourceIp": "1.2.3.4"}}, {}, False),
        ({"ForAllValues:StringEquals": {"iot:ConnectAttributes": []}}, {}, True),  # vacuous: nothing to check
        ({"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["LastWill"]}}, {}, False),
        (
            {"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["LastWill"]}},
            {"iot:ConnectAttributes": "PersistentConnect,LastWill"},
            True,
        ),
        ({"StringEquals": {"IOT:CLIENTID": "c"}}, {}, True),  # condition keys are case-insensitive
        (
            {"ArnEquals": {"aws:SourceArn": "arn:aws:iot:*:*:topic/x"}},
            {"aws:SourceArn": "arn:aws:iot:r:1:topic/x"},
            True,
        ),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:iot:*:1:*"}}, {"aws:SourceArn": "arn:aws:iot:r:2:topic/x"}, False),
        ({"Bool": {"iot:Connection.Thing.IsAttached": True}}, {}, False),  # no thing: the key is absent
        ({"StringLike": {"iot:ClientId": "${iot:ClientId}"}}, {}, True),  # a variable in the expected value
    ],
)
def test_iam_condition_semantics(condition: dict[str, Any], extra: dict[str, str], holds: bool) -> None:
    policy = {"Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Condition": condition}]}
    context = Context(client_id="c", extra=extra)
    assert evaluate([policy], "iot:Connect", f"{ARN}:client/c", context).allowed is holds


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("text", "not a JSON object"),
        ({"Version": "2012-10-17"}, "no Statement"),
        ({"Statement": []}, "empty list"),
        ({"Statement": [{"Action": "iot:Connect", "Resource": "*"}]}, "neither Allow nor Deny"),
        ({"Statement": [{"Effect": "Allow", "Action": {"Fn::GetAZs": ""}, "Resource": "*"}]}, "not a string"),
        (
            {"Statement": [{"Effect": "Allow", "Action": "iot:Connect", "NotResource": "*", "Resource": "*"}]},
            "exactly one of Resource and NotResource",
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iot:Connect",
                        "Resource": "*",
                        "Condition": {"DateLessThan": {"aws:CurrentTime": "x"}},
                    }
                ]
            },
            "not one this review evaluates",
        ),
    ],
)
def test_compiling_never_raises_and_keeps_the_problem(document: Any, problem: str) -> None:
    compiled = compile_policy(document)
    assert any(problem in p for p in compiled.all_problems)
    assert evaluate([compiled], "iot:Connect", f"{ARN}:client/c", Context(client_id="c")).effect is Effect.IMPLICIT_DENY


def test_a_lone_statement_object_and_a_trust_policy_without_resource() -> None:
    lone = {"Statement": {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}}
    assert evaluate([lone], "iot:Connect", f"{ARN}:client/c", Context(client_id="c")).allowed
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    assert not compile_policy(trust, resource_optional=True).all_problems
    assert compile_policy(trust).all_problems, "an identity or IoT policy statement needs a Resource"


def test_deciding_statements_are_named() -> None:
    policy = {
        "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "iot:Publish", "Resource": "*"},
            {"Effect": "Allow", "Action": "iot:Pub*", "Resource": f"{ARN}:topic/x"},
        ]
    }
    decision = evaluate([policy], "iot:Publish", f"{ARN}:topic/x", Context(client_id="c"))
    assert decision.statements == ((0, 0, "A"), (0, 1, None))


def test_an_http_request_has_no_client_id_and_no_thing_variables() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/${{iot:ClientId}}"}]}
    assert not evaluate([policy], "iot:Publish", f"{ARN}:topic/c", Context(client_id=None)).allowed
    assert evaluate([policy], "iot:Publish", f"{ARN}:topic/${{iot:ClientId}}", Context(client_id=None)).allowed


def test_canonical_actions() -> None:
    assert canonical_action("IOT:publish") == "iot:Publish"
    assert canonical_action("iot:Publsh") is None


_TEXT = st.text(alphabet=st.sampled_from(list('ab${}"\\:/é*')), max_size=12)
_JSON = st.recursive(
    st.one_of(st.none(), st.integers(), st.booleans(), _TEXT, st.sampled_from(["${iot:ClientId}", "a/${x}/${y}"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, database=None)
@given(_JSON)
def test_variables_read_from_the_json_text_are_those_of_each_string(statement: object) -> None:
    """One regex pass over the document's JSON text finds exactly the references string by string,
    in the same order (quotes, backslashes and non-ASCII text included)."""
    document = {"Statement": statement}
    assert referenced_variables(document) == walked_variables(document)
