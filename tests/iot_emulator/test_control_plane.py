"""boto3 against the double's control plane (endpoint_url), and the trusted-user claim over MQTT."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from iot_emulator.double import Double
from tests.iot_emulator.helpers import CSR_TOPIC, REGISTER_TOPIC, Client, Identity, identity

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]


@pytest.fixture
def iot(double: Double) -> Any:
    outputs = double.outputs()["IotDouble"]
    return boto3.client(
        "iot",
        region_name="eu-west-1",
        endpoint_url=outputs["ControlPlaneUrl"],
        aws_access_key_id="operator",
        aws_secret_access_key="operator",
    )


def test_describe_endpoint(iot: Any) -> None:
    assert iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] == "localhost"


def test_trusted_user_claim_provisions_a_device(iot: Any, double: Double, tmp_path: Path) -> None:
    claim = iot.create_provisioning_claim(templateName="acme-dev-sensors")
    assert claim["certificateId"]
    key_file = tmp_path / "claim.key"
    key_file.write_text(claim["keyPair"]["PrivateKey"])
    cert_file = tmp_path / "claim.pem"
    cert_file.write_text(claim["certificatePem"])
    temporary = Identity(key=None, key_file=key_file, csr="", cert_file=cert_file)
    double.allow_serial("sensors", "SN30000001")
    c = Client(double, temporary, "factory-station-1")
    assert c.connected.wait(10)
    assert not c.connack.is_failure
    c.subscribe(
        f"{CSR_TOPIC}/accepted", f"{CSR_TOPIC}/rejected", f"{REGISTER_TOPIC}/accepted", f"{REGISTER_TOPIC}/rejected"
    )
    device = identity(tmp_path, "SN30000001")
    topic, created = c.request(CSR_TOPIC, {"certificateSigningRequest": device.csr})
    assert topic.endswith("/accepted")
    topic, registered = c.request(
        REGISTER_TOPIC,
        {
            "certificateOwnershipToken": created["certificateOwnershipToken"],
            "parameters": {"SerialNumber": "SN30000001", "MacAddress": "AA:BB:CC:DD:EE:31"},
        },
    )
    assert registered["thingName"] == "sensor-SN30000001"
    # a temporary claim may only provision: it cannot publish telemetry
    telemetry = c.client.publish("dt/sensors/sensor-SN30000001/telemetry", b"{}", qos=1)
    assert c.puback(telemetry.mid) == 0x87
    c.close()

    thing = iot.describe_thing(thingName="sensor-SN30000001")
    assert thing["thingTypeName"] == "acme-dev-env-sensor"
    assert thing["attributes"]["serial"] == "SN30000001"
    (principal,) = iot.list_thing_principals(thingName="sensor-SN30000001")["principals"]
    description = iot.describe_certificate(certificateId=principal.rsplit("/", 1)[1])["certificateDescription"]
    assert description["status"] == "ACTIVE"
    iot.update_certificate(certificateId=description["certificateId"], newStatus="INACTIVE")
    assert (
        iot.describe_certificate(certificateId=description["certificateId"])["certificateDescription"]["status"]
        == "INACTIVE"
    )


def test_unknown_thing_and_template_are_aws_errors(iot: Any) -> None:
    with pytest.raises(ClientError) as info:
        iot.describe_thing(thingName="nope")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        iot.create_provisioning_claim(templateName="no-such-template")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_expired_temporary_claim_cannot_connect(iot: Any, double: Double, tmp_path: Path) -> None:
    claim = iot.create_provisioning_claim(templateName="acme-dev-sensors")
    double.registry.set_temporary_claim(claim["certificateId"], 0.0)  # five minutes have passed
    (tmp_path / "k").write_text(claim["keyPair"]["PrivateKey"])
    (tmp_path / "c").write_text(claim["certificatePem"])
    temporary = Identity(key=None, key_file=tmp_path / "k", csr="", cert_file=tmp_path / "c")
    c = Client(double, temporary, "factory-station-2")
    assert c.connected.wait(10)
    assert c.connack.is_failure
    c.close()


def test_outputs_file_has_the_cdk_format_and_the_double_section(double: Double, tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    double.write_outputs(path)
    outputs = json.loads(path.read_text())
    assert outputs["acme-dev-fleet-provisioning"]["FleetSensorsTemplateName"] == "acme-dev-sensors"
    claim_id = outputs["acme-dev-fleet-provisioning"]["FleetSensorsClaimCertificateId"]
    assert double.registry.certificate(claim_id) is not None  # the stack's claim certificate, issued by the double
    assert set(outputs["IotDouble"]) >= {"Endpoint", "Port", "CaFile", "ControlPlaneUrl"}
