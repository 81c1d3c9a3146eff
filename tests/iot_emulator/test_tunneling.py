"""Secure tunneling's control plane in the double: the service alone (unit), then boto3 and MQTT devices."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iot_emulator.errors import ServiceError
from iot_emulator.tunneling import TunnelService, notify_topic

PREFIX = "arn:aws:iot:eu-west-1:123456789012"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def service() -> tuple[TunnelService, list[tuple[str, dict[str, Any]]], Clock]:
    sent: list[tuple[str, dict[str, Any]]] = []
    clock = Clock()

    def publish(messages: list[tuple[str, bytes]]) -> None:
        sent.extend((topic, json.loads(payload)) for topic, payload in messages)

    return TunnelService(arn_prefix=PREFIX, region="eu-west-1", publish=publish, clock=clock), sent, clock


def test_open_tunnel_notifies_the_destination_thing_with_the_documented_message() -> None:
    tunnels, sent, _ = service()
    opened = tunnels.call("OpenTunnel", {"destinationConfig": {"thingName": "gw-1", "services": ["SSH"]}})
    assert opened["tunnelArn"] == f"{PREFIX}:tunnel/{opened['tunnelId']}"
    assert opened["sourceAccessToken"] != opened["destinationAccessToken"]
    assert sent == [
        (
            "$aws/things/gw-1/tunnels/notify",
            {
                "clientAccessToken": opened["destinationAccessToken"],
                "clientMode": "destination",
                "region": "eu-west-1",
                "services": ["SSH"],
            },
        )
    ]


def test_open_tunnel_without_a_thing_notifies_nobody() -> None:
    tunnels, sent, _ = service()
    tunnels.call("OpenTunnel", {"destinationConfig": {"services": ["SSH"]}})
    tunnels.call("OpenTunnel", {})
    assert sent == []


@pytest.mark.parametrize(
    "params",
    [
        {"destinationConfig": {"thingName": "gw-1", "services": []}},
        {"destinationConfig": {"thingName": "gw-1", "services": ["A", "B", "C", "D"]}},
        {"destinationConfig": {"thingName": "", "services": ["SSH"]}},
        {"destinationConfig": "gw-1"},
        {"timeoutConfig": {"maxLifetimeTimeoutMinutes": 0}},
        {"timeoutConfig": {"maxLifetimeTimeoutMinutes": 721}},
    ],
)
def test_invalid_open_requests_are_400(params: dict[str, Any]) -> None:
    tunnels, sent, _ = service()
    with pytest.raises(ServiceError) as raised:
        tunnels.call("OpenTunnel", params)
    assert raised.value.status_code == 400
    assert sent == []


def test_describe_list_close_and_lifetime() -> None:
    tunnels, _, clock = service()
    a = tunnels.call("OpenTunnel", {"destinationConfig": {"thingName": "gw-1", "services": ["SSH"]},
                                    "timeoutConfig": {"maxLifetimeTimeoutMinutes": 30}})  # fmt: skip
    b = tunnels.call("OpenTunnel", {"destinationConfig": {"thingName": "gw-2", "services": ["SSH"]}})
    described = tunnels.call("DescribeTunnel", {"tunnelId": a["tunnelId"]})["tunnel"]
    assert described["status"] == "OPEN"
    assert described["destinationConfig"] == {"thingName": "gw-1", "services": ["SSH"]}
    assert described["sourceConnectionState"]["status"] == "DISCONNECTED"
    listed = tunnels.call("ListTunnels", {"thingName": "gw-2"})["tunnelSummaries"]
    assert [t["tunnelId"] for t in listed] == [b["tunnelId"]]
    page = tunnels.call("ListTunnels", {"maxResults": 1})
    assert len(page["tunnelSummaries"]) == 1
    assert len(tunnels.call("ListTunnels", {"nextToken": page["nextToken"]})["tunnelSummaries"]) == 1
    clock.now += 30 * 60
    assert tunnels.call("DescribeTunnel", {"tunnelId": a["tunnelId"]})["tunnel"]["status"] == "CLOSED"
    assert tunnels.call("DescribeTunnel", {"tunnelId": b["tunnelId"]})["tunnel"]["status"] == "OPEN"
    tunnels.call("CloseTunnel", {"tunnelId": b["tunnelId"]})
    assert tunnels.call("DescribeTunnel", {"tunnelId": b["tunnelId"]})["tunnel"]["status"] == "CLOSED"
    tunnels.call("CloseTunnel", {"tunnelId": b["tunnelId"], "delete": True})
    with pytest.raises(ServiceError) as raised:
        tunnels.call("DescribeTunnel", {"tunnelId": b["tunnelId"]})
    assert raised.value.error_code == "ResourceNotFoundException"


def test_rotate_publishes_the_new_destination_token_only_when_the_destination_is_named() -> None:
    tunnels, sent, _ = service()
    opened = tunnels.call("OpenTunnel", {"destinationConfig": {"thingName": "gw-1", "services": ["SSH"]}})
    sent.clear()
    rotated = tunnels.call("RotateTunnelAccessToken", {"tunnelId": opened["tunnelId"], "clientMode": "SOURCE"})
    assert rotated["sourceAccessToken"] != opened["sourceAccessToken"]
    assert "destinationAccessToken" not in rotated
    assert sent == []
    rotated = tunnels.call("RotateTunnelAccessToken", {
        "tunnelId": opened["tunnelId"], "clientMode": "DESTINATION",
        "destinationConfig": {"thingName": "gw-1", "services": ["SSH"]},
    })  # fmt: skip
    assert [(t, m["clientAccessToken"]) for t, m in sent] == [(notify_topic("gw-1"), rotated["destinationAccessToken"])]
    tunnels.call("CloseTunnel", {"tunnelId": opened["tunnelId"]})
    with pytest.raises(ServiceError):
        tunnels.call("RotateTunnelAccessToken", {"tunnelId": opened["tunnelId"], "clientMode": "ALL"})


def test_unserved_operation_names_itself() -> None:
    tunnels, _, _ = service()
    with pytest.raises(ServiceError) as raised:
        tunnels.call("TagResource", {})
    assert raised.value.status_code == 501
    assert "TagResource" in raised.value.message
