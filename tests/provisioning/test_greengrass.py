"""Greengrass core configs: the documents (parsed back as YAML), first-boot configs and export-key, via the CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from contracts import outputs as contract
from contracts.exit_status import ExitStatus
from provisioning import greengrass
from provisioning.errors import UsageError
from provisioning.keys import FileKeyStore
from tests.provisioning.conftest import PASSPHRASE, cli

ENDPOINTS = greengrass.Endpoints("eu-west-1", "data.example", 8883, "creds.example", "cores-alias")


def test_core_config_with_a_file_key_has_the_nucleus_keys() -> None:
    key = greengrass.FileKey("/greengrass/v2/private.key")
    document = yaml.safe_load(greengrass.to_yaml(greengrass.core_config(
        thing="core-SN1", root="/greengrass/v2", endpoints=ENDPOINTS, key=key, nucleus_version="2.14.0",
    )))  # fmt: skip
    assert document["system"] == {
        "certificateFilePath": "/greengrass/v2/certificate.pem",
        "privateKeyPath": "/greengrass/v2/private.key",
        "rootCaPath": "/greengrass/v2/root-ca.pem",
        "rootpath": "/greengrass/v2",
        "thingName": "core-SN1",
    }
    nucleus = document["services"]["aws.greengrass.Nucleus"]
    assert nucleus["componentType"] == "NUCLEUS"
    assert nucleus["version"] == "2.14.0"
    assert nucleus["configuration"] == {
        "awsRegion": "eu-west-1",
        "iotRoleAlias": "cores-alias",
        "iotDataEndpoint": "data.example",
        "iotCredEndpoint": "creds.example",
    }
    assert list(document["services"]) == ["aws.greengrass.Nucleus"]


def test_core_config_with_a_token_key_uses_the_pkcs11_provider_and_a_non_default_port() -> None:
    key = greengrass.Pkcs11Key(library="/usr/lib/softhsm/libsofthsm2.so", slot=1234567, user_pin="1234", label="SN1")
    endpoints = greengrass.Endpoints("eu-west-1", "localhost", 41883, "localhost", "cores-alias")
    document = yaml.safe_load(greengrass.to_yaml(greengrass.core_config(
        thing="core-SN1", root="/gg", endpoints=endpoints, key=key,
    )))  # fmt: skip
    assert document["system"]["privateKeyPath"] == "pkcs11:object=SN1;type=private"
    assert document["services"]["aws.greengrass.crypto.Pkcs11Provider"]["configuration"] == {
        "name": "iot-provision", "library": "/usr/lib/softhsm/libsofthsm2.so", "slot": 1234567, "userPin": "1234",
    }  # fmt: skip
    assert document["services"]["aws.greengrass.Nucleus"]["configuration"]["mqtt"] == {"port": 41883}
    assert "version" not in document["services"]["aws.greengrass.Nucleus"]


def test_yaml_quotes_what_yaml_would_read_otherwise() -> None:
    tricky = {"a": "yes", "b": "0123", "c": "x: y", "d": "#no", "e": "null", "f": 'quote"s', "g": {}, "h": 3}
    assert yaml.safe_load(greengrass.to_yaml(tricky)) == tricky


@pytest.mark.parametrize("serial", ["SN 1", "SN/1", "ä", "x" * 130])
def test_device_id_refuses_serials_that_cannot_be_client_ids(serial: str) -> None:
    with pytest.raises(UsageError):
        greengrass.device_id("claim.cores.", serial)


def test_device_id_is_inside_the_prefix() -> None:
    assert greengrass.device_id("claim.cores.", "SN-1").startswith("claim.cores.")


# The CLI with an outputs file naming a core fleet ------------------------------------------------------


def core_outputs(tmp_path: Path, *, kind: str = contract.KIND_GREENGRASS_CORE, **drop: bool) -> Path:
    fleet = "cores"

    def key(output: contract.FleetOutput) -> str:
        return contract.fleet_key(fleet, output)

    (tmp_path / "ca.pem").write_text("not read by these commands\n")
    values = {
        contract.FLEET_NAMES: fleet,
        key(contract.FleetOutput.TEMPLATE_NAME): "acme-dev-cores",
        key(contract.FleetOutput.SERIAL_PARAMETER): "SerialNumber",
        key(contract.FleetOutput.THING_NAME_TEMPLATE): "core-{SerialNumber}",
        key(contract.FleetOutput.PARAMETER_PATTERNS): json.dumps({"SerialNumber": "^[A-Z0-9]{4,16}$"}),
        key(contract.FleetOutput.PARAMETER_DEFAULTS): json.dumps({}),
        key(contract.FleetOutput.PUBLISH_NAMESPACES): json.dumps([]),
        key(contract.FleetOutput.CLAIM_CLIENT_ID_PREFIX): "claim.cores.",
        key(contract.FleetOutput.KIND): kind,
        key(contract.FleetOutput.ROLE_ALIAS_NAME): "acme-dev-cores-alias",
    }
    if drop.get("alias"):
        del values[key(contract.FleetOutput.ROLE_ALIAS_NAME)]
    if drop.get("prefix"):
        del values[key(contract.FleetOutput.CLAIM_CLIENT_ID_PREFIX)]
    double: dict[str, str] = {"Endpoint": "localhost", "Port": "41883", "CaFile": str(tmp_path / "ca.pem")}
    if not drop.get("double_region"):
        double["Region"] = "eu-west-1"
    if not drop.get("credentials"):
        double["CredentialProviderEndpoint"] = "localhost"
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"Fleet": values, contract.DOUBLE_SECTION: double}))
    return path


def manifest(tmp_path: Path, *serials: str) -> Path:
    path = tmp_path / "cores.csv"
    path.write_text("SerialNumber\n" + "".join(f"{s}\n" for s in serials))
    return path


def test_first_boot_config_per_device_with_a_client_id_in_the_claim_prefix(tmp_path: Path) -> None:
    out = tmp_path / "first-boot"
    result = cli("first-boot-config", str(manifest(tmp_path, "CORE0001", "CORE0002")), "--outputs",
                 str(core_outputs(tmp_path)), "--fleet", "cores", "--out", str(out))  # fmt: skip
    assert result.status == ExitStatus.OK, result.text
    documents: dict[str, Any] = {p.parent.name: yaml.safe_load(p.read_text()) for p in out.glob("*/config.yaml")}
    assert sorted(documents) == ["CORE0001", "CORE0002"]
    plugin = documents["CORE0001"]["services"]["aws.greengrass.FleetProvisioningByClaim"]["configuration"]
    assert plugin == {
        "rootPath": "/greengrass/v2",
        "awsRegion": "eu-west-1",
        "iotDataEndpoint": "localhost",
        "iotCredentialEndpoint": "localhost",
        "iotRoleAlias": "acme-dev-cores-alias",
        "provisioningTemplate": "acme-dev-cores",
        "claimCertificatePath": "/greengrass/v2/claim-certs/claim.pem",
        "claimCertificatePrivateKeyPath": "/greengrass/v2/claim-certs/claim.key",
        "rootCaPath": "/greengrass/v2/root-ca.pem",
        "templateParameters": {"SerialNumber": "CORE0001"},
        "deviceId": "claim.cores.CORE0001",
        "mqttPort": 41883,
    }
    nucleus = documents["CORE0002"]["services"]["aws.greengrass.Nucleus"]["configuration"]
    assert nucleus["iotRoleAlias"] == "acme-dev-cores-alias"


@pytest.mark.parametrize(
    ("outputs_kw", "extra", "message"),
    [
        ({"kind": contract.KIND_DEVICE}, [], "is not a Greengrass core fleet"),
        ({"prefix": True}, [], "no claim client-ID prefix"),
        ({"alias": True}, [], "without a role alias output"),
        ({"credentials": True}, [], "--credentials-endpoint"),
        ({"double_region": True}, [], "--region"),
        ({}, ["--greengrass-root", "relative/path"], "not an absolute path"),
    ],
)
def test_first_boot_config_bad_inputs_are_usage_errors(
    tmp_path: Path, outputs_kw: dict[str, Any], extra: list[str], message: str
) -> None:
    out = tmp_path / "first-boot"
    result = cli("first-boot-config", str(manifest(tmp_path, "CORE0001")), "--outputs",
                 str(core_outputs(tmp_path, **outputs_kw)), "--fleet", "cores", "--out", str(out), *extra,
                 environ={k: v for k, v in os.environ.items() if not k.startswith("AWS_")})  # fmt: skip
    assert result.status == ExitStatus.USAGE, result.text
    assert message in result.err
    assert "Traceback" not in result.text
    assert not out.exists()


def test_first_boot_config_refuses_a_bad_manifest_naming_the_line(tmp_path: Path) -> None:
    out = tmp_path / "first-boot"
    result = cli("first-boot-config", str(manifest(tmp_path, "CORE0001", "bad serial")), "--outputs",
                 str(core_outputs(tmp_path)), "--fleet", "cores", "--out", str(out))  # fmt: skip
    assert result.status == ExitStatus.USAGE
    assert "cores.csv:3: SerialNumber" in result.err
    assert not out.exists()


# export-key -------------------------------------------------------------------------------------------


def work_dir_with_key(tmp_path: Path, *, encrypted: bool = True) -> tuple[Path, Any]:
    work = tmp_path / "work"
    store = FileKeyStore(work / "keys", passphrase=PASSPHRASE.encode() if encrypted else None)
    store.open()
    store.generate("CORE0001")
    return work, store.load("CORE0001")


def test_export_key_writes_the_device_copy_0600_and_move_leaves_one(tmp_path: Path) -> None:
    work, key = work_dir_with_key(tmp_path)
    out = tmp_path / "image" / "greengrass" / "v2" / "private.key"
    result = cli("export-key", "--work-dir", str(work), "--device", "CORE0001", "--out", str(out), "--move",
                 environ={"PROVISIONING_KEY_PASSPHRASE": PASSPHRASE})  # fmt: skip
    assert result.status == ExitStatus.OK, result.text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    exported = serialization.load_pem_private_key(out.read_bytes(), password=None)
    assert exported.public_key() == key.public_key()
    assert not (work / "keys" / "CORE0001.key").exists()
    assert "BEGIN" not in result.text  # the key is never printed


def test_export_key_to_a_pipe_and_never_to_a_terminal(tmp_path: Path) -> None:
    work, key = work_dir_with_key(tmp_path, encrypted=False)
    args = ("export-key", "--work-dir", str(work), "--device", "CORE0001", "--out", "-", "--plaintext-keys")
    on_terminal = cli(*args, tty=True)
    assert on_terminal.status == ExitStatus.USAGE
    assert "BEGIN" not in on_terminal.text
    piped = cli(*args)
    assert piped.status == ExitStatus.OK, piped.text
    assert serialization.load_pem_private_key(piped.out.encode(), password=None).public_key() == key.public_key()
    assert (work / "keys" / "CORE0001.key").exists()


@pytest.mark.parametrize(
    ("args", "environ", "message", "status"),
    [
        (["--device", "CORE0009"], {"PROVISIONING_KEY_PASSPHRASE": PASSPHRASE}, "no file key for device CORE0009",
         ExitStatus.USAGE),
        (["--device", "CORE0001"], {}, "no passphrase", ExitStatus.USAGE),
        (["--device", "CORE0001"], {"PROVISIONING_KEY_PASSPHRASE": "wrong"}, "passphrase does not open",
         ExitStatus.UNAVAILABLE),
    ],
)  # fmt: skip
def test_export_key_bad_inputs(
    tmp_path: Path, args: list[str], environ: dict[str, str], message: str, status: int
) -> None:
    work, _ = work_dir_with_key(tmp_path)
    out = tmp_path / "out.key"
    result = cli("export-key", "--work-dir", str(work), "--out", str(out), *args, environ=environ)
    assert result.status == status, result.text
    assert message in result.err
    assert not out.exists()
    assert (work / "keys" / "CORE0001.key").exists()


def test_export_key_never_overwrites_nor_writes_into_the_work_dir(tmp_path: Path) -> None:
    work, _ = work_dir_with_key(tmp_path)
    environ = {"PROVISIONING_KEY_PASSPHRASE": PASSPHRASE}
    existing = tmp_path / "existing.key"
    existing.write_text("keep me")
    result = cli("export-key", "--work-dir", str(work), "--device", "CORE0001", "--out", str(existing), environ=environ)
    assert result.status == ExitStatus.USAGE
    assert existing.read_text() == "keep me"
    inside = work / "bundles" / "private.key"
    result = cli("export-key", "--work-dir", str(work), "--device", "CORE0001", "--out", str(inside), environ=environ)
    assert result.status == ExitStatus.USAGE
    assert "inside the work dir" in result.err
    assert not inside.exists()


# run on the example's cores fleet, against the double ---------------------------------------------------


def cores_run(outputs: Path, tmp_path: Path, serials: list[str], *extra: str) -> list[str]:
    manifest_file = tmp_path / "cores.csv"
    manifest_file.write_text("SerialNumber\n" + "".join(f"{s}\n" for s in serials))
    return ["run", str(manifest_file), "--outputs", str(outputs), "--fleet", "cores", "--work-dir",
            str(tmp_path / "work"), "--rate", "0", "--trusted-user", *extra]  # fmt: skip


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "operator")  # boto3 reads the process environment
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator")


@pytest.mark.integration
def test_run_writes_the_nucleus_config_for_an_encrypted_file_key(
    double: Any, outputs: Path, tmp_path: Path, passphrase_env: dict[str, str], operator: None
) -> None:
    serial = "GC10000001"
    double.allow_serial("cores", serial)
    result = cli(*cores_run(outputs, tmp_path, [serial], "--greengrass-root", "/opt/gg"), environ=passphrase_env)
    assert result.status == ExitStatus.OK, result.text
    bundle = tmp_path / "work" / "bundles" / f"core-pla01-{serial}"
    config_file = bundle / "greengrass" / "config.yaml"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    config = yaml.safe_load(config_file.read_text())
    endpoint = json.loads(outputs.read_text())["IotDouble"]
    assert config["system"] == {
        "certificateFilePath": "/opt/gg/certificate.pem", "privateKeyPath": "/opt/gg/private.key",
        "rootCaPath": "/opt/gg/root-ca.pem", "rootpath": "/opt/gg", "thingName": f"core-pla01-{serial}",
    }  # fmt: skip
    nucleus = config["services"]["aws.greengrass.Nucleus"]["configuration"]
    fleet = next(v for v in json.loads(outputs.read_text()).values() if "FleetNames" in v)
    assert nucleus == {
        "awsRegion": "eu-west-1", "iotRoleAlias": fleet["FleetCoresRoleAliasName"],
        "iotDataEndpoint": endpoint["Endpoint"], "iotCredEndpoint": endpoint["CredentialProviderEndpoint"],
        "mqtt": {"port": int(endpoint["Port"])},
    }  # fmt: skip
    # the station's key stays encrypted; config.yaml names where export-key puts it
    assert (tmp_path / "work" / "keys" / f"{serial}.key").read_bytes().startswith(b"-----BEGIN ENCRYPTED")
    assert "PRIVATE KEY" not in config_file.read_text()
    device = json.loads((bundle / "device.json").read_text())
    assert device["key"]["greengrassPrivateKeyPath"] == "/opt/gg/private.key"


@pytest.mark.integration
def test_run_with_token_keys_names_the_key_by_its_pkcs11_uri(
    double: Any, outputs: Path, tmp_path: Path, softhsm: dict[str, str], operator: None
) -> None:
    serial = "GC10000002"
    double.allow_serial("cores", serial)
    args = cores_run(
        outputs, tmp_path, [serial], "--key-store", "pkcs11", "--pkcs11-module", softhsm["module"],
        "--token-label", softhsm["token_label"], "--pkcs11-library-on-device", "/usr/lib/tpm2-pkcs11.so",
    )  # fmt: skip
    result = cli(*args, environ={**os.environ, "PROVISIONING_PKCS11_PIN": softhsm["pin"]})
    assert result.status == ExitStatus.OK, result.text
    config_file = tmp_path / "work" / "bundles" / f"core-pla01-{serial}" / "greengrass" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    assert config["system"]["privateKeyPath"] == f"pkcs11:object={serial};type=private"
    provider = config["services"]["aws.greengrass.crypto.Pkcs11Provider"]["configuration"]
    from provisioning.keys import Pkcs11KeyStore

    keys = Pkcs11KeyStore(module=softhsm["module"], token_label=softhsm["token_label"], pin=softhsm["pin"])
    try:
        slot = keys.token.slot_id
        assert keys.public_key(serial) is not None  # the key the URI names is in that token
    finally:
        keys.close()
    assert provider == {"name": "iot-provision", "library": "/usr/lib/tpm2-pkcs11.so", "slot": slot,
                        "userPin": softhsm["pin"]}  # fmt: skip
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600


@pytest.mark.integration
@pytest.mark.parametrize(
    ("fleet", "extra", "message"),
    [
        ("sensors", ["--greengrass-root", "/gg"], "is not a Greengrass core fleet"),
        ("cores", ["--greengrass-root", "gg"], "not an absolute path"),
    ],
)
def test_run_refuses_greengrass_options_before_touching_a_device(
    double: Any, outputs: Path, tmp_path: Path, operator: None, fleet: str, extra: list[str], message: str
) -> None:
    args = cores_run(outputs, tmp_path, ["GC10000003"], "--plaintext-keys", *extra)
    args[args.index("--fleet") + 1] = fleet
    if fleet == "sensors":
        (tmp_path / "cores.csv").write_text("SerialNumber,MacAddress\nSN10000003,AA:BB:CC:DD:EE:03\n")
    result = cli(*args)
    assert result.status == ExitStatus.USAGE, result.text
    assert message in result.err
    assert not (tmp_path / "work" / "keys").exists()


@pytest.mark.integration
def test_run_without_a_credentials_endpoint_is_one_usage_error(outputs: Path, tmp_path: Path, operator: None) -> None:
    data = json.loads(outputs.read_text())
    del data["IotDouble"]["CredentialProviderEndpoint"]
    changed = tmp_path / "outputs-changed.json"
    changed.write_text(json.dumps(data))
    result = cli(*cores_run(changed, tmp_path, ["GC10000004"], "--plaintext-keys"))
    assert result.status == ExitStatus.USAGE, result.text
    assert "--credentials-endpoint" in result.err
    assert not (tmp_path / "work" / "keys").exists()


@pytest.mark.integration
def test_first_boot_config_provisions_as_the_plugin_would_with_its_device_id(
    double: Any, outputs: Path, tmp_path: Path
) -> None:
    """What the fleet-provisioning-by-claim plugin does with the config: connect with the claim as
    ``deviceId`` and call RegisterThing with ``templateParameters``; a random UUID (the plugin's
    default) is refused by the fleet's claim policy."""
    import uuid

    from tests.iot_emulator.helpers import Client, identity

    serial = "GC20000001"
    double.allow_serial("cores", serial)
    out = tmp_path / "first-boot"
    result = cli("first-boot-config", str(manifest(tmp_path, serial)), "--outputs", str(outputs), "--fleet", "cores",
                 "--out", str(out))  # fmt: skip
    assert result.status == ExitStatus.OK, result.text
    config = yaml.safe_load((out / serial / "config.yaml").read_text())
    plugin = config["services"]["aws.greengrass.FleetProvisioningByClaim"]["configuration"]
    fleet = next(v for v in json.loads(outputs.read_text()).values() if "FleetNames" in v)
    assert plugin["provisioningTemplate"] == fleet["FleetCoresTemplateName"]
    claim = identity(tmp_path, "cores-claim")
    _, pem = double.add_certificate(claim.csr, [fleet["FleetCoresClaimPolicyName"]])
    claim.cert_file = tmp_path / "cores-claim.pem"
    claim.cert_file.write_text(pem)

    refused = Client(double, claim, str(uuid.uuid4()))
    try:
        assert refused.connected.wait(10) or refused.disconnected.wait(10)
        assert refused.connack is None or refused.connack.is_failure
    finally:
        refused.close()

    c = Client(double, claim, plugin["deviceId"])
    try:
        assert c.connected.wait(10)
        assert not c.connack.is_failure
        csr_topic = "$aws/certificates/create-from-csr/json"
        register = f"$aws/provisioning-templates/{plugin['provisioningTemplate']}/provision/json"
        assert c.subscribe(*(f"{t}/{x}" for t in (csr_topic, register) for x in ("accepted", "rejected"))) == [1] * 4
        device = identity(tmp_path, serial)
        topic, created = c.request(csr_topic, {"certificateSigningRequest": device.csr})
        assert topic.endswith("/accepted"), created
        topic, registered = c.request(register, {
            "certificateOwnershipToken": created["certificateOwnershipToken"],
            "parameters": plugin["templateParameters"],
        })  # fmt: skip
        assert topic.endswith("/accepted"), registered
        assert registered["thingName"] == f"core-pla01-{serial}"
    finally:
        c.close()
