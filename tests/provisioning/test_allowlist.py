"""Allowlist import and edits against moto's DynamoDB (in-process): batching, idempotence, bad rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from moto import mock_aws

from provisioning import allowlist as al
from provisioning import manifest
from provisioning.errors import UsageError
from tests.provisioning.conftest import cli

TABLE = "allowlist"
FLEET = "sensors"
SCHEMA = manifest.Schema(
    patterns={"SerialNumber": "^[A-Z0-9]{8,16}$", "Batch": "^[A-Z0-9-]{1,20}$"},
    serial_parameter="SerialNumber",
    defaults={},
)


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "fleet", "KeyType": "HASH"}, {"AttributeName": "serial", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "fleet", "AttributeType": "S"},
                {"AttributeName": "serial", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


class Flaky:
    """A DynamoDB client whose BatchWriteItem leaves the last two requests unprocessed the first times."""

    def __init__(self, client: Any, failures: int) -> None:
        self.client, self.failures = client, failures
        self.sizes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        self.sizes.append(len(requests))
        assert len(requests) <= al.BATCH_WRITE_MAX
        if self.failures and len(requests) > 2:
            self.failures -= 1
            self.client.batch_write_item(RequestItems={table: requests[:-2]})
            return {"UnprocessedItems": {table: requests[-2:]}}
        result: dict[str, Any] = self.client.batch_write_item(RequestItems=RequestItems)
        return result


def csv_file(path: Path, rows: list[str], header: str = "SerialNumber,Batch") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def entries(path: Path) -> list[al.Entry]:
    parsed = al.read_import_file(path, SCHEMA)
    assert parsed.errors == []
    return parsed.entries


def items(client: Any) -> dict[str, dict[str, Any]]:
    found = client.scan(TableName=TABLE)["Items"]
    return {i["serial"]["S"]: i for i in found}


def test_import_batches_within_limits_retries_unprocessed_and_is_idempotent(dynamodb: Any, tmp_path: Path) -> None:
    rows = [f"SN{i:08d},B-1" for i in range(260)]
    flaky = Flaky(dynamodb, failures=3)
    table = al.Allowlist(flaky, TABLE, FLEET, sleep=lambda s: None)
    progress: list[int] = []
    summary = table.import_entries(entries(csv_file(tmp_path / "a.csv", rows)), progress=progress.append)
    assert summary.written == 260
    assert summary.retried == 6
    assert max(flaky.sizes) == 25
    stored = items(dynamodb)
    assert len(stored) == 260
    assert stored["SN00000007"]["status"]["S"] == "ALLOWED"
    assert stored["SN00000007"]["parameters"]["M"]["Batch"]["S"] == "B-1"
    assert progress[-1] == 260
    assert progress == sorted(progress)
    again = table.import_entries(entries(tmp_path / "a.csv"))
    assert (again.written, again.unchanged, again.conflicts) == (0, 260, [])


def test_import_never_overwrites_a_claimed_entry(dynamodb: Any, tmp_path: Path) -> None:
    table = al.Allowlist(dynamodb, TABLE, FLEET)
    table.import_entries(entries(csv_file(tmp_path / "a.csv", ["SN00000001,B-1"])))
    dynamodb.update_item(
        TableName=TABLE,
        Key=table.key("SN00000001"),
        UpdateExpression="SET #s = :c, claimed_certificate_id = :x",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":c": {"S": "CLAIMED"}, ":x": {"S": "a" * 64}},
    )
    summary = table.import_entries(entries(csv_file(tmp_path / "b.csv", ["SN00000001,B-2", "SN00000002,B-2"])))
    assert summary.written == 1
    assert [(e.serial, why) for e, why in summary.conflicts] == [("SN00000001", "different trusted parameter values")]
    assert items(dynamodb)["SN00000001"]["status"]["S"] == "CLAIMED"


def test_fingerprints_from_hex_or_from_the_public_key(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(der).hexdigest()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    path = tmp_path / "keys.jsonl"
    colons = ":".join(digest[i : i + 2] for i in range(0, 64, 2)).upper()
    path.write_text(
        json.dumps({"SerialNumber": "SN00000001", "public_key": pem})
        + "\n"
        + json.dumps({"serial": "SN00000002", "public_key_sha256": colons})
        + "\n"
    )
    parsed = al.read_import_file(path, SCHEMA)
    assert parsed.errors == []
    assert [e.fingerprint for e in parsed.entries] == [digest, digest]


def test_bad_rows_are_each_named_with_file_and_line(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path / "bad.csv",
        ["SN00000001,B-1", "sn-lower,B-1", "SN00000001,B-1", "SN00000003,b_bad", "SN00000004"],
    )
    parsed = al.read_import_file(path, SCHEMA)
    assert [(e.line, e.message.split(" ")[0]) for e in parsed.errors] == [
        (3, "SerialNumber"),
        (4, "serial"),
        (5, "Batch"),
        (6, "has"),
    ]
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"SerialNumber": "SN00000001", "Colour": "red"}\n{"public_key_sha256": "zz"}\nnot json\n')
    messages = [(e.line, e.message) for e in al.read_import_file(jsonl, SCHEMA).errors]
    assert messages[0][0] == 1
    assert "unknown column(s) Colour" in messages[0][1]
    assert {m[0] for m in messages} == {1, 2, 3}


# the command line, before any AWS call ------------------------------------------------------------------


def fake_outputs(path: Path) -> Path:
    stack = {
        "FleetNames": "sensors",
        "AllowlistTableName": TABLE,
        "FleetSensorsTemplateName": "acme-dev-sensors",
        "FleetSensorsSerialParameter": "SerialNumber",
        "FleetSensorsThingNameTemplate": "sensor-{SerialNumber}",
        "FleetSensorsParameterPatterns": json.dumps(SCHEMA.patterns),
        "FleetSensorsDevicePolicyName": "acme-dev-sensors-device",
    }
    path.write_text(
        json.dumps({"Fleet": stack, "IotDouble": {"Region": "eu-west-1", "AwsEndpointUrl": "http://127.0.0.1:9"}})
    )
    return path


def test_cli_refuses_a_file_with_bad_rows_and_writes_nothing(tmp_path: Path) -> None:
    outputs = fake_outputs(tmp_path / "outputs.json")
    path = csv_file(tmp_path / "bad.csv", ["SN00000001,B-1", "sn-lower,B-1"])
    result = cli("allowlist", "import", str(path), "--outputs", str(outputs), "--fleet", "sensors")
    assert result.status == 2
    assert f"{path}:3: SerialNumber 'sn-lower' does not match" in result.err
    assert "Traceback" not in result.text


def test_cli_unknown_fleet_and_missing_outputs_are_usage_errors(tmp_path: Path) -> None:
    outputs = fake_outputs(tmp_path / "outputs.json")
    result = cli("allowlist", "show", "SN00000001", "--outputs", str(outputs), "--fleet", "nope")
    assert result.status == 2
    assert "fleet 'nope' is not in the outputs file" in result.err
    result = cli("allowlist", "show", "SN00000001", "--outputs", str(tmp_path / "none.json"), "--fleet", "sensors")
    assert result.status == 2
    assert "does not exist" in result.err


def test_cli_unreachable_dynamodb_stops_once_with_the_cause(tmp_path: Path) -> None:
    outputs = fake_outputs(tmp_path / "outputs.json")
    environ = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_MAX_ATTEMPTS": "1"}
    result = cli("allowlist", "show", "SN00000001", "--outputs", str(outputs), "--fleet", "sensors", environ=environ)
    assert result.status == 3, result.text
    assert result.err.count("error:") == 1
    assert "Traceback" not in result.text


def test_key_manifest_records_the_fingerprints_of_the_station_keys(tmp_path: Path) -> None:
    from provisioning import keys

    made = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "w" / "keys").mkdir(parents=True)
    keys.write_private(tmp_path / "w" / "keys" / "SN00000001.key", keys.seal(made, None))
    serials = csv_file(tmp_path / "s.csv", ["SN00000001,B-1", "SN00000002,B-1"])
    out = tmp_path / "fingerprints.jsonl"
    result = cli("allowlist", "key-manifest", str(serials), "--work-dir", str(tmp_path / "w"), "--out", str(out),
                 "--plaintext-keys")  # fmt: skip
    assert result.status == 1  # one serial has no key yet
    assert "no key for SN00000002" in result.err
    der = made.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [{"SerialNumber": "SN00000001", "public_key_sha256": hashlib.sha256(der).hexdigest()}]
    assert [e.fingerprint for e in entries(out)] == [hashlib.sha256(der).hexdigest()]
    again = cli("allowlist", "key-manifest", str(serials), "--work-dir", str(tmp_path / "w"), "--out", str(out))
    assert again.status == 2  # never overwrites


def test_an_interrupted_import_resumes_by_running_it_again(dynamodb: Any, tmp_path: Path) -> None:
    rows = entries(csv_file(tmp_path / "a.csv", [f"SN{i:08d},B-1" for i in range(250)]))
    table = al.Allowlist(dynamodb, TABLE, FLEET)

    def interrupt(done: int) -> None:
        if done >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        table.import_entries(rows, progress=interrupt)
    assert len(items(dynamodb)) == 100
    again = table.import_entries(rows)
    assert (again.written, again.unchanged) == (150, 100)
    assert len(items(dynamodb)) == 250


def test_two_imports_at_once_of_overlapping_files_store_each_serial_once(dynamodb: Any, tmp_path: Path) -> None:
    import threading

    a = entries(csv_file(tmp_path / "a.csv", [f"SN{i:08d},B-1" for i in range(0, 300)]))
    b = entries(csv_file(tmp_path / "b.csv", [f"SN{i:08d},B-1" for i in range(150, 450)]))
    summaries: list[al.ImportSummary] = []
    threads = [
        threading.Thread(target=lambda e=e: summaries.append(al.Allowlist(dynamodb, TABLE, FLEET).import_entries(e)))
        for e in (a, b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(items(dynamodb)) == 450
    assert all(not s.conflicts for s in summaries)
    assert sum(s.written + s.unchanged for s in summaries) == 600


def test_cli_rejects_file_keeps_every_bad_row_with_its_reason(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "mixed.csv", ["SN00000001,B-1", "sn-lower,B-1", "SN00000003,b_bad"])
    rejects = tmp_path / "rejects.csv"
    parsed = al.read_import_file(path, SCHEMA)
    assert al.write_rejects(path, rejects, parsed.errors) == 2
    lines = rejects.read_text().splitlines()
    assert lines[0] == "SerialNumber,Batch"
    assert lines[1].startswith(f"# {path}:3: SerialNumber 'sn-lower'")
    assert lines[2] == "sn-lower,B-1"
    assert lines[4] == "SN00000003,b_bad"
    # The rejects file, fixed, imports: each reason is a comment line a spreadsheet user deletes.
    fixed = tmp_path / "fixed.csv"
    fixed.write_text("\n".join(line for line in lines if not line.startswith("#")).replace("sn-lower", "SN00000002")
                     .replace("b_bad", "B-2") + "\n")  # fmt: skip
    assert [e.serial for e in entries(fixed)] == ["SN00000002", "SN00000003"]


def test_allow_reprovision_revoke_and_release_record_who_and_why(dynamodb: Any, tmp_path: Path) -> None:
    table = al.Allowlist(dynamodb, TABLE, FLEET)
    table.import_entries(entries(csv_file(tmp_path / "a.csv", ["SN00000001,B-1"])))
    item = table.allow_reprovision("SN00000001", by="alice", reason="RMA 1", fingerprint="ab" * 32)
    assert (item["allow_reprovision"]["BOOL"], item["reprovision_allowed_by"]["S"]) == (True, "alice")
    assert item["public_key_sha256"]["S"] == "ab" * 32
    revoked = table.mark_revoked("SN00000001", by="bob", reason="stolen")
    assert (revoked["status"]["S"], revoked["revoked_from"]["S"], revoked["revoke_reason"]["S"]) == (
        "REVOKED",
        "ALLOWED",
        "stolen",
    )
    assert "allow_reprovision" not in revoked
    with pytest.raises(UsageError, match="REVOKED"):
        table.allow_reprovision("SN00000001", by="alice", reason="again", fingerprint=None)
    released = table.mark_released("SN00000001", by="carol", reason="found")
    assert (released["status"]["S"], released["released_by"]["S"]) == ("ALLOWED", "carol")
    with pytest.raises(UsageError, match="not revoked"):
        table.mark_released("SN00000001", by="carol", reason="twice")
    with pytest.raises(UsageError, match="not on the allowlist"):
        table.mark_revoked("SN99999999", by="bob", reason="typo")
