"""The double's IoT credentials provider over mutual-TLS HTTPS, on its port-443-style listener."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from iot_emulator.double import Double
from iot_emulator.provisioning import Knobs
from tests.conftest import Synth
from tests.iot_emulator import edge_assembly, x509_probe
from tests.iot_emulator.helpers import identity

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
]


@dataclass(frozen=True)
class Device:
    name: str
    certificate_id: str
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="session")
def edge_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return edge_assembly.synth(tmp_path_factory.mktemp("edge-assembly") / "cdk.out")


@pytest.fixture(scope="module")
def edge_double(edge_outdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Double]:
    d = Double(
        edge_outdir, tmp_path_factory.mktemp("edge-double"), region="eu-west-1", knobs=Knobs(rates={}), port=0,
        alpn_port=0,
    )  # fmt: skip
    d.start()
    yield d
    d.stop()


def device(double: Double, directory: Path, name: str, policies: list[str], **thing: Any) -> Device:
    ident = identity(directory, name)
    certificate_id, pem = double.add_certificate(ident.csr, policies)
    cert_file = directory / f"{name}.pem"
    cert_file.write_text(pem)
    if thing.pop("register", True):
        double.add_thing(name, certificate_id=certificate_id, **thing)
    return Device(name, certificate_id, cert_file, ident.key_file)


def connection(double: Double, dev: Device | None, alpn: list[str] | None = None) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(double.endpoint.ca_file))
    if dev is not None:
        context.load_cert_chain(str(dev.cert_file), str(dev.key_file))
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    assert double.endpoint.alpn_port is not None
    return http.client.HTTPSConnection(double.endpoint.host, double.endpoint.alpn_port, context=context, timeout=30)


def get(
    double: Double, dev: Device, alias: str = edge_assembly.ALIAS, thing: str | None = None, **kw: Any
) -> tuple[int, dict[str, str], dict[str, Any]]:
    conn = connection(double, dev, **kw)
    headers = {"x-amzn-iot-thingname": thing} if thing is not None else {}
    conn.request("GET", f"/role-aliases/{alias}/credentials", headers=headers)
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_core_gets_credentials_for_its_alias_minted_by_moto_sts(edge_double: Double, tmp_path: Path) -> None:
    core = device(edge_double, tmp_path, "edge-core-1", ["edge-core"], thing_type=None)
    before = time.time()
    status, _, body = get(edge_double, core, thing=core.name)
    assert status == 200, body
    creds = body["credentials"]
    assert set(creds) == {"accessKeyId", "secretAccessKey", "sessionToken", "expiration"}
    expires = datetime.strptime(creds["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert before + edge_assembly.DURATION - 5 <= expires <= time.time() + edge_assembly.DURATION + 5
    # the credentials are moto's: STS knows them as the alias's role, in a session named by the certificate
    sts = boto3.client(
        "sts", region_name="eu-west-1", endpoint_url=edge_double.moto.url, aws_access_key_id=creds["accessKeyId"],
        aws_secret_access_key=creds["secretAccessKey"], aws_session_token=creds["sessionToken"],
    )  # fmt: skip
    arn = sts.get_caller_identity()["Arn"]
    (role_arn,) = {arn for arn, _ in edge_double.assembly.role_aliases.values()}
    assert f":assumed-role/{role_arn.rsplit('/', 1)[1]}/{core.certificate_id[:64]}" in arn
    issued = edge_double.credentials.issued[creds["accessKeyId"]]
    assert issued.role_alias == edge_assembly.ALIAS
    assert issued.context == {
        "credentials-iot:AwsCertificateId": core.certificate_id,
        "credentials-iot:ThingName": core.name,
    }


def test_without_the_header_there_are_no_thing_variables(edge_double: Double, tmp_path: Path) -> None:
    core = device(edge_double, tmp_path, "edge-core-2", ["edge-core"])
    status, _, body = get(edge_double, core, alpn=["h2", "http/1.1"])
    assert status == 200, body
    issued = edge_double.credentials.issued[body["credentials"]["accessKeyId"]]
    assert issued.context == {"credentials-iot:AwsCertificateId": core.certificate_id}


def test_thing_type_is_an_iam_context_key(edge_double: Double, tmp_path: Path) -> None:
    edge_double.registry.define(thing_types=["edge-type"], groups={}, policies={})
    core = device(edge_double, tmp_path, "edge-core-3", ["edge-core"], thing_type="edge-type")
    status, _, body = get(edge_double, core, thing=core.name)
    assert status == 200
    issued = edge_double.credentials.issued[body["credentials"]["accessKeyId"]]
    assert issued.context["credentials-iot:ThingTypeName"] == "edge-type"


def test_a_device_whose_policy_lacks_the_alias_is_refused(edge_double: Double, tmp_path: Path) -> None:
    sensor = device(edge_double, tmp_path, "edge-sensor-1", ["edge-sensor"])
    status, headers, body = get(edge_double, sensor, thing=sensor.name)
    assert (status, headers["x-amzn-errortype"]) == (403, "AccessDeniedException")
    assert set(body) == {"message"}


def test_a_thing_not_attached_to_the_certificate_is_refused(edge_double: Double, tmp_path: Path) -> None:
    core = device(edge_double, tmp_path, "edge-core-4", ["edge-core"])
    other = device(edge_double, tmp_path, "edge-core-5", ["edge-core"])
    assert get(edge_double, core, thing=other.name)[0] == 403
    assert get(edge_double, core, thing="no-such-thing")[0] == 403
    assert get(edge_double, core, thing=core.name)[0] == 200


def test_unknown_alias_is_404_only_where_the_policy_allows_it(edge_double: Double, tmp_path: Path) -> None:
    core = device(edge_double, tmp_path, "edge-core-6", ["edge-core"])
    anyone = device(edge_double, tmp_path, "edge-any-1", ["edge-any-alias"])
    assert get(edge_double, core, alias="other-alias")[0] == 403
    status, headers, _ = get(edge_double, anyone, alias="other-alias")
    assert (status, headers["x-amzn-errortype"]) == (404, "ResourceNotFoundException")
    assert get(edge_double, anyone)[0] == 200


def test_registry_attributes_decide_only_with_the_thing_header(edge_double: Double, tmp_path: Path) -> None:
    inside = device(edge_double, tmp_path, "edge-site-1", ["edge-site"], attributes={"site": "plant-1"})
    outside = device(edge_double, tmp_path, "edge-site-2", ["edge-site"], attributes={"site": "plant-2"})
    assert get(edge_double, inside, thing=inside.name)[0] == 200
    assert get(edge_double, inside)[0] == 403  # no thing, no attribute
    assert get(edge_double, outside, thing=outside.name)[0] == 403


def test_inactive_or_unregistered_certificates_are_refused(edge_double: Double, tmp_path: Path) -> None:
    core = device(edge_double, tmp_path, "edge-core-7", ["edge-core"])
    edge_double.registry.set_certificate_status(core.certificate_id, "INACTIVE")
    status, _, body = get(edge_double, core, thing=core.name)
    assert status == 403
    assert body["message"] == "Certificate is invalid on this endpoint"


def test_bad_requests_and_keep_alive(edge_double: Double, tmp_path: Path) -> None:
    core = device(edge_double, tmp_path, "edge-core-8", ["edge-core"])
    conn = connection(edge_double, core)
    for method, path, expected in (
        ("GET", f"/role-aliases/{edge_assembly.ALIAS}/credentials", 200),
        ("POST", f"/role-aliases/{edge_assembly.ALIAS}/credentials", 400),
        ("GET", "/role-aliases/bad alias/credentials", 400),
        ("GET", "/", 400),
        ("GET", f"/role-aliases/{edge_assembly.ALIAS}/credentials", 200),
    ):
        conn.request(method, path.replace(" ", "%20"))
        response = conn.getresponse()
        json.loads(response.read())
        assert response.status == expected, (method, path)
    conn.close()


def test_no_client_certificate_no_credentials(edge_double: Double) -> None:
    conn = connection(edge_double, None)

    def request() -> None:
        conn.request("GET", f"/role-aliases/{edge_assembly.ALIAS}/credentials")
        conn.getresponse().read()

    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException, socket.timeout)):
        request()
    conn.close()


def test_describe_endpoint_credential_provider(edge_double: Double) -> None:
    outputs = edge_double.outputs()["IotDouble"]
    iot = boto3.client(
        "iot", region_name="eu-west-1", endpoint_url=outputs["ControlPlaneUrl"], aws_access_key_id="x",
        aws_secret_access_key="x",
    )  # fmt: skip
    assert iot.describe_endpoint(endpointType="iot:CredentialProvider")["endpointAddress"] == "localhost"
    assert outputs["CredentialProviderPort"] == str(edge_double.endpoint.alpn_port)


@pytest.mark.skipif(not x509_probe.can_isolate(), reason="no network namespace (unshare) for port 443")
def test_awscrt_x509_provider_gets_credentials_for_a_core_and_not_for_a_sensor(
    edge_outdir: Path, tmp_path: Path
) -> None:
    result = x509_probe.isolated([
        sys.executable, "-m", "tests.iot_emulator.x509_probe", "--cdk-out", str(edge_outdir),
        "--state", str(tmp_path / "state"), "--work", str(tmp_path / "work"), "--scenario", "fixture",
    ])  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers["core"]["ok"], answers
    assert answers["core"]["accessKeyId"]
    assert not answers["sensor"]["ok"], answers


def test_create_thing_then_attach_then_credentials_for_that_thing(edge_double: Double, tmp_path: Path) -> None:
    outputs = edge_double.outputs()["IotDouble"]
    iot = boto3.client(
        "iot", region_name="eu-west-1", endpoint_url=outputs["ControlPlaneUrl"], aws_access_key_id="x",
        aws_secret_access_key="x",
    )  # fmt: skip
    core = device(edge_double, tmp_path, "edge-core-9", ["edge-core"], register=False)
    assert get(edge_double, core, thing=core.name)[0] == 403
    created = iot.create_thing(thingName=core.name, attributePayload={"attributes": {"site": "plant-1"}})
    assert created["thingArn"].endswith(f":thing/{core.name}")
    assert iot.create_thing(thingName=core.name, attributePayload={"attributes": {"site": "plant-1"}})
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException):
        iot.create_thing(thingName=core.name)
    iot.attach_thing_principal(thingName=core.name, principal=edge_double.registry.cert_arn(core.certificate_id))
    assert get(edge_double, core, thing=core.name)[0] == 200


@pytest.mark.skipif(not x509_probe.can_isolate(), reason="no network namespace (unshare) for port 443")
def test_a_core_provisioned_by_the_cli_gets_credentials_through_awscrt_and_a_sensor_does_not(
    synth: Synth, tmp_path: Path
) -> None:
    result = x509_probe.isolated([
        sys.executable, "-m", "tests.iot_emulator.x509_probe", "--cdk-out", str(synth.outdir),
        "--state", str(tmp_path / "state"), "--work", str(tmp_path / "work"), "--scenario", "cli",
    ])  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers["core"]["ok"], answers
    assert not answers["sensor"]["ok"], answers
    config = json.loads((tmp_path / "work" / "config.json").read_text())
    assert config["system"]["thingName"] == "core-pla01-GC00000042"
    # one copy of the key: on the device, none left on the station
    assert not list((tmp_path / "work" / "cores" / "keys").glob("*.key"))


def test_concurrent_devices_each_get_their_own_credentials(edge_double: Double, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cores = [device(edge_double, tmp_path, f"edge-many-{i}", ["edge-core"]) for i in range(16)]
    sensors = [device(edge_double, tmp_path, f"edge-many-sensor-{i}", ["edge-sensor"]) for i in range(4)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda d: (d, get(edge_double, d, thing=d.name)), [*cores, *sensors] * 3))
    keys = [body["credentials"]["accessKeyId"] for d, (status, _, body) in answers if status == 200]
    assert len(keys) == len(set(keys)) == 48
    assert all(status == 403 for d, (status, _, _) in answers if d in sensors)
    for d, (status, _, body) in answers:
        if status == 200:
            assert (
                edge_double.credentials.issued[body["credentials"]["accessKeyId"]].context["credentials-iot:ThingName"]
                == d.name
            )
