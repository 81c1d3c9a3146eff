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


def test_gateways_provisioned_by_the_cli_get_their_own_notify_only(
    double: Double, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's gateways fleet (tunnel_notify on): two gateways whose names differ in one character."""
    import json

    from contracts.exit_status import ExitStatus
    from tests.iot_emulator.helpers import Identity
    from tests.provisioning.conftest import cli

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "operator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator")
    serials = ["GW0000000001", "GW0000000010"]
    for serial in serials:
        double.allow_serial("gateways", serial)
    manifest = tmp_path / "gateways.csv"
    manifest.write_text("SerialNumber\n" + "".join(f"{s}\n" for s in serials))
    outputs = tmp_path / "outputs.json"
    double.write_outputs(outputs)
    work = tmp_path / "work"
    result = cli("run", str(manifest), "--outputs", str(outputs), "--fleet", "gateways", "--work-dir", str(work),
                 "--trusted-user", "--plaintext-keys", "--rate", "0")  # fmt: skip
    assert result.status == ExitStatus.OK, result.text
    clients = {}
    for serial in serials:
        (device_file,) = work.glob(f"bundles/*{serial}/device.json")
        device = json.loads(device_file.read_text())
        ident = Identity(None, (device_file.parent / device["key"]["file"]).resolve(), "",
                         device_file.parent / "certificate.pem")  # fmt: skip
        clients[serial] = (device["thingName"], Client(double, ident, device["thingName"]))
    (one, c1), (ten, c10) = clients[serials[0]], clients[serials[1]]
    try:
        for c in (c1, c10):
            assert c.connected.wait(10)
            assert not c.connack.is_failure
        assert one.startswith("gw-pla01-")
        assert one[:-2] == ten[:-2]
        assert c1.subscribe(notify_topic(one)) == [1]
        assert c10.subscribe(notify_topic(ten)) == [1]
        assert c10.subscribe(notify_topic(one)) == [0x87]
        assert c1.subscribe(notify_topic(ten)) == [0x87]
        client = tunneling(double)
        opened = client.open_tunnel(destinationConfig={"thingName": one, "services": ["SSH"]})
        _, message = c1.wait_for([notify_topic(one)])
        assert message["clientAccessToken"] == opened["destinationAccessToken"]
        second = client.open_tunnel(destinationConfig={"thingName": ten, "services": ["SSH"]})
        _, message = c10.wait_for([notify_topic(ten)])
        assert message["clientAccessToken"] == second["destinationAccessToken"]
        assert not c10.messages.get(notify_topic(one))
        assert not c1.messages.get(notify_topic(ten))
    finally:
        c1.close()
        c10.close()


def test_json_protocol_requests_the_model_does_not_name_are_400(edge_double: Double) -> None:  # noqa: F811
    import urllib.error
    import urllib.request

    url = edge_double.outputs()["IotDouble"]["ControlPlaneUrl"]
    for target, status in (("IoTSecuredTunneling.NoSuchOperation", 400), ("IoTSecuredTunneling.TagResource", 501)):
        request = urllib.request.Request(  # noqa: S310 - the double on loopback
            url, data=b"{}", method="POST",
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 - the double on loopback
        assert raised.value.code == status
        assert "__type" in raised.value.read().decode()
