"""Operator commands: moto where it implements the IoT calls, botocore Stubber (recorded request
shapes) for the Device Defender APIs moto lacks."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from contracts.cli import Environment
from contracts.exit_status import ExitStatus
from defender_ops.cli import run

STACK = "acme-dev-device-defender"
OUTPUTS = {
    "acme-dev-fleet-provisioning": {"AllowlistTableName": "t"},
    STACK: {
        "QuarantineGroupName": "acme-dev-quarantine",
        "MitigationActionQuarantineThings": "acme-dev-mitigate-QuarantineThings",
        "MitigationActionDeactivateDeviceCertificate": "acme-dev-mitigate-DeactivateDeviceCertificate",
        "MitigationActionPublishFindingToSns": "acme-dev-mitigate-PublishFindingToSns",
    },
}


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    path = tmp_path / "deploy-outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    return path


@pytest.fixture
def iot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("iot", region_name="eu-west-1")
        client.create_thing_group(thingGroupName="acme-dev-quarantine")
        client.create_thing_group(thingGroupName="acme-dev-plant-a-sensors")
        client.create_thing(thingName="sensor-SN00000001")
        client.add_thing_to_thing_group(thingGroupName="acme-dev-plant-a-sensors", thingName="sensor-SN00000001")
        yield client


def cli(client: Any, *argv: str) -> tuple[int, str, str]:
    env = Environment.for_test()
    code = run(list(argv), client_factory=lambda region: client, env=env)
    assert isinstance(env.stdout, io.StringIO)
    assert isinstance(env.stderr, io.StringIO)
    return code, env.stdout.getvalue(), env.stderr.getvalue()


def groups(client: Any, thing: str) -> set[str]:
    return {g["groupName"] for g in client.list_thing_groups_for_thing(thingName=thing)["thingGroups"]}


def test_quarantine_and_release(iot: Any, outputs: Path) -> None:
    code, out, _ = cli(iot, "--outputs", str(outputs), "quarantine", "sensor-SN00000001")
    assert code == ExitStatus.OK
    assert "added to acme-dev-quarantine" in out
    assert groups(iot, "sensor-SN00000001") == {"acme-dev-quarantine", "acme-dev-plant-a-sensors"}
    code, out, _ = cli(iot, "--outputs", str(outputs), "quarantine", "sensor-SN00000001")
    assert "already in" in out
    code, out, _ = cli(iot, "--outputs", str(outputs), "release", "sensor-SN00000001")
    assert code == ExitStatus.OK
    assert groups(iot, "sensor-SN00000001") == {"acme-dev-plant-a-sensors"}


def test_unknown_thing_is_a_clear_input_error(iot: Any, outputs: Path) -> None:
    code, _, err = cli(iot, "--outputs", str(outputs), "quarantine", "sensor-NOPE")
    assert code == ExitStatus.USAGE
    assert "AWS refused DescribeThing: ResourceNotFoundException" in err


def test_missing_or_odd_outputs_file_is_named_before_any_aws_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    def no_client(region: str | None) -> Any:
        raise AssertionError("no AWS client before the outputs file is read")

    env = Environment.for_test()
    code = run(["--outputs", str(tmp_path / "none.json"), "quarantine", "x"], client_factory=no_client, env=env)
    assert code == ExitStatus.USAGE
    assert isinstance(env.stderr, io.StringIO)
    assert f"outputs file {tmp_path / 'none.json'} does not exist" in env.stderr.getvalue()
    assert "region" not in env.stderr.getvalue()
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"acmé": {}}'.encode("latin-1"))
    env = Environment.for_test()
    assert run(["--outputs", str(latin), "release", "x"], client_factory=no_client, env=env) == ExitStatus.USAGE
    assert isinstance(env.stderr, io.StringIO)
    assert "is not UTF-8" in env.stderr.getvalue()
    env = Environment.for_test()
    assert run(["--outputs", str(tmp_path), "release", "x"], client_factory=no_client, env=env) == ExitStatus.USAGE


def test_no_region_is_a_usage_error_not_a_traceback(
    outputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    env = Environment.for_test()
    assert run(["--outputs", str(outputs), "quarantine", "x"], env=env) == ExitStatus.USAGE
    assert isinstance(env.stderr, io.StringIO)
    assert "no AWS region" in env.stderr.getvalue()
    assert "fix: pass --region" in env.stderr.getvalue()


def test_access_denied_is_unavailable(outputs: Path) -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("describe_thing", "AccessDeniedException", "not allowed", 403)
        code, _, err = cli(client, "--outputs", str(outputs), "quarantine", "sensor-A")
    assert code == ExitStatus.UNAVAILABLE
    assert "AccessDeniedException" in err


def _client() -> Any:
    return boto3.client("iot", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_mitigate_finding_picks_the_deployed_action_for_its_check(outputs: Path) -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_response(
            "describe_audit_finding",
            {"finding": {"findingId": "f-1", "checkName": "DEVICE_CERTIFICATE_SHARED_CHECK", "severity": "CRITICAL"}},
            {"findingId": "f-1"},
        )
        stub.add_response(
            "start_audit_mitigation_actions_task",
            {"taskId": "t"},
            {
                "taskId": ANY,
                "target": {"findingIds": ["f-1"]},
                "auditCheckToActionsMapping": {
                    "DEVICE_CERTIFICATE_SHARED_CHECK": ["acme-dev-mitigate-DeactivateDeviceCertificate"]
                },
                "clientRequestToken": ANY,
            },
        )
        code, out, err = cli(client, "--outputs", str(outputs), "mitigate", "f-1")
        stub.assert_no_pending_responses()
    assert code == ExitStatus.OK, err
    assert "UPDATE_DEVICE_CERTIFICATE" in out


def test_mitigate_refuses_an_action_the_check_does_not_support(outputs: Path) -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_response(
            "describe_audit_finding",
            {"finding": {"findingId": "f-2", "checkName": "LOGGING_DISABLED_CHECK"}},
            {"findingId": "f-2"},
        )
        code, _, err = cli(
            client, "--outputs", str(outputs), "mitigate", "f-2", "--action", "ADD_THINGS_TO_THING_GROUP"
        )
    assert code == ExitStatus.USAGE
    assert "does not apply to LOGGING_DISABLED_CHECK" in err


def test_violations_lists_every_page() -> None:
    client = _client()
    start = datetime(2026, 11, 25, tzinfo=UTC)
    with Stubber(client) as stub:
        stub.add_response(
            "list_active_violations",
            {
                "activeViolations": [
                    {
                        "thingName": "sensor-A",
                        "securityProfileName": "acme-dev-sensors-rules",
                        "behavior": {"name": "BytesOut"},
                        "violationStartTime": start,
                    }
                ],
                "nextToken": "n1",
            },
            {"securityProfileName": "acme-dev-sensors-rules"},
        )
        stub.add_response(
            "list_active_violations",
            {
                "activeViolations": [
                    {
                        "thingName": "sensor-B",
                        "securityProfileName": "acme-dev-sensors-rules",
                        "behavior": {"name": "Disconnects"},
                    }
                ]
            },
            {"securityProfileName": "acme-dev-sensors-rules", "nextToken": "n1"},
        )
        code, out, _ = cli(client, "violations", "--profile", "acme-dev-sensors-rules")
        stub.assert_no_pending_responses()
    assert code == ExitStatus.FAILED  # active violations are findings
    assert "sensor-A\tacme-dev-sensors-rules\tBytesOut" in out
    assert "2 active violation(s)" in out
    with Stubber(client) as stub:
        stub.add_response("list_active_violations", {"activeViolations": []}, {})
        code, out, _ = cli(client, "violations")
    assert code == ExitStatus.OK
    assert "0 active violation(s)" in out
