"""Every store the hook or the factory CLI reads survives a restart of the double (same state directory)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from iot_emulator.double import Double
from iot_emulator.provisioning import Knobs
from iot_semantics.topics import parse_shadow
from tests.conftest import Synth
from tests.iot_emulator.helpers import identity
from tests.iot_emulator.test_mqtt_edge import provision_with_paho

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]


def start(synth: Synth, state: Path) -> Double:
    double = Double(synth.outdir, state, region="eu-west-1", knobs=Knobs(rates={}), port=0, alpn_port=None)
    double.start()
    return double


def dynamodb(double: Double) -> Any:
    return boto3.client(
        "dynamodb",
        region_name="eu-west-1",
        endpoint_url=double.outputs()["IotDouble"]["AwsEndpointUrl"],
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_allowlist_registry_shadows_and_claims_survive_a_restart(synth: Synth, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = start(synth, state)
    try:
        table = first.outputs()["acme-dev-fleet-provisioning"]["AllowlistTableName"]
        for serial in ("SN70000001", "SN70000002"):  # as the factory CLI's allowlist import writes them
            item = {"fleet": {"S": "sensors"}, "serial": {"S": serial}, "status": {"S": "ALLOWED"}}
            dynamodb(first).put_item(TableName=table, Item=item)
        claim_id = first.outputs()["acme-dev-fleet-provisioning"]["FleetSensorsClaimCertificateId"]
        claim = identity(tmp_path, "claim")
        _, pem = first.add_certificate(claim.csr, ["acme-dev-sensors-claim"])
        claim.cert_file = tmp_path / "claim.pem"
        claim.cert_file.write_text(pem)
        provision_with_paho(first, claim, tmp_path, "SN70000001", allow=False)
        topic = parse_shadow("$aws/things/sensor-SN70000001/shadow/update")
        assert topic is not None
        first.shadows.handle(topic, json.dumps({"state": {"reported": {"fw": "1"}}}).encode())
        first.retained.put("dt/retained/x", b"kept", 1)
    finally:
        first.stop()

    again = start(synth, state)
    try:
        rows = dynamodb(again).scan(TableName=table)["Items"]
        assert sorted(r["serial"]["S"] for r in rows if r["fleet"]["S"] == "sensors") == ["SN70000001", "SN70000002"]
        assert again.outputs()["acme-dev-fleet-provisioning"]["FleetSensorsClaimCertificateId"] == claim_id
        assert again.registry.thing("sensor-SN70000001") is not None
        # the batch resumes after the restart: the next allowlisted serial is not denied
        _, thing = provision_with_paho(again, claim, tmp_path, "SN70000002", allow=False)
        assert thing == "sensor-SN70000002"
        got = again.shadows.get("sensor-SN70000001", None)
        assert got["state"]["reported"] == {"fw": "1"}
        kept = again.retained.get("dt/retained/x")
        assert kept is not None
        assert kept.payload == b"kept"
    finally:
        again.stop()
    recording = (state / "moto-recording.jsonl").read_text().splitlines()
    targets = [json.loads(line)["headers"].get("X-Amz-Target", "") for line in recording]
    assert targets[0].endswith("CreateTable")  # compacted at the second start: tables and items, then new requests
