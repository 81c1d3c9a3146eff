"""Fuzz every parser with hypothesis: a clear error or a correct result, never a crash or a hang.

    .venv/bin/python bench/fuzz.py                 # make fuzz: 300 examples per parser
    .venv/bin/python bench/fuzz.py --examples 3000 # longer
    .venv/bin/python bench/fuzz.py --only mqtt     # one parser

Parsers, each with its documented error type (anything else is a crash):
  fleet-config   config.loader.load on generated YAML (mutations of config/fleet.yaml and arbitrary
                 YAML/text): a FleetConfig or ConfigError whose text renders.
  manifest       provisioning.manifest.validate/rows on CSV and JSON lines in UTF-8, UTF-8 with BOM,
                 UTF-16, Latin-1 and arbitrary bytes: a count equal to the rows streamed, or ManifestError
                 / UsageError.
  mqtt           the double's codec against paho's encoder: CONNECT (with Will and properties),
                 PUBLISH, SUBSCRIBE, UNSUBSCRIBE in MQTT 3.1.1 and 5 encoded by paho, parsed back
                 field by field (and re-encoded by the double's encoder where it has one); then the
                 same packets truncated and bit-flipped: ProtocolError or a result.
  payloads       provisioning payloads, JSON and CBOR: generated values round-trip; arbitrary bytes
                 give PayloadError; decoded payloads into RegisterThing's request check give a
                 ServiceError (400) or (token, parameters).
  csr            iot_emulator.ca.check_csr and config.csr.check_csr_pem: real CSRs (EC P-256/P-384,
                 RSA 2048) accepted, mutated DER and arbitrary text refused with ServiceError / a message.
  template-body  iot_semantics.template_eval.evaluate on generated provisioning template bodies
                 (intrinsics, parameters, resources) and text: a plan or TemplateError.
  policy         the review's policy model (compile_policy, evaluate, referenced/unknown variables) on
                 the property tests' generated IoT policies and arbitrary JSON: never raises.
A parser that takes longer than --hang seconds on one example counts as a hang (exit 1).
"""

# Properties assert inside hypothesis examples (not pytest), and refused inputs include weak keys and
# fixed credentials:
# ruff: noqa: PT017, PT018, S106, S505

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cbor2  # noqa: E402
import paho.mqtt.client as paho  # noqa: E402
import yaml  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties as PahoProperties  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

from config import csr as config_csr  # noqa: E402
from config.errors import ConfigError  # noqa: E402
from config.loader import load as load_config  # noqa: E402
from iot_emulator import mqtt_codec as mc  # noqa: E402
from iot_emulator.ca import check_csr  # noqa: E402
from iot_emulator.errors import ProtocolError, ServiceError  # noqa: E402
from iot_emulator.payloads import PayloadError, decode_cbor, decode_json  # noqa: E402
from iot_emulator.provisioning import ProvisioningService  # noqa: E402
from iot_semantics import policy_eval  # noqa: E402
from iot_semantics.template_eval import TemplateError, evaluate  # noqa: E402
from provisioning import manifest  # noqa: E402
from provisioning.errors import UsageError  # noqa: E402
from tests.policy_review.generators import iot_policies  # noqa: E402


class Hang(AssertionError):
    pass


class Tally:
    """Examples run per parser and the outcomes (a result, or which clear error)."""

    def __init__(self, hang: float) -> None:
        self.hang = hang
        self.counts: dict[str, dict[str, int]] = {}
        self.slowest: dict[str, float] = {}

    def run(self, parser: str, call: Callable[[], str]) -> None:
        started = time.monotonic()
        outcome = call()
        took = time.monotonic() - started
        self.slowest[parser] = max(self.slowest.get(parser, 0.0), took)
        if took > self.hang:
            raise Hang(f"{parser}: one example took {took:.1f} s (limit {self.hang} s)")
        seen = self.counts.setdefault(parser, {})
        seen[outcome] = seen.get(outcome, 0) + 1


TALLY = Tally(5.0)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
NASTY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", " ", "\x00", "\ufeff", "SN-1", "a,b", '"', "\r\n", "é", "💥", "{", "${x}", "-" * 200]
)

# fleet config -------------------------------------------------------------------------------------

EXAMPLE = yaml.safe_load((ROOT / "config" / "fleet.yaml").read_text())


def _mutate(node: Any, draw: st.DrawFn, depth: int = 0) -> Any:
    if isinstance(node, dict) and node:
        node = dict(node)
        key = draw(st.sampled_from(sorted(node, key=str)))
        action = draw(st.sampled_from(["drop", "replace", "descend", "descend", "add"]))
        if action == "drop":
            del node[key]
        elif action == "replace":
            node[key] = draw(JSON | NASTY_TEXT)
        elif action == "add":
            node[draw(NASTY_TEXT)] = draw(JSON)
        else:
            node[key] = _mutate(node[key], draw, depth + 1)
        return node
    if isinstance(node, list) and node:
        node = list(node)
        i = draw(st.integers(0, len(node) - 1))
        node[i] = _mutate(node[i], draw, depth + 1) if draw(st.booleans()) else draw(JSON)
        return node
    return draw(JSON | NASTY_TEXT)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "text", "yaml"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "yaml":
        return yaml.safe_dump(draw(JSON))
    data = EXAMPLE
    for _ in range(draw(st.integers(1, 4))):
        data = _mutate(data, draw)
    return yaml.safe_dump(data, allow_unicode=True)


def fuzz_fleet_config(examples: int, work: Path) -> None:
    path = work / "fleet.yaml"

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(config_texts())
    def check(text: str) -> None:
        path.write_text(text)

        def call() -> str:
            try:
                load_config(path)
                return "valid"
            except ConfigError as exc:
                assert str(exc).strip(), "a ConfigError must say something"
                return "ConfigError"

        TALLY.run("fleet-config", call)

    check()


# manifests ------------------------------------------------------------------------------------------

SCHEMA = manifest.Schema(
    patterns={"SerialNumber": r"[A-Z0-9-]{4,32}", "MacAddress": r"([0-9A-F]{2}:){5}[0-9A-F]{2}"},
    serial_parameter="SerialNumber",
    defaults={},
)
SERIALS = st.from_regex(r"[A-Z0-9-]{4,12}", fullmatch=True) | NASTY_TEXT
MACS = st.sampled_from(["AA:BB:CC:DD:EE:FF", "aa:bb:cc:dd:ee:ff", "", "AA:BB"]) | NASTY_TEXT
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]


@st.composite
def manifests(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["csv", "csv", "jsonl", "jsonl", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if draw(st.booleans()):  # well formed: every row valid (duplicates and encodings still vary)
        rows = draw(st.lists(st.tuples(st.from_regex(r"[A-Z0-9-]{4,12}", fullmatch=True),
                                       st.just("AA:BB:CC:DD:EE:FF")), max_size=8))  # fmt: skip
        columns = draw(st.sampled_from([["SerialNumber", "MacAddress"], ["MacAddress", "SerialNumber"]]))
    else:
        rows = draw(st.lists(st.tuples(SERIALS, MACS), max_size=8))
        columns = draw(st.sampled_from([["SerialNumber", "MacAddress"], ["MacAddress", "SerialNumber"], ["SerialNumber"],
                                        ["SerialNumber", "MacAddress", "Extra"], ["serialnumber", "MacAddress"]]))  # fmt: skip
    if kind == "csv":
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        writer.writerow(columns)
        for serial, mac in rows:
            writer.writerow([{"MacAddress": mac, "Extra": "x"}.get(c, serial) for c in columns])
        text = out.getvalue()
    else:
        lines = [
            json.dumps({c: {"MacAddress": mac, "Extra": "x"}.get(c, serial) for c in columns}) for serial, mac in rows
        ]
        if draw(st.booleans()) and lines:
            lines[draw(st.integers(0, len(lines) - 1))] = draw(st.sampled_from(["{", "[]", "1", "null", '{"a": [1]}']))
        text = "\n".join(lines) + "\n"
    encoding = draw(st.sampled_from(ENCODINGS))
    return text.encode(encoding, errors="replace")


def fuzz_manifest(examples: int, work: Path) -> None:
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(manifests(), st.sampled_from([".csv", ".jsonl", ".txt"]))
    def check(data: bytes, suffix: str) -> None:
        path = work / f"m{suffix}"
        path.write_bytes(data)

        def call() -> str:
            try:
                count = manifest.validate(path, SCHEMA)
            except UsageError as exc:  # ManifestError is one
                assert exc.cause.strip()
                return type(exc).__name__
            streamed = list(manifest.rows(path, SCHEMA))
            assert len(streamed) == count, f"validate counted {count}, rows streamed {len(streamed)}"
            assert len({r.serial for r in streamed}) == count, "a serial was streamed twice"
            return "valid"

        TALLY.run("manifest", call)

    check()


# MQTT packets: paho's encoder against the double's codec ---------------------------------------


class _NoSocket:
    def close(self) -> None:
        """Nothing to close."""


class _Capture(paho.Client):
    """paho encoding packets into a list instead of a socket."""

    def __init__(self, protocol: MQTTProtocolVersion, client_id: str = "") -> None:
        super().__init__(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.packets: list[bytes] = []
        self._sock = _NoSocket()  # type: ignore[assignment]  # "connected": paho encodes a PUBLISH only then

    def _packet_queue(self, command: int, packet: bytes | bytearray, mid: int, qos: int, info: Any = None) -> Any:
        self.packets.append(bytes(packet))
        return paho.MQTT_ERR_SUCCESS


TOPICS = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00#+"), min_size=1, max_size=40)
FILTERS = TOPICS | st.sampled_from(["#", "+", "a/+/b", "a/#", "$aws/things/x/shadow/#"])
STRINGS = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


def _props(kind: int, draw: st.DrawFn) -> PahoProperties | None:
    props = PahoProperties(kind)  # type: ignore[no-untyped-call]
    if kind == PacketTypes.PUBLISH:
        if draw(st.booleans()):
            props.MessageExpiryInterval = draw(st.integers(0, 2**32 - 1))
        if draw(st.booleans()):
            props.ContentType = draw(STRINGS)
        if draw(st.booleans()):
            props.ResponseTopic = draw(TOPICS)
        if draw(st.booleans()):
            props.CorrelationData = draw(st.binary(max_size=20))
        if draw(st.booleans()):
            props.TopicAlias = draw(st.integers(1, 65535))
    if kind == PacketTypes.CONNECT and draw(st.booleans()):
        props.SessionExpiryInterval = draw(st.integers(0, 2**32 - 1))
    if kind == PacketTypes.CONNECT and draw(st.booleans()):
        props.ReceiveMaximum = draw(st.integers(1, 65535))
    if draw(st.booleans()):
        props.UserProperty = draw(st.lists(st.tuples(STRINGS, STRINGS), max_size=3))
    return props if not props.isEmpty() else None  # type: ignore[no-untyped-call]


@st.composite
def paho_packets(draw: st.DrawFn) -> tuple[str, int, dict[str, Any], bytes]:
    level = draw(st.sampled_from([mc.MQTT311, mc.MQTT5]))
    protocol = paho.MQTTv5 if level == mc.MQTT5 else paho.MQTTv311
    kind = draw(st.sampled_from(["connect", "publish", "subscribe", "unsubscribe"]))
    client_id = draw(STRINGS)
    client = _Capture(protocol, client_id)
    want: dict[str, Any] = {}
    if kind == "connect":
        if draw(st.booleans()):
            client.username_pw_set(draw(STRINGS), draw(STRINGS | st.none()))
        if draw(st.booleans()):
            will = (draw(TOPICS), draw(st.binary(max_size=40)), draw(st.integers(0, 2)), draw(st.booleans()))
            client.will_set(*will)
            want["will"] = will
        keepalive = draw(st.integers(0, 65535))
        if level == mc.MQTT5:
            client._connect_properties = _props(PacketTypes.CONNECT, draw)
        client._keepalive = keepalive
        client._send_connect(keepalive)
        want.update(client_id=client_id, keepalive=keepalive)
    elif kind == "publish":
        topic, payload = draw(TOPICS), draw(st.binary(max_size=200))
        qos, retain, mid = draw(st.integers(0, 2)), draw(st.booleans()), draw(st.integers(1, 65535))
        props = _props(PacketTypes.PUBLISH, draw) if level == mc.MQTT5 else None
        client._send_publish(mid, topic.encode(), payload, qos, retain, False, None, props)
        want.update(topic=topic, payload=payload, qos=qos, retain=retain, mid=mid if qos else None)
    elif kind == "subscribe":
        filters = draw(st.lists(st.tuples(FILTERS, st.integers(0, 2)), min_size=1, max_size=4))
        topics: list[tuple[bytes, SubscribeOptions | int]] = [
            (f.encode(), SubscribeOptions(qos=q) if level == mc.MQTT5 else q) for f, q in filters
        ]
        client._send_subscribe(False, topics, _props(PacketTypes.SUBSCRIBE, draw) if level == mc.MQTT5 else None)
        want["filters"] = filters
    else:
        filters_u = draw(st.lists(FILTERS, min_size=1, max_size=4))
        client._send_unsubscribe(False, [f.encode() for f in filters_u], None)
        want["filters"] = filters_u
    return kind, level, want, client.packets[-1]


def _parse(kind: str, level: int, raw: bytes) -> Any:
    if kind == "connect":
        return mc.parse_connect(raw)
    if kind == "publish":
        return mc.parse_publish(raw, level)
    if kind == "subscribe":
        return mc.parse_subscribe(raw, level)
    return mc.parse_unsubscribe(raw, level)


def _round_trip(kind: str, level: int, want: dict[str, Any], raw: bytes) -> None:
    got = _parse(kind, level, raw)
    if kind == "connect":
        assert got.level == level and got.client_id == want["client_id"] and got.keepalive == want["keepalive"]
        if "will" in want:
            topic, payload, qos, retain = want["will"]
            assert got.will is not None and got.will.topic == topic and got.will.payload == payload
            assert got.will.qos == qos and got.will.retain == retain
        else:
            assert got.will is None
        assert mc.parse_connect(got.encode(username="edge", password="pw")).client_id == want["client_id"]
    elif kind == "publish":
        assert (got.topic, got.payload, got.qos, got.retain, got.packet_id) == (
            want["topic"], want["payload"], want["qos"], want["retain"], want["mid"])  # fmt: skip
        again = mc.encode_publish(got.topic, got.payload, level, qos=got.qos, packet_id=got.packet_id,
                                  retain=got.retain, properties=got.properties.raw)  # fmt: skip
        assert again == raw, "the double's encoder disagrees with paho's bytes"
    elif kind == "subscribe":
        assert [(f, o & 0x03) for f, o in got.filters] == want["filters"]
        assert mc.encode_subscribe(got, got.filters, level) == raw, "the double's encoder disagrees with paho's bytes"
    else:
        assert got == want["filters"]


def fuzz_mqtt(examples: int, work: Path) -> None:
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(paho_packets(), st.data())
    def check(packet: tuple[str, int, dict[str, Any], bytes], data: st.DataObject) -> None:
        kind, level, want, raw = packet

        def round_trip() -> str:
            _round_trip(kind, level, want, raw)
            return f"{kind} round trip"

        TALLY.run("mqtt", round_trip)
        damaged = bytearray(raw)
        how = data.draw(st.sampled_from(["truncate", "flip", "splice"]))
        if how == "truncate":
            damaged = damaged[: data.draw(st.integers(0, max(0, len(raw) - 1)))]
        elif how == "flip" and damaged:
            for _ in range(data.draw(st.integers(1, 4))):
                i = data.draw(st.integers(0, len(damaged) - 1))
                damaged[i] ^= 1 << data.draw(st.integers(0, 7))
        else:
            i = data.draw(st.integers(0, len(damaged)))
            damaged[i:i] = data.draw(st.binary(min_size=1, max_size=8))

        def damaged_call() -> str:
            try:
                _parse(kind, level, bytes(damaged))
                return "damaged: parsed"
            except ProtocolError:
                return "damaged: ProtocolError"

        TALLY.run("mqtt", damaged_call)

    check()


# provisioning payloads ------------------------------------------------------------------------------

CBOR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=30) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
REQUESTS = st.fixed_dictionaries(
    {},
    optional={
        "certificateOwnershipToken": NASTY_TEXT | JSON,
        "parameters": st.dictionaries(NASTY_TEXT, NASTY_TEXT, max_size=4) | JSON,
        "certificateSigningRequest": NASTY_TEXT,
    },
)


def _request_check(payload: Any) -> str:
    try:
        token, parameters = ProvisioningService._request(payload)
        assert isinstance(token, str) and token
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in parameters.items())
        return "request accepted"
    except ServiceError as exc:
        assert exc.status_code == 400
        return "request ServiceError 400"


def fuzz_payloads(examples: int, work: Path) -> None:
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["json", "cbor"]), JSON | REQUESTS, CBOR_VALUES | REQUESTS, st.binary(max_size=200))
    def check(fmt: str, value: Any, cbor_value: Any, junk: bytes) -> None:
        def call() -> str:
            if fmt == "json":
                encoded = json.dumps(value).encode()
                assert decode_json(encoded) == json.loads(encoded)
                decoded = decode_json(encoded)
            else:
                decoded = decode_cbor(cbor2.dumps(cbor_value))
                assert decoded == cbor_value
            _request_check(decoded)
            try:
                garbage = decode_json(junk) if fmt == "json" else decode_cbor(junk)
            except PayloadError:
                return f"{fmt}: round trip; junk PayloadError"
            _request_check(garbage)
            return f"{fmt}: round trip; junk decoded"

        TALLY.run("payloads", call)

    check()
    deep = b"[" * 100_000
    for decode in (decode_json, decode_cbor):
        try:
            decode(deep if decode is decode_json else b"\x81" * 100_000)
        except PayloadError:
            TALLY.counts["payloads"]["deeply nested: PayloadError"] = (
                TALLY.counts["payloads"].get("deeply nested: PayloadError", 0) + 1
            )


# CSRs ----------------------------------------------------------------------------------------------------

KEYS = [ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec.generate_private_key(ec.SECP256K1()), rsa.generate_private_key(public_exponent=65537, key_size=1024)]  # fmt: skip
ACCEPTED = (0, 1, 2)


_CSRS: dict[tuple[int, str], bytes] = {}


def _csr(k: int, cn: str) -> bytes:
    """One CSR per (key, name): ECDSA signatures are random, and a replayed example must draw the same bytes."""
    if (k, cn) not in _CSRS:
        _CSRS[(k, cn)] = _sign(KEYS[k], cn)
    return _CSRS[(k, cn)]


def _sign(key: Any, cn: str) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def fuzz_csr(examples: int, work: Path) -> None:
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(KEYS) - 1), st.from_regex(r"[A-Za-z0-9-]{1,40}", fullmatch=True),
           st.sampled_from(["none", "flip", "truncate", "text"]), st.data())  # fmt: skip
    def check(k: int, cn: str, how: str, data: st.DataObject) -> None:
        der = bytearray(_csr(k, cn))
        if how == "flip":
            i = data.draw(st.integers(0, len(der) - 1))
            der[i] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "truncate":
            der = der[: data.draw(st.integers(0, len(der) - 1))]
        pem = data.draw(st.text(max_size=300)) if how == "text" else _pem(bytes(der))

        def call() -> str:
            message = config_csr.check_csr_pem(pem)
            assert message is None or message.strip()
            try:
                check_csr(pem)
            except ServiceError as exc:
                assert exc.status_code == 400
                if how == "none":
                    assert k not in ACCEPTED, f"a valid CSR of key {k} was refused: {exc}"
                return f"{how}: refused"
            if how == "none":
                assert k in ACCEPTED, f"key {k} should be refused"
            return f"{how}: accepted"

        TALLY.run("csr", call)

    check()


# provisioning template bodies ------------------------------------------------------------------------

SCALAR = NASTY_TEXT | st.sampled_from(["SerialNumber", "AWS::IoT::Certificate::Id", "sensor-", "x"])
INTRINSIC = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.builds(
            lambda v: {"Ref": v}, st.sampled_from(["SerialNumber", "AWS::IoT::Certificate::Id", "Missing", ""]) | inner
        ),
        st.builds(lambda d, v: {"Fn::Join": [d, v]}, SCALAR, st.lists(inner, max_size=3)),
        st.builds(
            lambda v: {"Fn::Sub": v}, st.sampled_from(["sensor-${SerialNumber}", "${Missing}", "${", "$${x}"]) | SCALAR
        ),
        st.builds(lambda c, a, b: {"Fn::If": [c, a, b]}, SCALAR, inner, inner),
        st.builds(lambda k, v: {"Fn::FindInMap": [k, v, "x"]}, SCALAR, inner),
        st.builds(lambda v: {"Fn::Split": ["-", v]}, inner),
        st.builds(
            lambda i, v: {"Fn::Select": [i, v]}, st.integers(-2, 4) | SCALAR, st.lists(inner, max_size=3) | inner
        ),
        st.dictionaries(SCALAR, inner, max_size=2),
        st.lists(inner, max_size=3),
    ),
    max_leaves=12,
)
RESOURCE_TYPES = st.sampled_from(["AWS::IoT::Thing", "AWS::IoT::Certificate", "AWS::IoT::Policy", "AWS::IoT::Other"])


@st.composite
def template_bodies(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=100) | JSON)
    parameters = {
        "SerialNumber": {"Type": "String"},
        "AWS::IoT::Certificate::Id": {"Type": "String"},
        **draw(st.dictionaries(SCALAR, st.fixed_dictionaries({"Type": st.sampled_from(["String", "Number", "x"])},
                                                              optional={"Default": INTRINSIC}), max_size=2)),
    }  # fmt: skip
    resources = {}
    for name, kind in draw(st.lists(st.tuples(SCALAR, RESOURCE_TYPES), max_size=4)):
        props = draw(st.dictionaries(st.sampled_from(["ThingName", "ThingTypeName", "ThingGroups", "AttributePayload",
                                                       "CertificateId", "Status", "PolicyName", "PolicyDocument"]),
                                     INTRINSIC, max_size=4))  # fmt: skip
        resource: dict[str, Any] = {"Type": kind, "Properties": props}
        if draw(st.booleans()):
            resource["OverrideSettings"] = draw(
                st.dictionaries(SCALAR, st.sampled_from(["DO_NOTHING", "REPLACE", "MERGE", "FAIL", "x"]))
            )
        resources[name] = resource
    body: dict[str, Any] = {"Parameters": parameters, "Resources": resources}
    if draw(st.booleans()):
        body["Conditions"] = draw(st.dictionaries(SCALAR, INTRINSIC, max_size=2))
    if draw(st.booleans()):
        body["Mappings"] = draw(
            st.dictionaries(
                SCALAR, st.dictionaries(SCALAR, st.dictionaries(SCALAR, SCALAR, max_size=2), max_size=2), max_size=2
            )
        )
    return json.dumps(body) if draw(st.booleans()) else body


def fuzz_template_body(examples: int, work: Path) -> None:
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(template_bodies(), st.dictionaries(SCALAR, NASTY_TEXT, max_size=3), NASTY_TEXT)
    def check(body: Any, params: dict[str, str], serial: str) -> None:
        def call() -> str:
            try:
                plan = evaluate(body, {**params, "SerialNumber": serial, "AWS::IoT::Certificate::Id": "c" * 64})
            except TemplateError as exc:
                assert str(exc).strip()
                return "TemplateError"
            return "plan" + (" with a thing" if plan.thing is not None else "")

        TALLY.run("template-body", call)

    check()


# policy documents ---------------------------------------------------------------------------------------


def fuzz_policy(examples: int, work: Path) -> None:
    context = policy_eval.Context(client_id="sensor-1", certificate_id="c" * 64, thing_name="sensor-1")

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(iot_policies() | JSON | st.builds(json.dumps, iot_policies()), st.sampled_from(
        ["iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive", "iot:UpdateThingShadow", "iot:*", "x"]),
        st.sampled_from(["arn:aws:iot:eu-west-1:123456789012:client/sensor-1",
                         "arn:aws:iot:eu-west-1:123456789012:topic/dt/sensor-1/x", "*", ""]))  # fmt: skip
    def check(document: Any, action: str, resource: str) -> None:
        def call() -> str:
            doc = json.loads(document) if isinstance(document, str) and document.startswith("{") else document
            compiled = policy_eval.compile_policy(doc)
            decision = policy_eval.evaluate([compiled], action, resource, context)
            if isinstance(doc, dict):
                policy_eval.referenced_variables(doc)
                policy_eval.unknown_variables(doc)
            return "problems reported" if compiled.problems else f"compiled: {decision.effect.name}"

        TALLY.run("policy", call)

    check()


PARSERS: dict[str, Callable[[int, Path], None]] = {
    "fleet-config": fuzz_fleet_config,
    "manifest": fuzz_manifest,
    "mqtt": fuzz_mqtt,
    "payloads": fuzz_payloads,
    "csr": fuzz_csr,
    "template-body": fuzz_template_body,
    "policy": fuzz_policy,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300, help="examples per parser")
    parser.add_argument("--only", choices=sorted(PARSERS), action="append")
    parser.add_argument("--hang", type=float, default=5.0, help="seconds one example may take")
    args = parser.parse_args()
    TALLY.hang = args.hang
    failures = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        for name in args.only or list(PARSERS):
            begun = time.monotonic()
            try:
                PARSERS[name](args.examples, Path(tmp))
                status = "ok"
            except Exception as exc:  # hypothesis has printed the smallest failing example
                traceback.print_exc(limit=-6)
                failures += 1
                status = f"CRASH {type(exc).__name__}: {exc}".splitlines()[0][:300]
            counts = TALLY.counts.get(name, {})
            shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            print(f"{name:14s} {sum(counts.values()):6d} examples in {time.monotonic() - begun:5.1f} s, slowest "
                  f"{TALLY.slowest.get(name, 0.0) * 1000:.0f} ms: {status} ({shown})", flush=True)  # fmt: skip
    print(f"fuzz: {len(args.only or PARSERS)} parsers, {failures} crashes or hangs, {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
