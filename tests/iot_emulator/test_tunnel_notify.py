"""boto3's ``iotsecuretunneling`` client against the double; a tunnel's notify reaches its thing alone."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from iot_emulator.double import Double
from iot_emulator.tunneling import notify_topic
from tests.iot_emulator.helpers import Client, identity
from tests.iot_emulator.test_credentials import edge_double, edge_outdir  # noqa: F401 - shared fixtures

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]


def tunneling(double: Double) -> Any:
    return boto3.client(
        "iotsecuretunneling", region_name="eu-west-1", endpoint_url=double.outputs()["IotDouble"]["ControlPlaneUrl"],
        aws_access_key_id="operator", aws_secret_access_key="operator",
    )  # fmt: skip


def gateway(double: Double, directory: Path, name: str) -> Client:
    ident = identity(directory, name)
    certificate_id, pem = double.add_certificate(ident.csr, ["edge-core"])
    ident.cert_file = directory / f"{name}.pem"
    ident.cert_file.write_text(pem)
    double.add_thing(name, certificate_id=certificate_id)
    client = Client(double, ident, name)
    assert client.connected.wait(10)
    assert not client.connack.is_failure
    return client


def test_notify_reaches_only_its_thing(edge_double: Double, tmp_path: Path) -> None:  # noqa: F811
    gw1, gw10 = gateway(edge_double, tmp_path, "tgw-1"), gateway(edge_double, tmp_path, "tgw-10")
    try:
        assert gw1.subscribe(notify_topic("tgw-1")) == [1]
        assert gw10.subscribe(notify_topic("tgw-10")) == [1]
        # a device cannot subscribe to another's notify topic (its policy names its own thing only)
        assert gw10.subscribe(notify_topic("tgw-1")) == [0x87]
        assert gw10.subscribe("$aws/things/+/tunnels/notify") == [0x87]
        client = tunneling(edge_double)
        opened = client.open_tunnel(
            description="ssh to tgw-1", destinationConfig={"thingName": "tgw-1", "services": ["SSH"]},
            timeoutConfig={"maxLifetimeTimeoutMinutes": 60},
        )  # fmt: skip
        _, message = gw1.wait_for([notify_topic("tgw-1")])
        assert message == {
            "clientAccessToken": opened["destinationAccessToken"], "clientMode": "destination",
            "region": "eu-west-1", "services": ["SSH"],
        }  # fmt: skip
        # a second tunnel, to tgw-10, is published after the first on the same service connection:
        # once it has arrived, tgw-10 would have had the first too
        second = client.open_tunnel(destinationConfig={"thingName": "tgw-10", "services": ["SSH"]})
        _, message = gw10.wait_for([notify_topic("tgw-10")])
        assert message["clientAccessToken"] == second["destinationAccessToken"]
        assert gw10.messages.get(notify_topic("tgw-1")) is None
        assert not gw10.messages.get(notify_topic("tgw-10"))
        assert not gw1.messages.get(notify_topic("tgw-1"))
    finally:
        gw1.close()
        gw10.close()

    tunnel = client.describe_tunnel(tunnelId=opened["tunnelId"])["tunnel"]
    assert (tunnel["status"], tunnel["destinationConfig"]["thingName"]) == ("OPEN", "tgw-1")
    assert tunnel["timeoutConfig"] == {"maxLifetimeTimeoutMinutes": 60}
    listed = client.list_tunnels(thingName="tgw-1")["tunnelSummaries"]
    assert [t["tunnelId"] for t in listed] == [opened["tunnelId"]]
    client.close_tunnel(tunnelId=opened["tunnelId"])
    assert client.describe_tunnel(tunnelId=opened["tunnelId"])["tunnel"]["status"] == "CLOSED"
    with pytest.raises(ClientError) as raised:
        client.describe_tunnel(tunnelId="00000000-0000-0000-0000-000000000000")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
