"""Bounded payload decoding and the configurable MQTT contract (unit tier)."""

from __future__ import annotations

import pytest

from iot_emulator.contract import MqttContract
from iot_emulator.payloads import PayloadError, decode_cbor, decode_json, nesting_depth


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * 100_000, "depth"),  # json.loads would raise RecursionError
        (b'{"a":' * 70 + b"1" + b"}" * 70, "depth"),
        (b"\xff", "encoding"),
        (b"{nope", "syntax"),
        (b"1e99999999999", None),
    ],
)
def test_decode_json_never_raises_recursion_error(payload: bytes, reason: str | None) -> None:
    if reason is None:
        assert decode_json(payload) == float("inf")
        return
    with pytest.raises(PayloadError) as refused:
        decode_json(payload)
    assert refused.value.reason == reason


def test_nesting_depth_skips_strings() -> None:
    assert nesting_depth('{"a": "[[[[", "b": [1, {"c": "\\"{"}]}') == 3
    assert decode_json(b'{"a": "[[[["}') == {"a": "[[[["}


def test_decode_cbor_turns_every_failure_into_payload_error() -> None:
    with pytest.raises(PayloadError):
        decode_cbor(b"\x81" * 100_000)
    with pytest.raises(PayloadError):
        decode_cbor(b"\x62a")  # a two-byte text string cut short
    assert decode_cbor(bytes([0xA1, 0x61, 0x61, 0x01])) == {"a": 1}


def test_contract_keep_alive_and_settings() -> None:
    contract = MqttContract()
    assert [contract.keep_alive(v) for v in (0, 5, 60, 3000)] == [1200, 30, 60, 1200]
    changed = contract.with_values(payload_max_bytes="1024", will_refused_reason="0x90")
    assert (changed.payload_max_bytes, changed.will_refused_reason) == (1024, 0x90)
    with pytest.raises(ValueError, match="unknown MQTT contract setting nope"):
        contract.with_values(nope="1")
