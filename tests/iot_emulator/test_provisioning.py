"""The double's provisioning service on the session's cdk.out: the project's real hook runs against
moto server (DynamoDB), certificates come from the local CA, the registry is SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from iot_emulator import assembly as asm_mod
from iot_emulator.ca import CertificateAuthority, certificate_id
from iot_emulator.errors import ServiceError
from iot_emulator.hooks import HookRunner
from iot_emulator.moto_backend import MotoServer
from iot_emulator.provisioning import Knobs, ProvisioningService
from iot_emulator.registry import Registry
from tests.conftest import Synth

#: Every test here runs the project's hook in a worker process against moto server.
pytestmark = pytest.mark.integration

REGION = "eu-west-1"
CLAIM = "f" * 64


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def env(synth: Synth, moto_server: MotoServer, tmp_path: Path) -> Iterator[dict[str, Any]]:
    assembly = asm_mod.load(synth.outdir, region=REGION)
    dynamodb = boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=moto_server.url,
        aws_access_key_id="double",
        aws_secret_access_key="double",
    )
    for table in assembly.tables.values():
        existing = dynamodb.list_tables()["TableNames"]
        if table.name in existing:
            dynamodb.delete_table(TableName=table.name)
        dynamodb.create_table(
            TableName=table.name,
            KeySchema=table.key_schema,
            AttributeDefinitions=table.attribute_definitions,
            BillingMode="PAY_PER_REQUEST",
        )
    registry = Registry(tmp_path / "registry.sqlite", arn_prefix=assembly.iot_arn_prefix)
    registry.define(thing_types=assembly.thing_types, groups=assembly.thing_groups, policies=assembly.policies)
    hooks = {
        name: HookRunner(t.hook, aws_environment=moto_server.environment(REGION))
        for name, t in assembly.templates.items()
        if t.hook is not None
    }
    knobs = Knobs(rates={})
    service = ProvisioningService(
        assembly=assembly, registry=registry, ca=CertificateAuthority(tmp_path / "ca"), hooks=hooks, knobs=knobs
    )
    (table,) = assembly.tables.values()
    yield {
        "service": service,
        "registry": registry,
        "dynamodb": dynamodb,
        "table": table.name,
        "knobs": knobs,
        "hooks": hooks,
    }
    for hook in hooks.values():
        hook.close()
    registry.close()


def allow(env: dict[str, Any], fleet: str, serial: str) -> None:
    env["dynamodb"].put_item(
        TableName=env["table"], Item={"fleet": {"S": fleet}, "serial": {"S": serial}, "status": {"S": "ALLOWED"}}
    )


def csr_pem(key: Any = None) -> tuple[str, Any]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def provision(env: dict[str, Any], serial: str, template: str = "acme-dev-sensors", **params: str) -> dict[str, Any]:
    service: ProvisioningService = env["service"]
    pem, _ = csr_pem()
    created = service.create_certificate_from_csr({"certificateSigningRequest": pem})
    parameters = {"SerialNumber": serial, "MacAddress": "AA:BB:CC:DD:EE:01", **params}
    return {
        "created": created,
        "registered": service.register_thing(
            template,
            {"certificateOwnershipToken": created["certificateOwnershipToken"], "parameters": parameters},
            claim_certificate_id=CLAIM,
            client_id="claim.acme-dev-sensors.1",
        ),
    }


def test_csr_to_registered_thing(env: dict[str, Any]) -> None:
    allow(env, "sensors", "SN00000001")
    service: ProvisioningService = env["service"]
    pem, key = csr_pem()
    created = service.create_certificate_from_csr({"certificateSigningRequest": pem})
    cert = x509.load_pem_x509_certificate(created["certificatePem"].encode())
    assert created["certificateId"] == certificate_id(cert)  # SHA-256 of the DER
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(service.ca.certificate)
    registry: Registry = env["registry"]
    record = registry.certificate(created["certificateId"])
    assert record is not None
    assert record.status == "PENDING_ACTIVATION"

    answer = service.register_thing(
        "acme-dev-sensors",
        {
            "certificateOwnershipToken": created["certificateOwnershipToken"],
            "parameters": {"SerialNumber": "SN00000001", "MacAddress": "AA:BB:CC:DD:EE:01"},
        },
        claim_certificate_id=CLAIM,
        client_id="claim.acme-dev-sensors.1",
    )
    assert answer == {
        "deviceConfiguration": {
            "telemetryTopic": "dt/sensors/sensor-SN00000001/telemetry",
            "reportIntervalSeconds": "300",
        },
        "thingName": "sensor-SN00000001",
    }
    thing = registry.thing("sensor-SN00000001")
    assert thing is not None
    assert thing.type == "acme-dev-env-sensor"
    assert thing.groups == ("acme-dev-plant-a-sensors",)
    assert thing.attributes == {"serial": "SN00000001", "mac": "AA:BB:CC:DD:EE:01", "model": "ES-A"}
    record = registry.certificate(created["certificateId"])
    assert record is not None
    assert record.status == "ACTIVE"
    arn = registry.cert_arn(created["certificateId"])
    assert registry.policies_of(arn) == ["acme-dev-sensors-device"]
    assert registry.thing_principals("sensor-SN00000001") == [arn]
    item = env["dynamodb"].get_item(
        TableName=env["table"], Key={"fleet": {"S": "sensors"}, "serial": {"S": "SN00000001"}}
    )["Item"]
    assert item["status"]["S"] == "CLAIMED"  # the project's hook ran against moto
    assert item["claimed_certificate_id"]["S"] == created["certificateId"]


def test_token_is_single_use(env: dict[str, Any]) -> None:
    allow(env, "sensors", "SN00000002")
    result = provision(env, "SN00000002")
    with pytest.raises(ServiceError) as info:
        env["service"].register_thing(
            "acme-dev-sensors",
            {
                "certificateOwnershipToken": result["created"]["certificateOwnershipToken"],
                "parameters": {"SerialNumber": "SN00000002", "MacAddress": "AA:BB:CC:DD:EE:01"},
            },
            claim_certificate_id=CLAIM,
            client_id="c",
        )
    assert info.value.error_code == "InvalidCertificateOwnershipToken"


def test_serial_missing_from_allowlist_is_denied_by_the_hook(env: dict[str, Any]) -> None:
    with pytest.raises(ServiceError) as info:
        provision(env, "SN99999999")
    assert info.value.payload()["statusCode"] == 403
    assert info.value.error_code == "AccessDenied"
    assert env["registry"].thing("sensor-SN99999999") is None


def test_empty_token_has_the_documented_rejection(env: dict[str, Any]) -> None:
    with pytest.raises(ServiceError) as info:
        env["service"].register_thing(
            "acme-dev-sensors", {"certificateOwnershipToken": ""}, claim_certificate_id=CLAIM, client_id="c"
        )
    assert info.value.payload() == {
        "statusCode": 400,
        "errorCode": "InvalidCertificateOwnershipToken",
        "errorMessage": "Certificate ownership token cannot be empty.",
    }


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"certificateSigningRequest": "garbage"}, "InvalidRequest"),
        (
            {"certificateSigningRequest": csr_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))[0]},
            "InvalidRequest",
        ),
        ({"certificateSigningRequest": csr_pem(ec.generate_private_key(ec.SECP256K1()))[0]}, "InvalidRequest"),
        (["not", "an", "object"], "InvalidRequest"),
    ],
    ids=["garbage", "rsa-1024", "secp256k1", "not-an-object"],
)
def test_bad_csr_requests(env: dict[str, Any], payload: Any, code: str) -> None:
    with pytest.raises(ServiceError) as info:
        env["service"].create_certificate_from_csr(payload)
    assert info.value.status_code == 400
    assert info.value.error_code == code


def test_unknown_template(env: dict[str, Any]) -> None:
    with pytest.raises(ServiceError) as info:
        env["service"].register_thing(
            "nope", {"certificateOwnershipToken": "t"}, claim_certificate_id=CLAIM, client_id="c"
        )
    assert info.value.status_code == 404


def test_hook_slower_than_five_seconds_denies(env: dict[str, Any]) -> None:
    allow(env, "sensors", "SN00000003")
    hook: HookRunner = env["hooks"]["acme-dev-sensors"]
    hook.budget = 0.2  # the knob shortens the budget instead of sleeping 5 s in a unit test
    hook.extra_delay = 0.3
    with pytest.raises(ServiceError) as info:
        provision(env, "SN00000003")
    assert info.value.error_code == "AccessDenied"
    assert "did not answer within" in info.value.message


def test_throttling_knob(env: dict[str, Any]) -> None:
    env["knobs"].throttle["CreateCertificateFromCsr"] = True
    with pytest.raises(ServiceError) as info:
        env["service"].create_certificate_from_csr({"certificateSigningRequest": csr_pem()[0]})
    assert info.value.status_code == 429


def test_unactivated_certificates_are_deleted_when_the_token_expires(env: dict[str, Any]) -> None:
    service: ProvisioningService = env["service"]
    env["knobs"].token_ttl_seconds = 60
    created = service.create_certificate_from_csr({"certificateSigningRequest": csr_pem()[0]})
    assert created["certificateId"] not in service.sweep_expired()
    now = service.clock()
    service.clock = lambda: now + 61  # a minute later, without waiting one
    assert created["certificateId"] in service.sweep_expired()
    assert env["registry"].certificate(created["certificateId"]) is None


def test_reprovisioning_keeps_the_thing_and_merges(env: dict[str, Any]) -> None:
    env["dynamodb"].put_item(
        TableName=env["table"],
        Item={
            "fleet": {"S": "sensors"},
            "serial": {"S": "SN00000004"},
            "status": {"S": "ALLOWED"},
            "allow_reprovision": {"BOOL": True},
        },
    )
    first = provision(env, "SN00000004")
    second = provision(env, "SN00000004", MacAddress="AA:BB:CC:DD:EE:02")
    assert first["registered"]["thingName"] == second["registered"]["thingName"]
    thing = env["registry"].thing("sensor-SN00000004")
    assert thing.attributes["mac"] == "AA:BB:CC:DD:EE:02"  # AttributePayload MERGE
    assert len(env["registry"].thing_principals("sensor-SN00000004")) == 2


def test_default_rates_throttle_register_thing(env: dict[str, Any]) -> None:
    service: ProvisioningService = env["service"]
    service.limiter.rates["CreateCertificateFromCsr"] = 2.0
    codes = []
    for _ in range(4):
        try:
            service.create_certificate_from_csr({"certificateSigningRequest": csr_pem()[0]})
            codes.append(200)
        except ServiceError as exc:
            codes.append(exc.status_code)
    assert codes == [200, 200, 429, 429]
