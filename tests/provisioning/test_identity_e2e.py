"""A device identity's lifecycle end to end on the double, with AWS's clients.

boto3 against the double's control plane and moto's DynamoDB, awsiotsdk/awscrt over MQTT with
mutual TLS through mosquitto, the project's hook from cdk.out deciding every RegisterThing.
"""

from __future__ import annotations

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from contracts.exit_status import ExitStatus
from iot_emulator.double import Double
from provisioning import keys
from provisioning import target as target_mod
from provisioning.allowlist import Allowlist, dynamodb_client
from provisioning.lifecycle import Lifecycle, certificate_id_of, iot_client
from provisioning.mqtt_flow import ConnectFailed, Credentials, connect, verify_device
from tests.iot_emulator.helpers import Identity
from tests.provisioning.conftest import cli, common, write_manifest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "operator")  # boto3 reads the process environment
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator")


@pytest.fixture
def iot(double: Double, outputs: Path, aws_env: None) -> Any:
    data = json.loads(outputs.read_text())["IotDouble"]
    return boto3.client("iot", region_name=data["Region"], endpoint_url=data["ControlPlaneUrl"])


def fleet_args(outputs: Path) -> list[str]:
    return ["--outputs", str(outputs), "--fleet", "sensors"]


def provision(outputs: Path, claim: Identity, work: Path, serials: list[str], workers: int = 2) -> None:
    args = ["run", str(write_manifest(work.parent / f"{work.name}.csv", serials)), *common(outputs, work, workers)]
    args += ["--plaintext-keys", "--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file)]
    result = cli(*args)
    assert result.status == ExitStatus.OK, result.text


def device_creds(work: Path, serial: str) -> Credentials:
    thing = f"sensor-{serial}"
    cert = (work / "bundles" / thing / "certificate.pem").read_bytes()
    return Credentials(cert, (work / "keys" / f"{serial}.key").read_bytes())


def certificates(iot: Any, thing: str) -> dict[str, str]:
    """certificate ID -> status, of every certificate attached to ``thing``."""
    out = {}
    for principal in iot.list_thing_principals(thingName=thing)["principals"]:
        cid = principal.rsplit("/", 1)[1]
        out[cid] = iot.describe_certificate(certificateId=cid)["certificateDescription"]["status"]
    return out


def import_rows(tmp_path: Path, outputs: Path, rows: list[dict[str, str]]) -> None:
    path = tmp_path / "allow.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = cli("allowlist", "import", str(path), *fleet_args(outputs))
    assert result.status == ExitStatus.OK, result.text
    assert f"{len(rows)}/{len(rows)} rows" in result.err  # the progress line
    assert f"{len(rows)} added, 0 already there" in result.out
    again = cli("allowlist", "import", str(path), *fleet_args(outputs))
    assert f"0 added, {len(rows)} already there" in again.out  # idempotent


# keys bound at manufacture ---------------------------------------------------------------------------


def test_a_serial_with_a_recorded_fingerprint_cannot_be_claimed_with_another_key(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, aws_env: None
) -> None:
    serial = "SNFP00000001"
    bound = ec.generate_private_key(ec.SECP256R1())  # made earlier: by the secure element's vendor, say
    pem = bound.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    import_rows(tmp_path, outputs, [{"SerialNumber": serial, "public_key": pem.decode()}])
    # Someone with the claim key and the label's serial, and a key of their own: refused by the hook.
    attacker = cli("run", str(write_manifest(tmp_path / "a.csv", [serial])), *common(outputs, tmp_path / "a", 1),
                   "--plaintext-keys", "--max-attempts", "1", *claim_args(claim))  # fmt: skip
    assert attacker.status == ExitStatus.FAILED, attacker.text
    shown = cli("allowlist", "show", serial, *fleet_args(outputs))
    assert json.loads(shown.out)["status"] == "ALLOWED"  # nothing was claimed by the other key
    # The device with the bound key: the station finds the key already made and uses it.
    keys_dir = tmp_path / "w" / "keys"
    keys_dir.mkdir(parents=True)
    keys.write_private(keys_dir / f"{serial}.key", keys.seal(bound, None))
    provision(outputs, claim, tmp_path / "w", [serial])
    entry = json.loads(cli("allowlist", "show", serial, *fleet_args(outputs)).out)
    assert entry["status"] == "CLAIMED"
    cert = (tmp_path / "w/bundles" / f"sensor-{serial}" / "certificate.pem").read_text()
    assert entry["claimed_certificate_id"] == certificate_id_of(cert)


def claim_args(claim: Identity) -> list[str]:
    return ["--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file)]


# RMA ------------------------------------------------------------------------------------------------------


def test_after_an_rma_exactly_one_active_certificate_remains(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, iot: Any
) -> None:
    serial, thing = "SNRMA0000001", "sensor-SNRMA0000001"
    import_rows(tmp_path, outputs, [{"SerialNumber": serial}])
    provision(outputs, claim, tmp_path / "first", [serial])
    first = certificate_id_of((tmp_path / "first/bundles" / thing / "certificate.pem").read_text())
    again = cli("run", str(tmp_path / "first.csv"), *common(outputs, tmp_path / "denied", 1), "--plaintext-keys",
                "--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file))  # fmt: skip
    assert again.status == ExitStatus.FAILED  # not allowed again yet
    allowed = cli("allowlist", "allow-reprovision", serial, "--reason", "RMA 4711", *fleet_args(outputs))
    assert allowed.status == ExitStatus.OK, allowed.text
    provision(outputs, claim, tmp_path / "second", [serial])
    second = certificate_id_of((tmp_path / "second/bundles" / thing / "certificate.pem").read_text())
    # Until the hand-over finishes, both work: the device is never without a certificate.
    assert certificates(iot, thing) == {first: "ACTIVE", second: "ACTIVE"}
    done = cli("rma-finish", serial, *fleet_args(outputs))
    assert done.status == ExitStatus.OK, done.text
    assert certificates(iot, thing) == {second: "ACTIVE"}
    assert iot.describe_certificate(certificateId=first)["certificateDescription"]["status"] == "REVOKED"
    target = target_mod.load(outputs)
    verify_device(target, thing=thing, creds=device_creds(tmp_path / "second", serial), topic=None)
    with pytest.raises(ConnectFailed):
        verify_device(target, thing=thing, creds=device_creds(tmp_path / "first", serial), topic=None)
    entry = json.loads(cli("allowlist", "show", serial, *fleet_args(outputs)).out)
    assert entry["previous_certificate_id"] == first
    assert "allow_reprovision" not in entry  # one-shot
    assert entry["reprovision_reason"] == "RMA 4711"


def test_rma_finish_refuses_while_the_new_certificate_is_not_on_the_thing(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, iot: Any
) -> None:
    serial, thing = "SNRMA0000002", "sensor-SNRMA0000002"
    import_rows(tmp_path, outputs, [{"SerialNumber": serial}])
    provision(outputs, claim, tmp_path / "w", [serial])
    (only,) = certificates(iot, thing)
    iot.detach_thing_principal(thingName=thing, principal=iot.describe_certificate(certificateId=only)[
        "certificateDescription"]["certificateArn"])  # fmt: skip
    result = cli("rma-finish", serial, *fleet_args(outputs))
    assert result.status == ExitStatus.FAILED
    assert "is not attached" in result.err
    assert iot.describe_certificate(certificateId=only)["certificateDescription"]["status"] == "ACTIVE"


# revocation -----------------------------------------------------------------------------------------------


def groups_of(iot: Any, thing: str) -> list[str]:
    return [g["groupName"] for g in iot.list_thing_groups_for_thing(thingName=thing)["thingGroups"]]


def test_a_revoked_device_can_neither_connect_nor_be_provisioned_again(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, iot: Any
) -> None:
    serial, thing = "SNREV0000001", "sensor-SNREV0000001"
    import_rows(tmp_path, outputs, [{"SerialNumber": serial}])
    provision(outputs, claim, tmp_path / "w", [serial])
    target = target_mod.load(outputs)
    creds = device_creds(tmp_path / "w", serial)
    verify_device(target, thing=thing, creds=creds, topic=None)
    revoked = cli(
        "allowlist", "revoke", serial, "--reason", "stolen from site 4", "--by", "alice", *fleet_args(outputs)
    )
    assert revoked.status == ExitStatus.OK, revoked.text
    (cert,) = certificates(iot, thing).values()
    assert cert == "REVOKED"
    quarantine = json.loads(outputs.read_text())
    (group,) = [v["QuarantineGroupName"] for v in quarantine.values() if "QuarantineGroupName" in v]
    assert group in groups_of(iot, thing)
    with pytest.raises(ConnectFailed):
        verify_device(target, thing=thing, creds=creds, topic=None)
    entry = json.loads(cli("allowlist", "show", serial, *fleet_args(outputs)).out)
    assert (entry["status"], entry["revoked_by"], entry["revoke_reason"]) == ("REVOKED", "alice", "stolen from site 4")
    refused = cli("allowlist", "allow-reprovision", serial, "--reason", "x", *fleet_args(outputs))
    assert refused.status == ExitStatus.USAGE
    assert "REVOKED" in refused.err
    # Even an entry edited by hand to allow re-provisioning stays refused by the hook.
    table = Allowlist(dynamodb_client("eu-west-1", json.loads(outputs.read_text())["IotDouble"]["AwsEndpointUrl"]),
                      entry_table(outputs), "sensors")  # fmt: skip
    table.update(serial, "SET allow_reprovision = :t", "attribute_exists(serial)", {":t": {"BOOL": True}}, "edit")
    again = cli("run", str(tmp_path / "w.csv"), *common(outputs, tmp_path / "again", 1), "--plaintext-keys",
                "--claim-cert", str(claim.cert_file), "--claim-key", str(claim.key_file))  # fmt: skip
    assert again.status == ExitStatus.FAILED
    assert len(certificates(iot, thing)) == 1


def entry_table(outputs: Path) -> str:
    data = json.loads(outputs.read_text())
    (table,) = [v["AllowlistTableName"] for v in data.values() if "AllowlistTableName" in v]
    return str(table)


def test_release_undoes_an_inactive_revocation(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, iot: Any
) -> None:
    serial, thing = "SNREV0000002", "sensor-SNREV0000002"
    import_rows(tmp_path, outputs, [{"SerialNumber": serial}])
    provision(outputs, claim, tmp_path / "w", [serial])
    args = fleet_args(outputs)
    assert cli("allowlist", "revoke", serial, "--reason", "lost", "--certificate-status", "INACTIVE", *args).status == 0
    assert list(certificates(iot, thing).values()) == ["INACTIVE"]
    released = cli("allowlist", "release", serial, "--reason", "found in the van", *args)
    assert released.status == ExitStatus.OK, released.text
    assert "1 certificate(s) ACTIVE again, out of quarantine" in released.out
    assert list(certificates(iot, thing).values()) == ["ACTIVE"]
    entry = json.loads(cli("allowlist", "show", serial, *args).out)
    assert (entry["status"], entry["release_reason"]) == ("CLAIMED", "found in the van")
    verify_device(target_mod.load(outputs), thing=thing, creds=device_creds(tmp_path / "w", serial), topic=None)
    assert not any("quarantine" in g.lower() for g in groups_of(iot, thing))


# rotation -------------------------------------------------------------------------------------------------


def test_rotate_a_bench_device_with_the_cli(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, iot: Any
) -> None:
    serial, thing = "SNROT0000001", "sensor-SNROT0000001"
    import_rows(tmp_path, outputs, [{"SerialNumber": serial}])
    provision(outputs, claim, tmp_path / "w", [serial])
    old = certificate_id_of((tmp_path / "w/bundles" / thing / "certificate.pem").read_text())
    cert = tmp_path / "w/bundles" / thing / "certificate.pem"
    current_key = tmp_path / "w" / "keys" / f"{serial}.key"
    result = cli("rotate", "device", serial, "--cert", str(cert), "--key", str(current_key), "--out",
                 str(tmp_path / "new"), "--plaintext-keys", "--grace-days", "0", *fleet_args(outputs))  # fmt: skip
    assert result.status == ExitStatus.OK, result.text
    assert ((tmp_path / "new" / f"{serial}.key").stat().st_mode & 0o777) == 0o600
    new = certificate_id_of((tmp_path / "new" / f"{serial}.pem").read_text())
    assert certificates(iot, thing) == {new: "ACTIVE"}
    assert iot.describe_certificate(certificateId=old)["certificateDescription"]["status"] == "INACTIVE"
    again = cli("rotate", "device", serial, "--cert", str(cert), "--out", str(tmp_path / "new2"), "--plaintext-keys",
                *fleet_args(outputs))  # fmt: skip
    assert again.status == ExitStatus.FAILED  # the old certificate is no longer the serial's
    assert "not the current certificate" in again.err
    assert cli("rotate", "stalled", *fleet_args(outputs)).status in (ExitStatus.OK, ExitStatus.FAILED)
    purged = cli("rotate", "purge", *fleet_args(outputs))
    assert purged.status == ExitStatus.OK, purged.text
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_certificate(certificateId=old)
    # Two more rotations within the grace period: the certificate two generations old goes at once.
    for generation in ("g2", "g3"):
        previous = tmp_path / ("new" if generation == "g2" else "g2") / f"{serial}.pem"
        step = cli("rotate", "device", serial, "--cert", str(previous), "--out", str(tmp_path / generation),
                   "--plaintext-keys", *fleet_args(outputs))  # fmt: skip
        assert step.status == ExitStatus.OK, step.text
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_certificate(certificateId=new)
    g2 = certificate_id_of((tmp_path / "g2" / f"{serial}.pem").read_text())
    g3 = certificate_id_of((tmp_path / "g3" / f"{serial}.pem").read_text())
    assert iot.describe_certificate(certificateId=g2)["certificateDescription"]["status"] == "INACTIVE"
    assert certificates(iot, thing) == {g3: "ACTIVE"}


class Device:
    """A device that keeps an MQTT 5 connection (awscrt) and reconnects with its new certificate."""

    def __init__(self, target: target_mod.Target, thing: str, creds: Credentials) -> None:
        self.target, self.thing = target, thing
        self.client = connect(target, thing, creds)

    def rotate(self, life: Lifecycle, serial: str) -> None:
        from awscrt import mqtt5

        key = ec.generate_private_key(ec.SECP256R1())  # made on the device
        current = life.entry(serial)
        pem = life.iot.describe_certificate(certificateId=current["claimed_certificate_id"])
        issued = life.start_rotation(
            serial, current_pem=pem["certificateDescription"]["certificatePem"], csr_pem=keys.build_csr(key, serial)
        )
        new = connect(self.target, self.thing, Credentials(issued["certificatePem"].encode(), keys.pem_in_memory(key)))
        topic = self.target.fleet("sensors").check_topic(self.thing) or ""
        new.publish(mqtt5.PublishPacket(topic=topic, payload=b"{}", qos=mqtt5.QoS.AT_LEAST_ONCE)).result(10)
        old, self.client = self.client, new
        life.finish_rotation(serial)
        old.stop()

    def check(self) -> None:
        from awscrt import mqtt5

        topic = self.target.fleet("sensors").check_topic(self.thing) or ""
        result = self.client.publish(mqtt5.PublishPacket(topic=topic, payload=b"{}", qos=mqtt5.QoS.AT_LEAST_ONCE))
        assert int(result.result(10).puback.reason_code) == 0

    def close(self) -> None:
        self.client.stop()


@pytest.fixture
def fleet_of_100(double: Double, claim: Identity, outputs: Path, tmp_path: Path, aws_env: None) -> Any:
    serials = [f"SNLOAD{i:06d}" for i in range(100)]
    import_rows(tmp_path, outputs, [{"SerialNumber": s} for s in serials])
    provision(outputs, claim, tmp_path / "w", serials, workers=8)
    return serials, tmp_path / "w"


def test_rotation_of_100_connected_devices_loses_none(fleet_of_100: Any, outputs: Path, iot: Any) -> None:
    serials, work = fleet_of_100
    target = target_mod.load(outputs)
    data = json.loads(outputs.read_text())
    life = Lifecycle(
        Allowlist(dynamodb_client("eu-west-1", data["IotDouble"]["AwsEndpointUrl"]), entry_table(outputs), "sensors"),
        iot_client("eu-west-1", data["IotDouble"]["ControlPlaneUrl"]),
        device_policy=next(
            v["FleetSensorsDevicePolicyName"] for v in data.values() if "FleetSensorsDevicePolicyName" in v
        ),
    )
    with ThreadPoolExecutor(8) as pool:
        devices = list(pool.map(lambda s: Device(target, f"sensor-{s}", device_creds(work, s)), serials))
    failures: list[str] = []
    lock = threading.Lock()

    def rotate(pair: tuple[str, Device]) -> None:
        serial, device = pair
        try:
            device.rotate(life, serial)
        except Exception as exc:
            with lock:
                failures.append(f"{serial}: {exc!r}")

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(rotate, zip(serials, devices, strict=True)))
        assert failures == []
        assert life.stalled(older_than=__import__("datetime").timedelta(0)) == []
        for serial, device in zip(serials, devices, strict=True):
            entry = life.entry(serial)
            assert certificates(iot, f"sensor-{serial}") == {entry["claimed_certificate_id"]: "ACTIVE"}
            device.check()  # still connected, with the new certificate
    finally:
        for device in devices:
            device.close()


def test_rotate_due_lists_the_devices_defender_flags(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, iot: Any
) -> None:
    serial, thing = "SNDUE0000001", "sensor-SNDUE0000001"
    import_rows(tmp_path, outputs, [{"SerialNumber": serial}])
    provision(outputs, claim, tmp_path / "w", [serial])
    (cert,) = certificates(iot, thing)
    double.add_audit_finding({
        "findingId": "due-1",
        "checkName": "DEVICE_CERTIFICATE_AGE_CHECK",
        "severity": "LOW",
        "nonCompliantResource": {
            "resourceType": "DEVICE_CERTIFICATE",
            "resourceIdentifier": {"deviceCertificateId": cert},
        },
    })  # fmt: skip
    result = cli("rotate", "due", *fleet_args(outputs))
    assert result.status == ExitStatus.FAILED
    assert f"{thing}: certificate {cert[:12]} (DEVICE_CERTIFICATE_AGE_CHECK)" in result.out


def test_a_stalled_rotation_started_again_leaves_one_active_certificate(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, iot: Any
) -> None:
    import datetime as dt

    serial, thing = "SNSTALL00001", "sensor-SNSTALL00001"
    import_rows(tmp_path, outputs, [{"SerialNumber": serial}])
    provision(outputs, claim, tmp_path / "w", [serial])
    data = json.loads(outputs.read_text())
    life = Lifecycle(
        Allowlist(dynamodb_client("eu-west-1", data["IotDouble"]["AwsEndpointUrl"]), entry_table(outputs), "sensors"),
        iot_client("eu-west-1", data["IotDouble"]["ControlPlaneUrl"]),
        device_policy="acme-dev-sensors-device",
    )
    current = (tmp_path / "w/bundles" / thing / "certificate.pem").read_text()
    lost = life.start_rotation(
        serial, current_pem=current, csr_pem=keys.build_csr(ec.generate_private_key(ec.SECP256R1()), serial)
    )  # the device went offline before it confirmed
    assert [e["serial"] for e in life.stalled(older_than=dt.timedelta(0))] == [serial]
    stalled = cli("rotate", "stalled", "--after-minutes", "0", *fleet_args(outputs))
    assert stalled.status == ExitStatus.FAILED
    assert serial in stalled.out
    key = ec.generate_private_key(ec.SECP256R1())
    issued = life.start_rotation(serial, current_pem=current, csr_pem=keys.build_csr(key, serial))
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_certificate(certificateId=lost["certificateId"])  # withdrawn
    target = target_mod.load(outputs)
    verify_device(target, thing=thing, creds=Credentials(issued["certificatePem"].encode(), keys.pem_in_memory(key)),
                  topic=target.fleet("sensors").check_topic(thing))  # fmt: skip
    life.finish_rotation(serial)
    assert certificates(iot, thing) == {issued["certificateId"]: "ACTIVE"}
    assert life.stalled(older_than=dt.timedelta(0)) == []


def test_a_refused_bench_rotation_leaves_no_key_behind(
    double: Double, claim: Identity, outputs: Path, tmp_path: Path, iot: Any
) -> None:
    serial = "SNROT0000002"
    import_rows(tmp_path, outputs, [{"SerialNumber": serial}])
    provision(outputs, claim, tmp_path / "w", [serial])
    assert cli("allowlist", "revoke", serial, "--reason", "test", "--allowlist-only", *fleet_args(outputs)).status == 0
    cert = tmp_path / "w/bundles" / f"sensor-{serial}" / "certificate.pem"
    result = cli("rotate", "device", serial, "--cert", str(cert), "--out", str(tmp_path / "new"), "--plaintext-keys",
                 *fleet_args(outputs))  # fmt: skip
    assert result.status == ExitStatus.FAILED
    assert "REVOKED" in result.err
    assert list((tmp_path / "new").iterdir()) == []
