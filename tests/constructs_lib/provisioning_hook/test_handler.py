"""The pre-provisioning hook against moto's DynamoDB: the handler's boto3 code runs unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from constructs_lib.provisioning_hook.runtime import handler as hook

TABLE = "allowlist"
FLEET = "sensors"
CERT_A = "a" * 64
CERT_B = "b" * 64
ENV = {
    "ALLOWLIST_TABLE": TABLE,
    "FLEET_NAME": FLEET,
    "SERIAL_PARAMETER": "SerialNumber",
    "PARAMETER_PATTERNS": json.dumps(
        {
            "SerialNumber": "^[A-Z0-9]{8,16}$",
            "MacAddress": "^([0-9A-F]{2}:){5}[0-9A-F]{2}$",
            "Batch": "^[A-Z0-9-]{1,20}$",
        }
    ),
    "PARAMETER_DEFAULTS": json.dumps({"Batch": "UNKNOWN"}),
    "THING_NAME_TEMPLATE": "sensor-{SerialNumber}",
}


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
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
        monkeypatch.setattr(hook, "_settings", None)
        monkeypatch.setattr(hook, "_client", None)
        yield client


def allow(client: Any, serial: str, **extra: Any) -> None:
    item: dict[str, Any] = {"fleet": {"S": FLEET}, "serial": {"S": serial}, "status": {"S": "ALLOWED"}}
    item.update(extra)
    client.put_item(TableName=TABLE, Item=item)


def event(serial: str = "SN00000001", cert: str = CERT_A, **params: str) -> dict[str, Any]:
    return {
        "claimCertificateId": "c" * 64,
        "certificateId": cert,
        "certificatePem": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----",
        "templateArn": "arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/acme-dev-sensors",
        "clientId": "claim.acme-dev-sensors.1",
        "parameters": {"SerialNumber": serial, "MacAddress": "AA:BB:CC:DD:EE:FF", **params},
    }


def item(client: Any, serial: str) -> dict[str, Any]:
    result: dict[str, Any] = client.get_item(TableName=TABLE, Key={"fleet": {"S": FLEET}, "serial": {"S": serial}})
    found: dict[str, Any] = result.get("Item", {})
    return found


def test_allowlisted_serial_is_allowed_and_claimed(dynamodb: Any) -> None:
    allow(dynamodb, "SN00000001")
    assert hook.handler(event(), None) == {"allowProvisioning": True, "parameterOverrides": {}}
    stored = item(dynamodb, "SN00000001")
    assert stored["status"]["S"] == "CLAIMED"
    assert stored["claimed_certificate_id"]["S"] == CERT_A
    assert stored["thing_name"]["S"] == "sensor-SN00000001"
    assert stored["provision_count"]["N"] == "1"


def test_unknown_serial_is_denied_and_nothing_written(dynamodb: Any) -> None:
    assert hook.handler(event("SN99999999"), None) == {"allowProvisioning": False}
    assert item(dynamodb, "SN99999999") == {}


def test_replay_with_another_certificate_is_denied(dynamodb: Any) -> None:
    allow(dynamodb, "SN00000001")
    assert hook.handler(event(cert=CERT_A), None)["allowProvisioning"] is True
    assert hook.handler(event(cert=CERT_B), None) == {"allowProvisioning": False}
    assert item(dynamodb, "SN00000001")["claimed_certificate_id"]["S"] == CERT_A


def test_retry_with_the_same_certificate_is_allowed(dynamodb: Any) -> None:
    """A RegisterThing whose response was lost is retried by the device with the same certificate."""
    allow(dynamodb, "SN00000001")
    assert hook.handler(event(cert=CERT_A), None)["allowProvisioning"] is True
    assert hook.handler(event(cert=CERT_A), None)["allowProvisioning"] is True


def test_reprovisioning_allowed_by_the_entry(dynamodb: Any) -> None:
    allow(dynamodb, "SN00000001", allow_reprovision={"BOOL": True})
    assert hook.handler(event(cert=CERT_A), None)["allowProvisioning"] is True
    assert hook.handler(event(cert=CERT_B), None)["allowProvisioning"] is True
    stored = item(dynamodb, "SN00000001")
    assert stored["claimed_certificate_id"]["S"] == CERT_B
    assert stored["provision_count"]["N"] == "2"


def test_revoked_serial_is_denied_even_with_reprovisioning(dynamodb: Any) -> None:
    allow(dynamodb, "SN00000001", status={"S": "REVOKED"}, allow_reprovision={"BOOL": True})
    assert hook.handler(event(), None) == {"allowProvisioning": False}


@pytest.mark.parametrize(
    "params",
    [
        {"SerialNumber": "sn-lower"},
        {"MacAddress": "aa:bb:cc:dd:ee:ff"},
        {"Extra": "x"},
        {"SerialNumber": "SN00000001\n"},
    ],
    ids=["serial-pattern", "mac-pattern", "unknown-parameter", "trailing-newline"],
)
def test_bad_parameters_are_denied_before_the_table(dynamodb: Any, params: dict[str, str]) -> None:
    allow(dynamodb, "SN00000001")
    bad = event()
    bad["parameters"].update(params)
    assert hook.handler(bad, None) == {"allowProvisioning": False}
    assert item(dynamodb, "SN00000001")["status"]["S"] == "ALLOWED"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.pop("parameters"),
        lambda e: e.update(parameters=["SN00000001"]),
        lambda e: e.update(certificateId="not-a-cert-id"),
        lambda e: e["parameters"].pop("MacAddress"),
    ],
    ids=["no-parameters", "parameters-not-a-map", "bad-certificate-id", "missing-required"],
)
def test_malformed_events_are_denied(dynamodb: Any, mutate: Any) -> None:
    allow(dynamodb, "SN00000001")
    bad = event()
    mutate(bad)
    assert hook.handler(bad, None) == {"allowProvisioning": False}


def test_table_error_denies(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWLIST_TABLE", "no-such-table")
    assert hook.handler(event(), None) == {"allowProvisioning": False}


def test_trusted_values_from_the_allowlist_override_the_device(dynamodb: Any) -> None:
    allow(
        dynamodb,
        "SN00000001",
        parameters={"M": {"Batch": {"S": "B-2026-11"}, "SerialNumber": {"S": "EVIL0001"}, "Nope": {"S": "x"}}},
    )
    answer = hook.handler(event(Batch="DEVICE-SAYS"), None)
    # Only declared, pattern-valid parameters; never the serial itself.
    assert answer == {"allowProvisioning": True, "parameterOverrides": {"Batch": "B-2026-11"}}


def test_of_many_certificates_presenting_one_serial_only_the_first_wins(dynamodb: Any) -> None:
    """The claim is one conditional write. DynamoDB evaluates the condition atomically per item;
    moto does not serialize concurrent threads, so this checks the condition, one request at a time."""
    allow(dynamodb, "SN00000001")
    settings = hook.Settings(dict(ENV))
    hook.decide(event(cert=CERT_A), settings, dynamodb)
    for c in "bcdef":
        with pytest.raises(hook.Denied, match="already provisioned with another certificate"):
            hook.decide(event(cert=c * 64), settings, dynamodb)
    assert item(dynamodb, "SN00000001")["claimed_certificate_id"]["S"] == "a" * 64


def test_decision_is_logged_without_the_certificate_pem(dynamodb: Any, caplog: pytest.LogCaptureFixture) -> None:
    allow(dynamodb, "SN00000001")
    with caplog.at_level("INFO", logger="pre_provisioning_hook"):
        hook.handler(event(), None)
    record = json.loads(caplog.records[-1].getMessage())
    assert record["decision"] == "allow"
    assert record["serial"] == "SN00000001"
    assert "BEGIN CERTIFICATE" not in caplog.text


# Trusted parameters: values the device never chooses -------------------------------------------------


@pytest.fixture
def trusted(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Batch is trusted with a default; Site is trusted without one (the allowlist must hold it)."""
    patterns = {**json.loads(ENV["PARAMETER_PATTERNS"]), "Site": "^[a-z]{3}[0-9]{2}$"}
    monkeypatch.setenv("PARAMETER_PATTERNS", json.dumps(patterns))
    monkeypatch.setenv("TRUSTED_PARAMETERS", json.dumps(["Batch", "Site"]))
    monkeypatch.setenv("THING_NAME_TEMPLATE", "sensor-{Site}-{SerialNumber}")
    return dynamodb


def test_trusted_values_come_from_the_entry_or_default_never_the_device(trusted: Any) -> None:
    allow(trusted, "SN00000001", parameters={"M": {"Site": {"S": "pla02"}}})
    answer = hook.handler(event(Batch="B-FROM-DEVICE", Site="zzz99"), None)
    assert answer == {"allowProvisioning": True, "parameterOverrides": {"Batch": "UNKNOWN", "Site": "pla02"}}
    assert item(trusted, "SN00000001")["thing_name"]["S"] == "sensor-pla02-SN00000001"


def test_a_trusted_value_missing_from_the_entry_denies_before_the_claim(trusted: Any) -> None:
    allow(trusted, "SN00000001")
    assert hook.handler(event(Site="pla01"), None) == {"allowProvisioning": False}
    stored = item(trusted, "SN00000001")
    assert stored["status"]["S"] == "ALLOWED", "the serial is not claimed by a refused request"
    assert "claimed_certificate_id" not in stored


def test_a_stored_trusted_value_not_matching_its_pattern_denies_before_the_claim(trusted: Any) -> None:
    allow(trusted, "SN00000001", parameters={"M": {"Site": {"S": "PLANT-A"}}})
    assert hook.handler(event(), None) == {"allowProvisioning": False}
    assert item(trusted, "SN00000001")["status"]["S"] == "ALLOWED"


# Keys bound at manufacture, one-shot re-provisioning -------------------------------------------------


def _certificate(key: Any) -> str:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AWS IoT Certificate")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _spki_sha256(key: Any) -> str:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_public_key_fingerprint_is_the_sha256_of_the_spki(kind: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)
    assert hook.public_key_sha256(_certificate(key)) == _spki_sha256(key)


@pytest.mark.parametrize(
    "pem",
    [None, "", "not a pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", 42],
)
def test_unreadable_certificates_have_no_fingerprint(pem: object) -> None:
    assert hook.public_key_sha256(pem) is None


def _event_with(key: Any, cert: str = CERT_A) -> dict[str, Any]:
    e = event(cert=cert)
    e["certificatePem"] = _certificate(key)
    return e


def test_recorded_fingerprint_refuses_another_key_and_admits_the_bound_one(dynamodb: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    bound, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    allow(dynamodb, "SN00000001", public_key_sha256={"S": _spki_sha256(bound)})
    assert hook.handler(_event_with(other, CERT_B), None) == {"allowProvisioning": False}
    assert item(dynamodb, "SN00000001")["status"]["S"] == "ALLOWED"  # the attacker claimed nothing
    no_pem = event(cert=CERT_B)
    no_pem.pop("certificatePem", None)
    assert hook.handler(no_pem, None) == {"allowProvisioning": False}
    assert hook.handler(_event_with(bound, CERT_A), None)["allowProvisioning"] is True
    assert item(dynamodb, "SN00000001")["claimed_certificate_id"]["S"] == CERT_A


def test_fingerprint_denial_is_logged_with_its_reason(dynamodb: Any, caplog: pytest.LogCaptureFixture) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    allow(dynamodb, "SN00000001", public_key_sha256={"S": "0" * 64})
    with caplog.at_level("INFO", logger="pre_provisioning_hook"):
        hook.handler(_event_with(ec.generate_private_key(ec.SECP256R1())), None)
    assert "does not match the fingerprint recorded" in caplog.text


def test_reprovisioning_is_one_shot_and_keeps_the_replaced_certificate(dynamodb: Any) -> None:
    allow(dynamodb, "SN00000001")
    assert hook.handler(event(cert=CERT_A), None)["allowProvisioning"] is True
    dynamodb.update_item(
        TableName=TABLE,
        Key={"fleet": {"S": FLEET}, "serial": {"S": "SN00000001"}},
        UpdateExpression="SET allow_reprovision = :t",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    assert hook.handler(event(cert=CERT_B), None)["allowProvisioning"] is True
    stored = item(dynamodb, "SN00000001")
    assert stored["claimed_certificate_id"]["S"] == CERT_B
    assert stored["previous_certificate_id"]["S"] == CERT_A
    assert "allow_reprovision" not in stored
    assert hook.handler(event(cert=CERT_B), None)["allowProvisioning"] is True  # a retry of the new one
    assert hook.handler(event(cert="c" * 64), None) == {"allowProvisioning": False}  # consumed
