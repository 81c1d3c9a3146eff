"""Each policy decision of the MQTT contract, probed with plain mosquitto_pub / mosquitto_sub (no SDK)."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from iot_emulator.double import Double
from tests.iot_emulator.helpers import Identity, device_with_policy
from tests.iot_emulator.test_mqtt_contract import PROBE_STATEMENTS

MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("mosquitto") is None or shutil.which("mosquitto_pub") is None,
        reason="mosquitto and mosquitto-clients not installed (make setup)",
    ),
]


@pytest.fixture(scope="module")
def probe(double: Double, tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return device_with_policy(double, tmp_path_factory.mktemp("mprobe"), "test-mosquitto-probe", PROBE_STATEMENTS)


def tls(double: Double, ident: Identity) -> list[str]:
    assert ident.cert_file is not None
    return ["-h", "localhost", "-p", str(double.endpoint.port), "--cafile", str(double.endpoint.ca_file),
            "--cert", str(ident.cert_file), "--key", str(ident.key_file)]  # fmt: skip


def pub(double: Double, ident: Identity, *args: str, version: str = "mqttv5") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MOSQUITTO_PUB, *tls(double, ident), "-V", version, *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def sub(double: Double, ident: Identity, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [MOSQUITTO_SUB, *tls(double, ident), "-V", "mqttv5", "-F", "%r %t %p", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.7)  # subscribed (mosquitto_sub has no "ready" signal)
    return proc


def refused(result: subprocess.CompletedProcess[str], reason: str = "") -> bool:
    """mosquitto_pub exits 0 after a refused MQTT 5 PUBLISH but warns "Publish 1 failed: <reason>"."""
    text = result.stderr + result.stdout
    failed = result.returncode != 0 or "failed" in text or "error" in text.lower()
    return failed and reason.lower() in text.lower()


def lines(proc: subprocess.Popen[str], timeout: float = 10) -> list[str]:
    out, _ = proc.communicate(timeout=timeout)
    return out.splitlines()


def me() -> str:
    return f"probe-m-{uuid.uuid4().hex[:8]}"


def test_will_denied_and_allowed(double: Double, probe: Identity) -> None:
    client = me()
    denied = pub(double, probe, "-i", client, "-t", f"probe/{client}/t", "-m", "x", "--will-topic", "probe/x/cmd",
                 "--will-payload", "evil")  # fmt: skip
    assert refused(denied, "not authorized")
    watcher = sub(double, probe, "-i", me(), "-t", f"probe/{client}/will", "-C", "1", "-W", "10")
    holder = subprocess.Popen(
        [MOSQUITTO_SUB, *tls(double, probe), "-V", "mqttv5", "-i", client, "-t", f"probe/{client}/in",
         "--will-topic", f"probe/{client}/will", "--will-payload", "gone"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)
    holder.kill()  # drops without DISCONNECT: the Will is published
    holder.wait()
    assert lines(watcher) == [f"0 probe/{client}/will gone"]


def test_retained_denied_allowed_and_exact_match_delivery(double: Double, probe: Identity) -> None:
    client = me()
    refusal = pub(double, probe, "-i", client, "-t", f"probe/{client}/plain", "-m", "x", "-r", "-q", "1")
    assert refused(refusal, "not authorized")  # no iot:RetainPublish on that topic
    topic = f"probe/{client}/retained/cfg"
    kept = pub(double, probe, "-i", client, "-t", topic, "-m", "v1", "-r", "-q", "1")
    assert not refused(kept), kept.stderr
    exact = sub(double, probe, "-i", me(), "-t", topic, "-C", "1", "-W", "5")
    assert lines(exact) == [f"1 {topic} v1"]  # the retain flag is set on the copy sent on subscribe
    wildcard = sub(double, probe, "-i", me(), "-t", f"probe/{client}/retained/#", "-C", "1", "-W", "3")
    assert lines(wildcard) == []  # never to a wildcard filter
    reserved = pub(double, probe, "-i", client, "-t", "$aws/things/x/shadow/update", "-m", "{}", "-r", "-q", "1")
    assert refused(reserved, "topic name invalid")


def test_qos_2_gets_no_suback(double: Double, probe: Identity) -> None:
    client = me()
    started = time.monotonic()
    result = subprocess.run(
        [MOSQUITTO_SUB, *tls(double, probe), "-V", "mqttv5", "-i", client, "-t", f"probe/{client}/q", "-q", "2",
         "-C", "1", "-W", "3"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert time.monotonic() - started >= 2.5  # waited for a SUBACK that never came
    qos2 = pub(double, probe, "-i", client, "-t", f"probe/{client}/q", "-m", "x", "-q", "2")
    assert "QoS not supported" in qos2.stderr  # the client read CONNACK's Maximum QoS 1


def test_limits(double: Double, probe: Identity, tmp_path: Path) -> None:
    client = me()
    deep = pub(double, probe, "-i", client, "-t", f"probe/{client}/a/b/c/d/e/f/g", "-m", "x", "-q", "1")
    assert refused(deep, "topic name invalid")  # eight slashes
    big = tmp_path / "big"
    big.write_bytes(b"x" * (128 * 1024 + 1))
    over = pub(double, probe, "-i", client, "-t", f"probe/{client}/big", "-f", str(big), "-q", "1", version="mqttv311")
    assert refused(over)
    big.write_bytes(b"x" * (128 * 1024))
    at = pub(double, probe, "-i", client, "-t", f"probe/{client}/big", "-f", str(big), "-q", "1", version="mqttv311")
    assert not refused(at), at.stderr
    long_id = pub(double, probe, "-i", "probe-" + "x" * 123, "-t", "probe/x", "-m", "x")
    assert refused(long_id, "identifier")
