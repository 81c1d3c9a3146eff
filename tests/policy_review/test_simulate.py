"""The simulation: holders, the devices and connections it tries, and facts checked by the evaluator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy_review import inventory
from policy_review.devices import world
from policy_review.model import Holder, Inventory, Policy
from policy_review.simulate import Fact, Session, WorldCache, analyse, sessions, simulate

A = "arn:aws:iot:eu-west-1:123456789012"
T = "${iot:Connection.Thing.ThingName}"
ATTACHED = {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
CONNECT = {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{A}:client/{T}", "Condition": ATTACHED}


def allow(action: str | list[str], resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def holder(*statements: dict[str, Any], role: str = "other") -> Holder:
    policy = Policy(
        "iot", "p", "s", "P", "s/P", {"Version": "2012-10-17", "Statement": list(statements)}, "AWS::IoT::Policy", role
    )
    return Holder("standalone", "p", "s", (policy,), role)


def facts(h: Holder) -> list[Fact]:
    return analyse(h, Inventory(policies=list(h.policies), holders=[h]))


def kinds(h: Holder) -> set[tuple[str, str]]:
    return {(f.kind, f.resource) for f in facts(h)}


def test_a_thing_name_as_a_whole_level_isolates_devices() -> None:
    assert facts(holder(CONNECT, allow("iot:Publish", f"{A}:topic/dt/{T}/*"))) == []


def test_a_standalone_prefix_overlapping_policy_gets_its_witness() -> None:
    (fact,) = facts(holder(CONNECT, allow("iot:Publish", f"{A}:topic/dt/{T}*")))
    assert (fact.kind, fact.resource, fact.me, fact.other) == ("topic-write", "topic/dt/dev-10", "dev-1", "dev-10")
    assert fact.pattern.endswith(f"topic/dt/{T}*"), "the fact names the granting resource"


def test_a_wildcard_before_the_variable_reaches_the_suffix_related_device() -> None:
    assert ("topic-write", "topic/dt/xdev-1") in kinds(holder(CONNECT, allow("iot:Publish", f"{A}:topic/dt/*{T}")))


def test_connecting_as_another_thing_takes_its_variables() -> None:
    found = facts(holder(allow("iot:Connect", f"{A}:client/{T}"), allow("iot:Publish", f"{A}:topic/dt/{T}/*")))
    by_kind = {f.kind: f for f in found}
    assert by_kind["connect-as"].client_id == "dev-10"
    assert by_kind["topic-write"].resource == "topic/dt/dev-10/x"
    assert "not attached" in by_kind["topic-write"].detail


def test_sessions_are_the_connections_connect_allows() -> None:
    h = holder(allow("iot:Connect", f"{A}:client/${{iot:ClientId}}", Condition=ATTACHED))
    w = world(h)
    ids = [s.client_id for s in sessions(w, w.attacker, WorldCache())]
    assert ids == ["dev-1", None], "only its own thing name, then the HTTPS data plane"


def test_a_client_id_plus_widens_a_client_id_filter() -> None:
    h = holder(
        allow("iot:Connect", f"{A}:client/*"),
        allow("iot:Subscribe", f"{A}:topicfilter/my/${{iot:ClientId}}/t"),
        allow("iot:Receive", f"{A}:topic/my/*"),
    )
    w = world(h)
    plus = Session(w, w.attacker, "+", {}, WorldCache())
    assert plus.view("iot:Subscribe").allows_name("topicfilter", "my/+/t"), "AWS substitutes a client ID '+'"


def test_receive_without_subscribe_is_no_reach() -> None:
    assert facts(holder(CONNECT, allow("iot:Receive", f"{A}:topic/$aws/things/*"))) == []


def test_a_literal_mqtt_wildcard_filter_still_delivers() -> None:
    found = kinds(
        holder(
            CONNECT,
            allow("iot:Subscribe", f"{A}:topicfilter/$aws/things/+/shadow/update"),
            allow("iot:Receive", f"{A}:topic/$aws/things/*"),
        )
    )
    assert ("shadow-read", "topic/$aws/things/dev-10/shadow/update") in found


def test_a_deny_that_neutralises_and_one_that_does_not() -> None:
    broad = allow("iot:Publish", f"{A}:topic/$aws/things/*")
    assert (
        facts(
            holder(
                CONNECT,
                broad,
                {"Effect": "Deny", "Action": "iot:Publish", "NotResource": f"{A}:topic/$aws/things/{T}/*"},
            )
        )
        == []
    )
    assert facts(
        holder(CONNECT, broad, {"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{A}:topic/$aws/things/+/*"})
    )


def test_claim_facts() -> None:
    claim = holder(
        allow("iot:Connect", "*"),
        allow("iot:Publish", f"{A}:topic/$aws/provisioning-templates/t/provision/json"),
        role="claim",
    )
    found = {f.kind for f in facts(claim)}
    assert found == {"claim-connect"}
    tight = holder(
        allow("iot:Connect", f"{A}:client/claim.x.*"),
        allow("iot:Publish", f"{A}:topic/$aws/provisioning-templates/t/provision/json"),
        role="claim",
    )
    assert facts(tight) == []


def test_every_fact_is_what_the_evaluator_allows() -> None:
    h = holder(allow("iot:*", "*"))
    w = world(h)
    found = facts(h)
    assert found
    for fact in found:
        if fact.kind in ("connect-as", "dead-grant", "claim-beyond") or fact.client_id is None:
            continue
        session = Session(w, w.attacker, fact.client_id, {}, WorldCache())
        rtype, _, name = fact.resource.partition("/")
        assert session.decision(fact.action, rtype, name), fact


def _template(tmp: Path, body_policy: dict[str, Any]) -> Path:
    body = {
        "Parameters": {"Serial": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {
                    "ThingName": {"Fn::Join": ["", ["sensor-", {"Ref": "Serial"}]]},
                    "ThingTypeName": "sensor",
                },
            },
            "policy": {"Type": "AWS::IoT::Policy", "Properties": body_policy},
        },
    }
    template = {
        "Resources": {
            "T": {
                "Type": "AWS::IoT::ProvisioningTemplate",
                "Properties": {"TemplateName": "t", "TemplateBody": json.dumps(body)},
            },
            "Named": {
                "Type": "AWS::IoT::Policy",
                "Properties": {
                    "PolicyName": "named",
                    "PolicyDocument": {
                        "Statement": [
                            allow(
                                "iot:Connect",
                                f"{A}:client/{T}",
                                Condition={
                                    **ATTACHED,
                                    "StringEquals": {"iot:Connection.Thing.ThingTypeName": "sensor"},
                                },
                            )
                        ]
                    },
                },
            },
        }
    }
    path = tmp / "t.template.json"
    path.write_text(json.dumps(template))
    return path


def test_template_devices_take_their_names_type_and_policies_from_the_body(tmp_path: Path) -> None:
    inv = inventory.load(_template(tmp_path, {"PolicyName": "named"}))
    (h,) = [h for h in inv.holders if h.kind == "template"]
    w = world(h)
    assert [d.name for d in w.devices.values()] == ["sensor-1", "sensor-10", "sensor-x1", "sensor-2"]
    assert w.attacker.thing_type == "sensor"
    assert simulate(inv) == []


def test_an_inline_body_policy_is_instantiated_per_device(tmp_path: Path) -> None:
    document = {"Statement": [allow("iot:Publish", {"Fn::Join": ["", [f"{A}:topic/dt/", {"Ref": "Serial"}, "*"]]})]}
    inv = inventory.load(_template(tmp_path, {"PolicyDocument": document}))
    (h,) = [h for h in inv.holders if h.kind == "template"]
    assert ("topic-write", "topic/dt/10") in {(f.kind, f.resource) for f in analyse(h, inv)}


@pytest.mark.parametrize("role", ["quarantine"])
def test_a_quarantine_holder_is_not_simulated(role: str) -> None:
    assert facts(holder({"Effect": "Deny", "Action": "iot:*", "Resource": "*"}, role=role)) == []


def test_the_memos_shared_between_holders_change_no_fact(tmp_path: Path) -> None:
    """Every corpus case reviewed cold (memos emptied first) and then warm, after every other case in
    reverse order: the facts are the same, so the memos' keys hold everything that decides them."""
    from policy_review.simulate import clear_caches
    from tests.policy_review.corpus import cases

    def facts_of(case_id: str, template: dict[str, Any]) -> list[str]:
        path = tmp_path / f"{case_id}.template.json"
        path.write_text(json.dumps(template))
        return [repr(f) for f in simulate(inventory.load(path))]

    every = cases()
    cold = {}
    for case in every:
        clear_caches()
        cold[case.id] = facts_of(case.id, case.template)
    warm = {case.id: facts_of(case.id, case.template) for case in reversed(every)}
    assert sum(map(len, cold.values())) > 50  # the corpus has facts to compare
    assert warm == cold


def test_holders_sharing_a_connect_statement_keep_their_own_connections() -> None:
    """The same Connect in two holders, one of which conditions a grant on a connect attribute: the
    second holder still opens the connection with that attribute (the remembered connections are
    keyed by the free condition values too)."""
    from policy_review.simulate import clear_caches

    persistent = {"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}}
    plain = holder(CONNECT, allow("iot:Publish", f"{A}:topic/dt/{T}"))
    conditioned = holder(CONNECT, allow("iot:Publish", f"{A}:topic/*", Condition=persistent))
    clear_caches()
    cold = [repr(f) for f in facts(conditioned)]
    assert any("topic-write" in f or "shadow-write" in f for f in cold)
    clear_caches()
    facts(plain)
    assert [repr(f) for f in facts(conditioned)] == cold
