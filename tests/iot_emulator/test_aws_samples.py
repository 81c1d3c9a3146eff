"""AWS's own device SDK samples, unmodified, against a double on its default ports (8883 and 443/ALPN).

The samples are not part of this project: they are read from a checkout of
aws/aws-iot-device-sdk-python-v2 (``AWS_IOT_SDK_REPO``, a git directory; default: the mirror this
machine keeps) into a temporary directory and run as AWS's READMEs say, after the setup their
READMEs describe (CreatePolicy, CreateKeysAndCertificate, AttachPolicy) done with boto3 against the
double. ``mqtt5_x509.py`` takes no CA option and connects to port 443 with ALPN ``x-amzn-mqtt-ca``
trusting the system store: ``SSL_CERT_FILE`` (read by awscrt's libcrypto) gives it the double's CA.
This test also proves the default ports, so it is skipped when 8883 or 443 is taken.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from iot_emulator.double import Double
from iot_emulator.provisioning import Knobs
from tests.conftest import Synth
from tests.iot_emulator.helpers import identity

SDK_REPO = Path(os.environ.get("AWS_IOT_SDK_REPO", "/work/.mirror/aws+aws-iot-device-sdk-python-v2/repo"))
GIT = shutil.which("git") or "/usr/bin/git"
SAMPLES = ("mqtt/mqtt5_x509.py", "service_clients/fleet_provisioning_csr.py", "service_clients/shadow.py")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)"),
    pytest.mark.skipif(not SDK_REPO.exists(), reason=f"no aws-iot-device-sdk-python-v2 checkout at {SDK_REPO}"),
]


@pytest.fixture(scope="module")
def default_double(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Double]:
    if not (_free(8883) and _free(443)):
        pytest.skip("ports 8883 and 443 are taken")
    d = Double(synth.outdir, tmp_path_factory.mktemp("default-ports"), region="eu-west-1", knobs=Knobs(rates={}))
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("aws-samples")
    for sample in SAMPLES:
        text = subprocess.run(
            [GIT, "--git-dir", str(SDK_REPO / ".git") if (SDK_REPO / ".git").exists() else str(SDK_REPO), "show",
             f"HEAD:samples/{sample}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        (out / Path(sample).name).write_text(text)
    return out


def iot(double: Double) -> Any:
    return boto3.client(
        "iot",
        region_name="eu-west-1",
        endpoint_url=double.outputs()["IotDouble"]["ControlPlaneUrl"],
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def certificate_with(double: Double, directory: Path, name: str, statements: list[dict[str, Any]]) -> tuple[Path, Path]:
    """What the samples' READMEs do with the AWS CLI: create a policy, keys and certificate, attach."""
    client = iot(double)
    prefix = double.assembly.iot_arn_prefix
    for s in statements:
        s["Resource"] = [f"{prefix}:{r}" for r in s["Resource"]]
    client.create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    created = client.create_keys_and_certificate(setAsActive=True)
    client.attach_policy(policyName=name, target=created["certificateArn"])
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    key.chmod(0o600)
    return cert, key


def run_sample(
    double: Double, samples: Path, name: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SSL_CERT_FILE": str(double.endpoint.ca_file)}
    return subprocess.run(
        [sys.executable, str(samples / name), *args], input=stdin, capture_output=True, text=True, env=env,
        timeout=120, check=False,
    )  # fmt: skip


def test_default_ports(default_double: Double) -> None:
    assert (default_double.endpoint.port, default_double.endpoint.alpn_port) == (8883, 443)
    assert default_double.notes == []


def test_mqtt5_x509_sample_on_443_with_alpn(default_double: Double, samples: Path, tmp_path: Path) -> None:
    cert, key = certificate_with(default_double, tmp_path, "sample-pubsub", [
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": ["topic/test/topic"]},
        {"Effect": "Allow", "Action": ["iot:Subscribe"], "Resource": ["topicfilter/test/topic"]},
        {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": ["client/mqtt5-sample-*"]},
    ])  # fmt: skip
    result = run_sample(
        default_double, samples, "mqtt5_x509.py", "--endpoint", "localhost", "--cert", str(cert), "--key", str(key),
        "--count", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Received message from topic 'test/topic'") == 3
    assert "PubackReasonCode.SUCCESS" in result.stdout


def test_fleet_provisioning_csr_sample(default_double: Double, samples: Path, tmp_path: Path) -> None:
    claim = iot(default_double).create_provisioning_claim(templateName="acme-dev-sensors")
    (tmp_path / "claim.pem").write_text(claim["certificatePem"])
    (tmp_path / "claim.key").write_text(claim["keyPair"]["PrivateKey"])
    (tmp_path / "claim.key").chmod(0o600)
    serial = f"SMP{uuid.uuid4().hex[:8].upper()}"
    default_double.allow_serial("sensors", serial)
    device = identity(tmp_path, serial)
    (tmp_path / "device.csr").write_text(device.csr)
    result = run_sample(
        default_double, samples, "fleet_provisioning_csr.py", "--endpoint", "localhost",
        "--cert", str(tmp_path / "claim.pem"), "--key", str(tmp_path / "claim.key"),
        "--template_name", "acme-dev-sensors", "--csr_file", str(tmp_path / "device.csr"),
        "--template_parameters", json.dumps({"SerialNumber": serial, "MacAddress": "AA:BB:CC:DD:EE:0A"}),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"sensor-{serial}" in result.stdout
    thing = default_double.registry.thing(f"sensor-{serial}")
    assert thing is not None
    assert thing.attributes["serial"] == serial


def test_shadow_sample(default_double: Double, samples: Path, tmp_path: Path) -> None:
    thing = f"sample-thing-{uuid.uuid4().hex[:6]}"
    prefix = f"$aws/things/{thing}/shadow"
    ops = ("get", "delete", "update")
    cert, key = certificate_with(default_double, tmp_path, f"sample-shadow-{thing}", [
        {"Effect": "Allow", "Action": ["iot:Publish"], "Resource": [f"topic/{prefix}/{op}" for op in ops]},
        {"Effect": "Allow", "Action": ["iot:Receive"], "Resource": [f"topic/{prefix}/{op}/*" for op in ops]},
        {"Effect": "Allow", "Action": ["iot:Subscribe"], "Resource": [f"topicfilter/{prefix}/{op}/*" for op in ops]},
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": ["client/*"]},
    ])  # fmt: skip
    commands = 'update-desired {"color":"red"}\nupdate-reported {"color":"red"}\nget\ndelete\nget\nquit\n'
    result = run_sample(
        default_double, samples, "shadow.py", "--endpoint", "localhost", "--cert", str(cert), "--key", str(key),
        "--thing", thing, stdin=commands,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for expected in ("update-desired response", "update-reported response", "ShadowDeltaUpdatedEvent",
                     "ShadowUpdatedEvent", "get response", "delete response"):  # fmt: skip
        assert expected in out
    assert out.count("Exception:") == 1  # the last get: no shadow any more
    assert "404" in out.split("Exception:")[1]
