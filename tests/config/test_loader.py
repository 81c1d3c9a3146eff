"""Config validation: the example loads; each bad value gives one message naming file, field, value, rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import config as fleet_config
from tests.conftest import CLAIM_CSR, example_data, write_config

Mutation = Callable[[dict[str, Any]], None]


def _load_mutated(tmp_path: Path, mutate: Mutation) -> fleet_config.ConfigError:
    data = copy.deepcopy(example_data())
    mutate(data)
    path = write_config(tmp_path, data)
    with pytest.raises(fleet_config.ConfigError) as info:
        fleet_config.load(path)
    return info.value


def test_example_config_loads_into_frozen_models() -> None:
    config = fleet_config.load()
    assert len(config.fleets) >= 2
    assert config.template_name_of(config.fleets[0]) == "acme-dev-sensors"
    with pytest.raises(Exception, match="frozen"):
        config.stage = "prod"  # type: ignore[misc]
    parameters: Any = config.fleets[0].parameters
    with pytest.raises(TypeError):
        parameters["X"] = parameters["SerialNumber"]


def _set(path: list[str | int], value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def _long_serial(data: dict[str, Any]) -> None:
    data["fleets"][0]["parameters"]["SerialNumber"]["pattern"] = "^[A-Z0-9]{8,200}$"


def _long_template_name(data: dict[str, Any]) -> None:
    data["name_prefix"] = "acme-corporation"
    data["fleets"][0]["name"] = "long-fleet-name-x"


CASES: list[tuple[str, Mutation, str, str]] = [
    (
        "thing name over 128 characters",
        _long_serial,
        "fleets[0].thing_name: 'sensor-{SerialNumber}'",
        "can reach 207 characters",
    ),
    (
        "template name outside the pattern",
        _set(["fleets", 0, "template_name"], "bad name!"),
        "fleets[0].template_name: 'bad name!'",
        "^[0-9A-Za-z_-]{1,36}$",
    ),
    (
        "derived template name too long",
        _long_template_name,
        "fleets[0].name",
        "shorten the fleet name or set template_name",
    ),
    (
        "unknown thing type",
        _set(["fleets", 0, "thing_type"], "toaster"),
        "fleets[0].thing_type: 'toaster'",
        "is not a thing type declared under thing_types",
    ),
    (
        "topic with +",
        _set(["fleets", 0, "topics", "publish"], ["dt/+/{thing_name}"]),
        "fleets[0].topics.publish[0]: 'dt/+/{thing_name}'",
        "MQTT wildcard '+'",
    ),
    (
        "topic with #",
        _set(["fleets", 0, "topics", "subscribe"], ["cmd/{thing_name}/#"]),
        "fleets[0].topics.subscribe[0]",
        "MQTT wildcard '#'",
    ),
    (
        "namespace without the thing name",
        _set(["fleets", 0, "topics", "publish"], ["dt/all"]),
        "fleets[0].topics.publish[0]: 'dt/all'",
        "must contain {thing_name} exactly once",
    ),
    (
        "namespace with thing name inside a level",
        _set(["fleets", 0, "topics", "publish"], ["dt/x{thing_name}"]),
        "fleets[0].topics.publish[0]",
        "as a whole level",
    ),
    (
        "unknown group",
        _set(["fleets", 0, "thing_groups"], ["plant-z"]),
        "fleets[0].thing_groups[0]: 'plant-z'",
        "not a thing group declared",
    ),
    (
        "group and its parent",
        _set(["fleets", 0, "thing_groups"], ["plant-a", "plant-a-sensors"]),
        "fleets[0].thing_groups[1]",
        "same hierarchy",
    ),
    (
        "unbounded parameter pattern",
        _set(["fleets", 0, "parameters", "SerialNumber", "pattern"], "^[A-Z0-9]+$"),
        "fleets[0].parameters.SerialNumber.pattern",
        "must bound the value's length",
    ),
    (
        "unanchored parameter pattern",
        _set(["fleets", 0, "parameters", "SerialNumber", "pattern"], "[A-Z0-9]{8}"),
        "fleets[0].parameters.SerialNumber.pattern",
        "must be anchored",
    ),
    (
        "serial parameter not declared",
        _set(["fleets", 0, "serial_parameter"], "Serial"),
        "fleets[0].serial_parameter: 'Serial'",
        "is not one of this fleet's parameters",
    ),
    (
        "thing name references unknown parameter",
        _set(["fleets", 0, "thing_name"], "sensor-{Serial}"),
        "fleets[0].thing_name",
        "{Serial} is not one of this fleet's parameters",
    ),
    (
        "attribute not declared by the thing type",
        _set(["fleets", 0, "attributes"], {"colour": "red"}),
        "fleets[0].attributes.colour: 'red'",
        "is not declared by thing type",
    ),
    (
        "four searchable attributes",
        _set(["thing_types", 0, "searchable_attributes"], ["serial", "mac", "model", "batch"]),
        "thing_types[0].searchable_attributes",
        "at most 3 searchable attributes",
    ),
    (
        "claim prefix a thing name could start with",
        _set(["fleets", 0, "provisioning", "claim_client_id_prefix"], "sensor-"),
        "fleets[0].provisioning.claim_client_id_prefix: 'sensor-'",
        "could take over that device's client ID",
    ),
    (
        "unknown field",
        _set(["fleets", 0, "shadow"], True),
        "fleets[0].shadow: True",
        "is not a known field",
    ),
    ("missing stage", lambda d: d.pop("stage"), "stage: (missing)", "is required"),
    (
        "uppercase stage",
        _set(["stage"], "Prod"),
        "stage: 'Prod'",
        "must start with a-z",
    ),
    (
        "account id not 12 digits",
        _set(["environment"], {"account": "1234"}),
        "environment.account: '1234'",
        "12-digit AWS account ID",
    ),
    (
        "operator principal not an ARN",
        _set(["factory", "operator_principals"], ["factory-station"]),
        "factory.operator_principals",
        "must be an IAM role, user or account-root ARN",
    ),
    (
        "no provisioning method",
        _set(["fleets", 0, "provisioning"], {"by_claim": False, "trusted_user": False}),
        "fleets[0].provisioning",
        "switch on by_claim, trusted_user or both",
    ),
    (
        "parent cycle",
        _set(["thing_groups"], [{"name": "a", "parent": "b"}, {"name": "b", "parent": "a"}]),
        "thing_groups[0].parent",
        "cycle",
    ),
    (
        "default not matching its pattern",
        _set(["fleets", 1, "parameters", "SiteCode", "default"], "PLANT"),
        "fleets[1].parameters.SiteCode.default: 'PLANT'",
        "does not match",
    ),
    (
        "duplicate fleet names",
        lambda d: d["fleets"].append(copy.deepcopy(d["fleets"][0])),
        "fleets[3].name: 'sensors'",
        "another fleet already has this name",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "where", "rule"), CASES, ids=[c[0] for c in CASES])
def test_bad_value_gives_clear_message(tmp_path: Path, case: str, mutate: Mutation, where: str, rule: str) -> None:
    error = _load_mutated(tmp_path, mutate)
    text = str(error)
    assert str(tmp_path / "fleet.yaml") in text, "names the file"
    assert where in text, f"names field and value: {text}"
    assert rule in text, f"states the rule: {text}"
    assert "Traceback" not in text


def test_messages_carry_line_numbers(tmp_path: Path) -> None:
    error = _load_mutated(tmp_path, _set(["fleets", 0, "thing_type"], "toaster"))
    lines = (tmp_path / "fleet.yaml").read_text().splitlines()
    issue = error.issues[0]
    assert issue.line is not None
    assert "thing_type: toaster" in lines[issue.line - 1]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def two_problems(data: dict[str, Any]) -> None:
        data["fleets"][0]["thing_type"] = "toaster"
        data["fleets"][1]["serial_parameter"] = "Nope"

    error = _load_mutated(tmp_path, two_problems)
    assert {i.path for i in error.issues} >= {"fleets[0].thing_type", "fleets[1].serial_parameter"}


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet_config.DEFAULT_CONFIG.read_text() + "\nstage: prod\n")
    with pytest.raises(fleet_config.ConfigError, match="duplicate key 'stage'"):
        fleet_config.load(path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("name_prefix: acme\nstage: [dev\n")
    with pytest.raises(fleet_config.ConfigError, match=r"fleet.yaml:\d+: .*is not valid YAML"):
        fleet_config.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(fleet_config.ConfigError, match="cannot read the file"):
        fleet_config.load(tmp_path / "absent.yaml")


# Claim CSRs --------------------------------------------------------------------------------------


def _csr(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "claim")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_claim_csr_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "s.csr.pem").write_text(CLAIM_CSR.read_text())
    data = example_data()
    data["fleets"][0]["provisioning"]["claim_csr_file"] = "claims/s.csr.pem"
    config = fleet_config.load(write_config(tmp_path, data))
    assert config.fleets[0].provisioning.claim_csr_pem == CLAIM_CSR.read_text()


def test_private_key_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    (tmp_path / "claim.pem").write_text(pem)
    error = _load_mutated(tmp_path, _set(["fleets", 0, "provisioning", "claim_csr_file"], "claim.pem"))
    text = str(error)
    assert "holds a PRIVATE KEY" in text
    body = pem.splitlines()[1]
    assert body not in text


@pytest.mark.parametrize(
    ("make_key", "rule"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "at least 2048 bits"),
        (lambda: ec.generate_private_key(ec.SECP256K1()), "accepts P-256, P-384 and P-521"),
    ],
    ids=["rsa-1024", "secp256k1"],
)
def test_csr_with_a_key_aws_iot_refuses(tmp_path: Path, make_key: Callable[[], Any], rule: str) -> None:
    (tmp_path / "c.pem").write_text(_csr(make_key()))
    error = _load_mutated(tmp_path, _set(["fleets", 0, "provisioning", "claim_csr_file"], "c.pem"))
    assert rule in str(error)


def test_garbage_csr(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("hello")
    error = _load_mutated(tmp_path, _set(["fleets", 0, "provisioning", "claim_csr_file"], "c.pem"))
    assert "is not a PEM certificate signing request" in str(error)
