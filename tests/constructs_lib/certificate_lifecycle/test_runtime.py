"""The certificate lifecycle watch's code against the double: moto's DynamoDB and CloudWatch, the
double's control plane for Device Defender's audit findings (boto3 unchanged, pointed at them)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from constructs_lib.certificate_lifecycle.runtime import handler as watch
from iot_emulator.double import Double

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]
NOW = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)


def clients(double: Double) -> dict[str, Any]:
    common = {"region_name": "eu-west-1", "aws_access_key_id": "w", "aws_secret_access_key": "w"}
    return {
        "dynamodb": boto3.client("dynamodb", endpoint_url=double.moto.url, **common),
        "cloudwatch": boto3.client("cloudwatch", endpoint_url=double.moto.url, **common),
        "iot": boto3.client("iot", endpoint_url=f"http://127.0.0.1:{double.control_plane_port}", **common),
    }


def put(double: Double, serial: str, **attributes: str) -> None:
    (table,) = double.assembly.tables.values()
    item: dict[str, Any] = {"fleet": {"S": "gateways"}, "serial": {"S": serial}, "status": {"S": "CLAIMED"}}
    item.update({k: {"S": v} for k, v in attributes.items()})
    double.dynamodb.put_item(TableName=table.name, Item=item)


def test_watch_counts_stalled_rotations_retired_certificates_and_audit_findings(double: Double) -> None:
    (table,) = double.assembly.tables.values()
    old = (NOW - timedelta(hours=3)).isoformat(timespec="seconds")
    recent = (NOW - timedelta(minutes=5)).isoformat(timespec="seconds")
    put(double, "SNW000000001", rotation_state="STARTED", rotation_started_at=old)  # stalled
    put(double, "SNW000000002", rotation_state="STARTED", rotation_started_at=recent)  # in progress
    put(double, "SNW000000003", rotation_state="DONE", rotation_started_at=old, retired_certificate_id="c" * 64,
        delete_after=recent)  # fmt: skip
    put(double, "SNW000000004", retired_certificate_id="d" * 64, delete_after=(NOW + timedelta(days=1)).isoformat())
    double.add_audit_finding({
        "findingId": "watch-1",
        "checkName": "DEVICE_CERTIFICATE_EXPIRING_CHECK",
        "severity": "MEDIUM",
        "nonCompliantResource": {
            "resourceType": "DEVICE_CERTIFICATE",
            "resourceIdentifier": {"deviceCertificateId": "e" * 64},
        },
    })  # fmt: skip
    c = clients(double)
    env = {
        "ALLOWLIST_TABLE": table.name,
        "FLEETS": '["gateways"]',
        "STALL_MINUTES": "60",
        "METRIC_NAMESPACE": "IotFleet/IdentityTest",
        "AUDIT_LOOKBACK_HOURS": "24",
    }
    report = watch.sweep(dynamodb=c["dynamodb"], iot=c["iot"], cloudwatch=c["cloudwatch"], env=env, now=NOW)
    assert report["stalled"] == {"gateways": 1}
    assert report["to_delete"] == {"gateways": 1}
    assert report["due"] >= 1
    metrics = c["cloudwatch"].list_metrics(Namespace="IotFleet/IdentityTest")["Metrics"]
    names = {m["MetricName"] for m in metrics}
    assert names == {"StalledRotations", "RetiredCertificatesToDelete", "CertificatesDueForRotation"}
