"""Rules about the small languages inside the config: regexes, name templates, topic namespaces."""

from __future__ import annotations

import re
from dataclasses import dataclass

try:  # Python 3.11+: the parser moved to a private module; both expose parse().getwidth()
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse

from iot_semantics import limits
from iot_semantics.policies import THING_NAME_PLACEHOLDER

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9_.:=@,-]+")


def max_width(pattern: str) -> int | None:
    """Longest string ``pattern`` can match, or None when unbounded."""
    lo_hi = _sre_parse.parse(pattern).getwidth()
    hi = int(lo_hi[1])
    return None if hi >= int(_sre_parse.MAXREPEAT) else hi


def check_bounded_anchored(pattern: str) -> None:
    """A parameter pattern must compile, be anchored with ^...$ and have a finite maximum length."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression ({exc})") from None
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError("must be anchored: start with ^ and end with $ so the whole value is checked")
    if max_width(pattern) is None:
        raise ValueError("must bound the value's length (use {m,n} instead of * or +)")


@dataclass(frozen=True)
class NameTemplate:
    """A thing name built from literal text and ``{Parameter}`` placeholders."""

    parts: tuple[tuple[str, bool], ...]  # (text, is_parameter)

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(text for text, is_param in self.parts if is_param)

    @property
    def literal_prefix(self) -> str:
        prefix = ""
        for text, is_param in self.parts:
            if is_param:
                break
            prefix += text
        return prefix


def parse_name_template(text: str) -> NameTemplate:
    parts: list[tuple[str, bool]] = []
    pos = 0
    for m in PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append((text[pos : m.start()], False))
        parts.append((m.group(1), True))
        pos = m.end()
    if pos < len(text):
        parts.append((text[pos:], False))
    if "{" in "".join(p for p, is_param in parts if not is_param) or "}" in "".join(
        p for p, is_param in parts if not is_param
    ):
        raise ValueError("has an unbalanced { or }")
    return NameTemplate(tuple(parts))


def check_topic_namespace(ns: str) -> None:
    """A device namespace: plain levels, with ``{thing_name}`` as exactly one whole level."""
    for ch in ("+", "#"):
        if ch in ns:
            raise ValueError(
                f"contains the MQTT wildcard {ch!r}; IoT policies treat it as a literal "
                "character, so it would not mean 'any'. Name the namespace's fixed levels only"
            )
    for ch in ("*", "?", "$"):
        if ch in ns:
            raise ValueError(
                f"contains {ch!r}; policy wildcards and '$' are not allowed "
                "(reserved $aws topics are switched on under features)"
            )
    if ns.startswith("/") or ns.endswith("/") or "//" in ns:
        raise ValueError("has an empty level; write levels separated by single '/'")
    levels = ns.split("/")
    if levels.count(THING_NAME_PLACEHOLDER) != 1:
        raise ValueError(
            f"must contain {THING_NAME_PLACEHOLDER} exactly once, as a whole level, "
            "so each device is confined to its own topics"
        )
    for level in levels:
        if level != THING_NAME_PLACEHOLDER and not _TOPIC_LEVEL.fullmatch(level):
            raise ValueError(
                f"level {level!r} may hold only A-Z a-z 0-9 _ . : = @ , - "
                f"(and {THING_NAME_PLACEHOLDER} as a whole level)"
            )
    # Devices publish to <namespace>/<subtopic>: leave room for one more level.
    if len(levels) + 1 > limits.TOPIC_MAX_SLASHES + 1:
        raise ValueError(
            f"has {len(levels)} levels; AWS IoT topics have at most "
            f"{limits.TOPIC_MAX_SLASHES} slashes, and the device needs one more level below the namespace"
        )
    longest = len(ns.replace(THING_NAME_PLACEHOLDER, "x" * limits.THING_NAME_MAX).encode())
    if longest + 2 > limits.TOPIC_MAX_BYTES:
        raise ValueError(
            f"can reach {longest} bytes with a 128-character thing name; topics are at most "
            f"{limits.TOPIC_MAX_BYTES} bytes"
        )
