"""The Greengrass core policy document: exact names, so ``gw-1`` reaches nothing of ``gw-10``."""

from __future__ import annotations

from typing import Any

import pytest

from iot_semantics import limits, topics
from iot_semantics.policies import CoreAccess, core_policy_document
from iot_semantics.policy_eval import Context, evaluate

PREFIX = "arn:aws:iot:eu-west-1:123456789012"
ACCESS = CoreAccess(
    role_alias_name="cores-tes",
    publish_namespaces=("dt/cores/{thing_name}",),
    subscribe_namespaces=("cmd/cores/{thing_name}",),
    defender_metrics_format="json",
    tunnel_notify=True,
    client_device_prefixes=("sensor-",),
)


def _allowed(document: dict[str, Any], action: str, resource: str) -> bool:
    # Cores get no thing variables (fact sheet 7.3): the context has a client ID only.
    return evaluate([document], action, f"{PREFIX}:{resource}", Context(client_id="gw-1")).allowed


def _probes(thing: str) -> list[tuple[str, str]]:
    own = topics.thing_prefix(thing)
    return [
        ("iot:Connect", f"client/{thing}"),
        ("iot:Connect", f"client/{thing}#3"),
        ("iot:Publish", f"topic/{own}/greengrassv2/health/json"),
        ("iot:Publish", f"topic/{own}/shadow/name/config/update"),
        ("iot:Publish", f"topic/{own}/jobs/start-next"),
        ("iot:Publish", f"topic/{own}/defender/metrics/json"),
        ("iot:Publish", f"topic/dt/cores/{thing}/temperature"),
        ("iot:Subscribe", f"topicfilter/{own}/tunnels/notify"),
        ("iot:Subscribe", f"topicfilter/{own}/jobs/notify-next"),
        ("iot:Subscribe", f"topicfilter/cmd/cores/{thing}/reboot"),
        ("iot:Receive", f"topic/{own}/tunnels/notify"),
        ("iot:Receive", f"topic/cmd/cores/{thing}/reboot"),
        ("greengrass:ListThingGroupsForCoreDevice", f"thing/{thing}"),
        ("greengrass:UpdateConnectivityInfo", f"thing/{thing}"),
    ]


@pytest.mark.parametrize(("me", "other"), [("gw-1", "gw-10"), ("gw-10", "gw-1"), ("gw-1", "xgw-1")])
def test_a_core_reaches_its_own_resources_and_nothing_of_a_prefix_related_core(me: str, other: str) -> None:
    document = core_policy_document(ACCESS, me, PREFIX)
    for action, resource in _probes(me):
        assert _allowed(document, action, resource), (action, resource)
    for action, resource in _probes(other):
        assert not _allowed(document, action, resource), (action, resource)


def test_credentials_only_through_its_own_role_alias_and_clients_only_of_served_fleets() -> None:
    document = core_policy_document(ACCESS, "gw-1", PREFIX)
    assert _allowed(document, "iot:AssumeRoleWithCertificate", "rolealias/cores-tes")
    assert not _allowed(document, "iot:AssumeRoleWithCertificate", "rolealias/cores-tes-admin")
    verify = "greengrass:VerifyClientDeviceIoTCertificateAssociation"
    assert _allowed(document, verify, "thing/sensor-SN1")
    assert not _allowed(document, verify, "thing/gw-2")


def test_no_thing_variables_and_no_sids_in_a_per_core_document() -> None:
    document = core_policy_document(ACCESS, "gw-1", PREFIX)
    assert "${" not in str(document), "Greengrass does not substitute thing variables for cores"
    assert all("Sid" not in s for s in document["Statement"])
    assert limits.non_whitespace_length(document) < limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE
