"""Matching IoT policy resources against requested resources, with policy variables.

AWS IoT semantics (fact sheet section 5.3): ``*`` matches any run of characters including ``/``;
``?`` matches exactly one character; MQTT ``+`` and ``#`` are literal characters in a policy.
Variables such as ``${iot:Connection.Thing.ThingName}`` are substituted before matching; a
variable without a value, or whose value holds a wildcard character, is left unsubstituted and
so matches only its own literal text (AWS: "not substituted ... authorization failure").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from iot_semantics.variables import LITERAL_ESCAPES, REFERENCE

#: A value holding one of these is not substituted (AWS: authorization fails instead).
_UNSUBSTITUTABLE = set("*$+?#")


def substitute(pattern: str, variables: Mapping[str, str]) -> list[tuple[str, bool]]:
    """Split ``pattern`` into (text, is_literal) pieces after substituting variables."""
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for m in REFERENCE.finditer(pattern):
        if m.start() > pos:
            pieces.append((pattern[pos : m.start()], False))
        name = m.group(1)
        if name in LITERAL_ESCAPES:
            pieces.append((name, True))
        else:
            value = variables.get(name)
            if value is None or _UNSUBSTITUTABLE & set(value) or len(value) > 1024:
                pieces.append((m.group(0), True))
            else:
                pieces.append((value, True))
        pos = m.end()
    if pos < len(pattern):
        pieces.append((pattern[pos:], False))
    return pieces


@lru_cache(maxsize=4096)
def _compile(pieces: tuple[tuple[str, bool], ...]) -> re.Pattern[str]:
    out = []
    for text, literal in pieces:
        if literal:
            out.append(re.escape(text))
            continue
        for ch in text:
            out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def resource_matches(pattern: str, resource: str, variables: Mapping[str, str] | None = None) -> bool:
    """True when policy resource ``pattern`` covers the concrete ``resource``."""
    pieces = tuple(substitute(pattern, variables or {}))
    return _compile(pieces).fullmatch(resource) is not None
