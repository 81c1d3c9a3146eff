"""Decoding device payloads (JSON, CBOR) with bounded nesting, so no payload can raise RecursionError.

``json.loads`` and ``cbor2.loads`` recurse once per nesting level; a 128 KB payload of ``[`` is
100,000 levels. ``nesting_depth`` measures a JSON text's depth in one linear scan before it is
parsed, and the CBOR decoder is stopped by Python's own recursion guard, turned into the same
``PayloadError`` (the service then answers its documented 400).
"""

from __future__ import annotations

import json
from typing import Any

import cbor2

#: Deeper payloads are refused before they are parsed; far above any documented document depth.
MAX_DEPTH = 64


class PayloadError(ValueError):
    """The payload is not a valid document; ``reason`` is one of ``encoding``, ``syntax``, ``depth``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def nesting_depth(text: str) -> int:
    """The deepest ``{``/``[`` nesting of a JSON text, strings skipped (malformed text still gets a number)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]":
            depth -= 1
    return deepest


def decode_json(payload: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON document in ``payload`` (UTF-8); raises PayloadError, never RecursionError."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("encoding", "the payload is not UTF-8") from None
    if nesting_depth(text) > max_depth:
        raise PayloadError("depth", f"the JSON document nests deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise PayloadError("syntax", "the payload is not valid JSON") from None


def decode_cbor(payload: bytes) -> Any:
    """The CBOR document in ``payload``; raises PayloadError for anything cbor2 cannot decode."""
    try:
        return cbor2.loads(payload)
    except RecursionError:
        raise PayloadError("depth", "the CBOR document nests too deeply") from None
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, MemoryError):
        raise PayloadError("syntax", "the payload is not valid CBOR") from None
