"""Scheduled sweep of the device certificates' lifecycle (EventBridge, hourly).

For each fleet's allowlist partition it:

- counts rotations started (``rotation_state`` STARTED) longer ago than ``STALL_MINUTES`` and
  publishes the count as the metric ``StalledRotations`` (dimension ``Fleet``); an alarm watches it;
- counts the certificates rotations retired whose ``delete_after`` has passed as
  ``RetiredCertificatesToDelete`` (the operator's ``iot-provision rotate purge`` deletes them: this
  function changes nothing, so a leak of its role cannot deactivate or delete a device's identity);
- reads Device Defender's audit findings of the last ``AUDIT_LOOKBACK_HOURS`` for
  DEVICE_CERTIFICATE_EXPIRING_CHECK and DEVICE_CERTIFICATE_AGE_CHECK and publishes the number of
  certificates due for rotation as ``CertificatesDueForRotation``, logging each (one JSON line).

Environment: ``ALLOWLIST_TABLE``, ``FLEETS`` (JSON list), ``STALL_MINUTES``, ``METRIC_NAMESPACE``,
``AUDIT_LOOKBACK_HOURS``. Everything is logged as JSON lines; nothing is returned to a caller.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

LOG = logging.getLogger("certificate_lifecycle")
LOG.setLevel(logging.INFO)
ROTATION_CHECKS = ("DEVICE_CERTIFICATE_EXPIRING_CHECK", "DEVICE_CERTIFICATE_AGE_CHECK")


def _entries(dynamodb: Any, table: str, fleet: str) -> Iterator[dict[str, Any]]:
    """Entries of ``fleet`` in a rotation or holding a retired certificate (Query, paginated)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "fleet = :f",
        "FilterExpression": "attribute_exists(rotation_state) OR attribute_exists(retired_certificate_id)",
        "ExpressionAttributeValues": {":f": {"S": fleet}},
    }
    while True:
        page = dynamodb.query(**kwargs)
        yield from page.get("Items", [])
        if not page.get("LastEvaluatedKey"):
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return value if isinstance(value, str) else None


def due_for_rotation(iot: Any, now: datetime, lookback: timedelta) -> list[dict[str, str]]:
    due = []
    for check in ROTATION_CHECKS:
        kwargs: dict[str, Any] = {"checkName": check, "startTime": now - lookback, "endTime": now}
        while True:
            page = iot.list_audit_findings(**kwargs)
            for finding in page.get("findings", []):
                resource = finding.get("nonCompliantResource", {}).get("resourceIdentifier", {})
                certificate = resource.get("deviceCertificateId")
                if certificate:
                    due.append({"check": check, "certificateId": str(certificate)})
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    return due


def sweep(
    *, dynamodb: Any, iot: Any, cloudwatch: Any, env: dict[str, str], now: datetime | None = None
) -> dict[str, Any]:
    moment = now or datetime.now(UTC)
    table = env["ALLOWLIST_TABLE"]
    limit = (moment - timedelta(minutes=float(env.get("STALL_MINUTES", "60")))).isoformat(timespec="seconds")
    namespace = env.get("METRIC_NAMESPACE", "IotFleet/Identity")
    report: dict[str, Any] = {"stalled": {}, "to_delete": {}}
    metrics = []
    for fleet in json.loads(env["FLEETS"]):
        stalled = to_delete = 0
        for item in _entries(dynamodb, table, fleet):
            started = _text(item, "rotation_started_at") or ""
            if _text(item, "rotation_state") == "STARTED" and started <= limit:
                stalled += 1
                LOG.info(json.dumps({"event": "rotation_stalled", "fleet": fleet, "serial": _text(item, "serial")}))
            after = _text(item, "delete_after")
            if after is not None and after <= moment.isoformat(timespec="seconds"):
                to_delete += 1
        report["stalled"][fleet] = stalled
        report["to_delete"][fleet] = to_delete
        metrics.append(
            {
                "MetricName": "RetiredCertificatesToDelete",
                "Dimensions": [{"Name": "Fleet", "Value": fleet}],
                "Value": to_delete,
            }
        )
        metrics.append(
            {"MetricName": "StalledRotations", "Dimensions": [{"Name": "Fleet", "Value": fleet}], "Value": stalled}
        )
    due = due_for_rotation(iot, moment, timedelta(hours=float(env.get("AUDIT_LOOKBACK_HOURS", "24"))))
    for entry in due:
        LOG.info(json.dumps({"event": "certificate_due_for_rotation", **entry}))
    metrics.append({"MetricName": "CertificatesDueForRotation", "Value": len(due)})
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=metrics)
    report["due"] = len(due)
    return report


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = sweep(
        dynamodb=boto3.client("dynamodb"),
        iot=boto3.client("iot"),
        cloudwatch=boto3.client("cloudwatch"),
        env=dict(os.environ),
    )
    LOG.info(json.dumps({"event": "certificate_lifecycle_sweep", **report}))
    return report
