"""The Device Defender runbook rehearsed against the double: defender_ops as an operator runs it, boto3's
``AWS_ENDPOINT_URL_IOT`` pointing at the double's control plane, with AWS's error shapes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from contracts.exit_status import ExitStatus
from iot_emulator.double import Double
from tests.conftest import ROOT
from tests.iot_emulator.helpers import Identity
from tests.iot_emulator.test_mqtt_edge import provision_with_paho

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]
QUARANTINE = "acme-dev-quarantine"


def iot(double: Double) -> Any:
    url = double.outputs()["IotDouble"]["ControlPlaneUrl"]
    return boto3.client(
        "iot", region_name="eu-west-1", endpoint_url=url, aws_access_key_id="x", aws_secret_access_key="x"
    )


def defender_ops(double: Double, outputs: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AWS_ENDPOINT_URL_IOT": double.outputs()["IotDouble"]["ControlPlaneUrl"],
        "AWS_ACCESS_KEY_ID": "operator",
        "AWS_SECRET_ACCESS_KEY": "operator",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    return subprocess.run(
        [sys.executable, "-m", "defender_ops", "--outputs", str(outputs), *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def device(double: Double, claim: Identity, tmp_path: Path) -> tuple[str, str]:
    ident, thing = provision_with_paho(double, claim, tmp_path, f"SN8{uuid.uuid4().hex[:9].upper()}")
    assert ident.cert_file is not None
    from cryptography import x509

    from iot_emulator.ca import certificate_id

    return thing, certificate_id(x509.load_pem_x509_certificate(ident.cert_file.read_bytes()))


def test_quarantine_and_release(double: Double, device: tuple[str, str], tmp_path: Path) -> None:
    thing, _ = device
    outputs = tmp_path / "outputs.json"
    double.write_outputs(outputs)
    done = defender_ops(double, outputs, "quarantine", thing)
    assert done.returncode == 0, done.stderr
    assert f"{thing} added to {QUARANTINE}" in done.stdout
    assert QUARANTINE in double.registry.thing(thing).groups  # type: ignore[union-attr]
    again = defender_ops(double, outputs, "quarantine", thing)
    assert "already in" in again.stdout
    released = defender_ops(double, outputs, "release", thing)
    assert released.returncode == 0, released.stderr
    assert QUARANTINE not in double.registry.thing(thing).groups  # type: ignore[union-attr]
    missing = defender_ops(double, outputs, "quarantine", "no-such-thing")
    assert missing.returncode == ExitStatus.USAGE  # the CLI contract: a name AWS does not know is an input error
    assert "ResourceNotFoundException" in missing.stderr


def test_mitigate_a_finding_and_list_violations(double: Double, device: tuple[str, str], tmp_path: Path) -> None:
    thing, cert_id = device
    outputs = tmp_path / "outputs.json"
    double.write_outputs(outputs)
    double.add_audit_finding({
        "findingId": "f-1",
        "checkName": "DEVICE_CERTIFICATE_SHARED_CHECK",
        "severity": "CRITICAL",
        "nonCompliantResource": {
            "resourceType": "DEVICE_CERTIFICATE",
            "resourceIdentifier": {"deviceCertificateId": cert_id},
        },
    })  # fmt: skip
    done = defender_ops(double, outputs, "mitigate", "f-1", "--action", "UPDATE_DEVICE_CERTIFICATE")
    assert done.returncode == 0, done.stderr
    assert double.registry.certificate(cert_id).status == "INACTIVE"  # type: ignore[union-attr]
    double.add_violation(
        {"violationId": "v-1", "thingName": thing, "securityProfileName": "p", "behavior": {"name": "b"}}
    )
    listed = defender_ops(double, outputs, "violations", "--thing", thing)
    assert listed.returncode == ExitStatus.FAILED, listed.stderr  # active violations: a negative result
    assert f"{thing}\tp\tb" in listed.stdout
    assert "1 active violation(s)" in listed.stdout
    iot(double).update_certificate(certificateId=cert_id, newStatus="ACTIVE")


def test_certificates_and_policy_attachments(double: Double, device: tuple[str, str]) -> None:
    thing, cert_id = device
    client = iot(double)
    arn = client.describe_certificate(certificateId=cert_id)["certificateDescription"]["certificateArn"]
    assert [p["policyName"] for p in client.list_attached_policies(target=arn)["policies"]] == [
        "acme-dev-sensors-device"
    ]
    client.detach_policy(policyName="acme-dev-sensors-device", target=arn)
    assert client.list_attached_policies(target=arn)["policies"] == []
    client.attach_policy(policyName="acme-dev-sensors-device", target=arn)
    assert arn in client.list_targets_for_policy(policyName="acme-dev-sensors-device")["targets"]
    assert json.loads(client.get_policy(policyName="acme-dev-sensors-device")["policyDocument"])["Statement"]
    assert client.list_thing_principals(thingName=thing)["principals"] == [arn]
    groups = client.list_thing_groups_for_thing(thingName=thing)["thingGroups"]
    assert [g["groupName"] for g in groups] == ["acme-dev-plant-a-sensors"]
    with pytest.raises(ClientError) as refused:
        client.detach_policy(policyName="no-such-policy", target=arn)
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_unserved_operations_name_themselves(double: Double) -> None:
    with pytest.raises(ClientError) as refused:
        iot(double).create_job(jobId="j", targets=["arn:aws:iot:eu-west-1:123456789012:thing/x"], document="{}")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert refused.value.response["Error"]["Message"] == "CreateJob is not served by the local double."


def test_describe_endpoint_types(double: Double) -> None:
    client = iot(double)
    for kind in ("iot:Data-ATS", "iot:Data", "iot:CredentialProvider", "iot:Jobs"):
        assert client.describe_endpoint(endpointType=kind)["endpointAddress"] == "localhost"
    with pytest.raises(ClientError) as refused:
        client.describe_endpoint(endpointType="iot:Nope")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
