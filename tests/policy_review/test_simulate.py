"""Cross-device simulation: prefix-related names, attributes, shared namespaces; claim probes."""

from __future__ import annotations

from typing import Any

from policy_review.model import Inventory, Policy
from policy_review.simulate import claim_can_only_provision, cross_device

A = "arn:aws:iot:eu-west-1:123456789012"
T = "${iot:Connection.Thing.ThingName}"
SITE = "${iot:Connection.Thing.Attributes[site]}"


def policy(*statements: dict[str, Any], role: str = "device") -> Inventory:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return Inventory(policies=[Policy("iot", "p", "s", "P", "s/P", document, "AWS::IoT::Policy", role)])


def allow(action: str | list[str], resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def witnesses(inv: Inventory) -> set[tuple[str, str, str]]:
    return {(w.me, w.action, w.resource.split(":", 5)[5]) for w in cross_device(inv)}


def test_a_thing_name_as_a_whole_level_isolates_devices() -> None:
    assert witnesses(policy(allow("iot:Publish", f"{A}:topic/dt/{T}/*"))) == set()


def test_a_thing_name_without_a_level_separator_leaks_to_prefix_related_names() -> None:
    found = witnesses(policy(allow("iot:Publish", f"{A}:topic/dt/{T}*")))
    assert ("dev-1", "iot:Publish", "topic/dt/dev-10x") in found
    assert not any(me == "dev-10" for me, _, _ in found), "dev-10 cannot reach dev-1's topics"


def test_thing_attributes_are_distinct_per_device() -> None:
    assert witnesses(policy(allow("iot:Subscribe", f"{A}:topicfilter/site/{SITE}/*"))) == set()
    found = witnesses(policy(allow("iot:Subscribe", f"{A}:topicfilter/site/{SITE}*")))
    assert ("dev-1", "iot:Subscribe", "topicfilter/site/dev-10x") in found


def test_a_shared_namespace_is_aimed_at_the_other_device_but_a_broad_receive_alone_is_not() -> None:
    assert ("dev-1", "iot:Publish", "topic/fleet/dev-10") in witnesses(
        policy(allow("iot:Publish", f"{A}:topic/fleet/*"))
    )
    assert witnesses(policy(allow("iot:Receive", f"{A}:topic/fleet/*"))) == set()


def test_reserved_shadow_topics_and_client_ids_are_probed() -> None:
    found = witnesses(policy(allow("iot:Publish", f"{A}:topic/$aws/things/*"), allow("iot:Connect", f"{A}:client/*")))
    assert ("dev-1", "iot:Publish", "topic/$aws/things/dev-10/shadow/update") in found
    assert ("dev-1", "iot:Connect", "client/dev-10") in found


def test_claim_policy_beyond_provisioning_is_a_witness() -> None:
    narrow = policy(allow("iot:Publish", f"{A}:topic/$aws/provisioning-templates/t/provision/json"), role="claim")
    assert claim_can_only_provision(narrow) == []
    broad = policy(allow("iot:Publish", f"{A}:topic/*"), role="claim")
    assert {w.resource for w in claim_can_only_provision(broad)} == {
        f"{A}:topic/dt/anything",
        f"{A}:topic/$aws/things/dev-1/shadow/update",
    }
