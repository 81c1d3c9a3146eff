"""Matching IoT policy resources against requested resources, with policy variables; resource languages.

AWS IoT semantics (fact sheet section 5.3): ``*`` matches any run of characters including ``/``;
``?`` matches exactly one character; MQTT ``+`` and ``#`` are literal characters in a policy.
Variables such as ``${iot:Connection.Thing.ThingName}`` are substituted before matching; a variable
without a value matches only its own literal text. A *certificate* variable whose value holds a
wildcard character (``* $ + ? #``) or more than 1024 characters is not substituted either (AWS,
cert-policy-variables: "the policy variable is not replaced"); other variables are substituted
whatever they hold, which is why a client ID ``+`` turns ``topicfilter/my/${iot:ClientId}`` into an
MQTT wildcard filter (AWS, basic-policy-variables).

Beyond single matches, a policy resource is a regular language (a *glob*), and the review asks
questions about sets of resources: "is there a topic device A may publish that belongs to device B
and that no Deny covers?". ``Glob`` compiles a resource pattern into a small automaton over
characters; ``witness`` finds the shortest string accepted by every glob of one list and by none
of another (a lazy product of the automata, breadth first), or proves there is none. The same
tokens drive ``resource_matches``, so a single match and a set question cannot disagree.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from iot_semantics.variables import LITERAL_ESCAPES, REFERENCE

#: A certificate variable holding one of these is not substituted (AWS: authorization fails instead).
_UNSUBSTITUTABLE = frozenset("*$+?#")
_CERTIFICATE_PREFIX = "iot:Certificate."
MAX_VALUE_LENGTH = 1024

_UNSET = object()

#: Token kinds of a glob: one literal character, ``?`` (one character), ``*`` (any run, ``/``
#: included), an MQTT ``+`` level (any run without ``/``), and the end of one alternative of a
#: union (``Glob.union``: it matches nothing; reaching it accepts).
LIT, ONE, STAR, SEG, BAR = 0, 1, 2, 3, 4
Token = tuple[int, str]


def _substitutable(name: str, value: str | None) -> bool:
    if value is None:
        return False
    if name.startswith(_CERTIFICATE_PREFIX):
        return not (_UNSUBSTITUTABLE & set(value)) and len(value) <= MAX_VALUE_LENGTH
    return True


@lru_cache(maxsize=32768)
def _parts(pattern: str) -> tuple[tuple[str, str | None], ...]:
    """``pattern`` as (text, None) runs of policy text and (reference as written, variable name)."""
    parts: list[tuple[str, str | None]] = []
    pos = 0
    for m in REFERENCE.finditer(pattern):
        if m.start() > pos:
            parts.append((pattern[pos : m.start()], None))
        parts.append((m.group(0), m.group(1)))
        pos = m.end()
    if pos < len(pattern):
        parts.append((pattern[pos:], None))
    return tuple(parts)


def substitute(pattern: str, variables: Mapping[str, str]) -> list[tuple[str, bool]]:
    """Split ``pattern`` into (text, is_literal) pieces after substituting variables."""
    pieces: list[tuple[str, bool]] = []
    for text, name in _parts(pattern):
        if name is None:
            pieces.append((text, False))
        elif name in LITERAL_ESCAPES:
            pieces.append((name, True))
        else:
            value = variables.get(name)
            pieces.append((value, True) if value is not None and _substitutable(name, value) else (text, True))
    return pieces


def tokens_of(pieces: Iterable[tuple[str, bool]]) -> tuple[Token, ...]:
    out: list[Token] = []
    for text, literal in pieces:
        for ch in text:
            if literal:
                out.append((LIT, ch))
            elif ch == "*":
                if not out or out[-1][0] != STAR:  # '**' is '*'
                    out.append((STAR, ""))
            elif ch == "?":
                out.append((ONE, ""))
            else:
                out.append((LIT, ch))
    return tuple(out)


@lru_cache(maxsize=8192)
def _regex(tokens: tuple[Token, ...]) -> re.Pattern[str]:
    parts = []
    for kind, ch in tokens:
        parts.append(re.escape(ch) if kind == LIT else "." if kind == ONE else ".*" if kind == STAR else "[^/]*")
    return re.compile("".join(parts), re.DOTALL)


def resource_matches(pattern: str, resource: str, variables: Mapping[str, str] | None = None) -> bool:
    """True when policy resource ``pattern`` covers the concrete ``resource``."""
    return pattern_regex(pattern, variables or {}).fullmatch(resource) is not None


@lru_cache(maxsize=16384)
def _references(pattern: str) -> tuple[str, ...]:
    return tuple(REFERENCE.findall(pattern))


_MATCHERS: dict[tuple[str, tuple[str | None, ...]], re.Pattern[str]] = {}


def pattern_regex(pattern: str, variables: Mapping[str, str]) -> re.Pattern[str]:
    """The compiled matcher of ``pattern`` under ``variables`` (cached by the values it reads)."""
    key = (pattern, tuple(variables.get(n) for n in _references(pattern)))
    found = _MATCHERS.get(key)
    if found is None:
        if len(_MATCHERS) > 100_000:
            _MATCHERS.clear()
        found = _MATCHERS[key] = _regex(tokens_of(substitute(pattern, variables)))
    return found


# Globs: resource languages ----------------------------------------------------------------------


class Automaton:
    """The automaton of one glob's tokens: positions as bits, transitions cached per (states, char)."""

    __slots__ = (
        "_accept",
        "_chars",
        "_lead",
        "_prefixes",
        "_skips",
        "_steps",
        "_suffix",
        "_universal",
        "memo",
        "tokens",
    )

    def __init__(self, tokens: tuple[Token, ...]) -> None:
        self.tokens = tokens
        accept = 1 << len(tokens)
        for i, (kind, _) in enumerate(tokens):
            if kind == BAR:
                accept |= 1 << i
        self._accept = accept
        self._steps: dict[tuple[int, str], int] = {}
        self._skips = tuple(i for i, (kind, _) in enumerate(tokens) if kind in (STAR, SEG))
        self._lead: str | None = None
        self._suffix: str | None = None
        self._universal = -1
        self._prefixes: dict[int, str | None] = {}
        #: Derived facts callers cache per (what, start mask): they live as long as the automaton.
        self.memo: dict[tuple[str, int], object] = {}
        self._chars: dict[int, frozenset[str] | None] = {}

    @property
    def literals(self) -> frozenset[str]:
        """Every literal character of the tokens (the search's alphabet)."""
        found = self.memo.get(("literals", 0))
        if found is None:
            found = self.memo[("literals", 0)] = frozenset(ch for kind, ch in self.tokens if kind == LIT)
        return found  # type: ignore[return-value]

    @property
    def union(self) -> bool:
        return self._accept != 1 << len(self.tokens)

    @property
    def lead(self) -> str:
        """The literal text the tokens start with."""
        if self._lead is None:
            out = []
            for kind, ch in self.tokens:
                if kind != LIT:
                    break
                out.append(ch)
            self._lead = "".join(out)
        return self._lead

    @property
    def suffix(self) -> str:
        """The literal text every accepted string ends with (a union: none is assumed)."""
        if self._suffix is None:
            tail = []
            for kind, ch in reversed(self.tokens):
                if kind != LIT or self.union:
                    break
                tail.append(ch)
            self._suffix = "".join(reversed(tail))
        return self._suffix

    def _universal_mask(self) -> int:
        """Positions from which only ``*`` tokens remain (up to the end of their alternative):
        reaching one accepts every continuation."""
        if self._universal < 0:
            tokens, n = self.tokens, len(self.tokens)
            universal = 0
            for i in range(n - 1, -1, -1):
                if tokens[i][0] == STAR and (i + 1 == n or tokens[i + 1][0] == BAR or universal >> (i + 1) & 1):
                    universal |= 1 << i
            self._universal = universal
        return self._universal

    def prefix(self, mask: int) -> str | None:
        """The literal text every string read from ``mask`` starts with (one active position only)."""
        found = self._prefixes.get(mask, "\x00")
        if found != "\x00":
            return found
        if not mask or mask & (mask - 1):
            result = None
        else:
            i = mask.bit_length() - 1
            out = []
            while i < len(self.tokens) and self.tokens[i][0] == LIT:
                out.append(self.tokens[i][1])
                i += 1
            result = "".join(out)
        self._prefixes[mask] = result
        return result

    def closure(self, mask: int) -> int:
        """Add every position reachable by skipping ``*`` and ``+``-level tokens (they match nothing too)."""
        result = mask
        for i in self._skips:
            if result >> i & 1:
                result |= 1 << (i + 1)
        return result

    def step(self, mask: int, ch: str) -> int:
        key = (mask, ch)
        cached = self._steps.get(key)
        if cached is not None:
            return cached
        nxt = 0
        tokens = self.tokens
        n = len(tokens)
        m = mask
        while m:
            low = m & -m
            i = low.bit_length() - 1
            m ^= low
            if i >= n:
                continue
            kind, lit = tokens[i]
            if kind == LIT:
                if lit == ch:
                    nxt |= low << 1
            elif kind == ONE:
                nxt |= low << 1
            elif kind == STAR or (kind == SEG and ch != "/"):
                nxt |= low
        result = self.closure(nxt) if nxt else 0
        self._steps[key] = result
        return result

    def accepts(self, mask: int) -> bool:
        return bool(mask & self._accept)

    def chars(self, mask: int) -> frozenset[str] | None:
        """The characters that can extend a string read to ``mask`` (None: any character)."""
        found = self._chars.get(mask, _UNSET)
        if found is not _UNSET:
            return found  # type: ignore[return-value]
        out: set[str] = set()
        result: frozenset[str] | None = None
        tokens = self.tokens
        n = len(tokens)
        m = mask
        while m:
            low = m & -m
            i = low.bit_length() - 1
            m ^= low
            if i >= n:
                continue
            kind, ch = tokens[i]
            if kind == BAR:
                continue
            if kind != LIT:
                break
            out.add(ch)
        else:
            result = frozenset(out)
        self._chars[mask] = result
        return result

    def universal(self, mask: int) -> bool:
        return bool(mask & self._universal_mask())

    def active_literals(self, mask: int) -> frozenset[str]:
        """The literal characters at the positions of ``mask``: every other character but ``/``
        moves this automaton the same way (the search tries one of them for all)."""
        key = ("active", mask)
        found = self.memo.get(key)
        if found is None:
            out = set()
            m, tokens, n = mask, self.tokens, len(self.tokens)
            while m:
                low = m & -m
                i = low.bit_length() - 1
                m ^= low
                if i < n and tokens[i][0] == LIT:
                    out.add(tokens[i][1])
            found = self.memo[key] = frozenset(out)
        return found  # type: ignore[return-value]


@lru_cache(maxsize=16384)
def automaton(tokens: tuple[Token, ...]) -> Automaton:
    return Automaton(tokens)


@dataclass(frozen=True)
class Glob:
    """A resource language: a glob's tokens, read from the positions in ``start`` (bit i = position i).

    ``start`` lets a glob written over full ARNs be asked about names only: ``after(prefix)`` is
    the glob's residual once ``prefix`` (``arn:aws:iot:r:a:topic/``) has been read.
    """

    tokens: tuple[Token, ...]
    start: int = 1
    auto: Automaton | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.auto is None:
            object.__setattr__(self, "auto", automaton(self.tokens))

    @staticmethod
    def of(pattern: str, variables: Mapping[str, str] | None = None) -> Glob:
        return Glob.from_tokens(tokens_of(substitute(pattern, variables or {})))

    @staticmethod
    def literal(text: str) -> Glob:
        return Glob.from_tokens(tuple((LIT, ch) for ch in text))

    @staticmethod
    def from_tokens(tokens: tuple[Token, ...]) -> Glob:
        auto = automaton(tokens)
        return Glob(tokens, auto.closure(1), auto)

    @staticmethod
    def union(globs: Iterable[Glob]) -> Glob:
        """The strings any of ``globs`` accepts, as one glob (alternatives separated by ``BAR``)."""
        live = [g for g in globs if not g.empty]
        if len(live) == 1:
            return live[0]
        tokens: list[Token] = []
        start = 0
        for g in live:
            if tokens:
                tokens.append((BAR, ""))
            start |= g.start << len(tokens)
            tokens.extend(g.tokens)
        if not live:
            return Glob((), 0)
        return Glob(tuple(tokens), start)

    @staticmethod
    def parse(text: str) -> Glob:
        """A glob written in policy syntax with no variables: ``*`` and ``?`` are wildcards."""
        return Glob.from_tokens(tokens_of([(text, False)]))

    @property
    def automaton(self) -> Automaton:
        assert self.auto is not None
        return self.auto

    @property
    def empty(self) -> bool:
        return self.start == 0

    def after(self, prefix: str) -> Glob:
        auto = self.automaton
        mask = self.start
        i = 0
        if mask == 1:  # read the tokens' leading literal text as text
            lead = auto.lead
            n = min(len(lead), len(prefix))
            if lead[:n] != prefix[:n]:
                return Glob(self.tokens, 0, auto)
            if n == len(prefix):
                return Glob(self.tokens, auto.closure(1 << n), auto)
            mask, i = auto.closure(1 << n), n
        for ch in prefix[i:]:
            mask = auto.step(mask, ch)
            if not mask:
                break
        return Glob(self.tokens, mask, auto)

    def matches(self, text: str) -> bool:
        auto = self.automaton
        mask = self.start
        for ch in text:
            mask = auto.step(mask, ch)
            if not mask:
                return False
        return auto.accepts(mask)

    def literal_prefix(self) -> str | None:
        """The text every accepted string starts with, when the glob has one start position."""
        return self.automaton.prefix(self.start)

    def literal_text(self) -> str | None:
        """The one string the glob accepts, when it is literal from its start position (else None)."""
        prefix = self.automaton.prefix(self.start)
        if prefix is None or len(prefix) != len(self.tokens) - (self.start.bit_length() - 1):
            return None
        return prefix

    def literal_suffix(self) -> str:
        """The literal text every accepted string ends with."""
        auto = self.automaton
        if not self.start or auto.union:
            return ""
        remaining = len(self.tokens) - (self.start.bit_length() - 1)
        return auto.suffix if remaining >= len(auto.suffix) else auto.suffix[len(auto.suffix) - remaining :]

    def may_meet(self, other: Glob) -> bool:
        """False when the two globs' literal prefixes or suffixes already rule out a common string."""
        a, b = self.literal_prefix(), other.literal_prefix()
        if a is not None and b is not None and not _compatible(a, b):
            return False
        x, y = self.literal_suffix(), other.literal_suffix()
        return x.endswith(y) or y.endswith(x)


#: A product of automata larger than this is not explored; the answer is then "unknown".
MAX_STATES = 20_000


class Unknown(Exception):
    """A set question too large to answer within ``MAX_STATES`` product states."""


def _compatible(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _prune(all_of: Sequence[Glob], none_of: Sequence[Glob]) -> tuple[list[Glob], list[Glob]] | None:
    """Cheap emptiness tests on literal prefixes and suffixes; drop negatives that cannot meet."""
    positives = list(all_of)
    if any(g.empty for g in positives):
        return None
    prefixes = [p for g in positives if (p := g.literal_prefix()) is not None]
    longest = max(prefixes, key=len, default="")
    if any(not _compatible(p, longest) for p in prefixes):
        return None
    suffixes = [g.literal_suffix() for g in positives if g.start]
    tail = max(suffixes, key=len, default="")
    if any(not tail.endswith(s) for s in suffixes):
        return None
    negatives = []
    for g in none_of:
        if g.empty:
            continue
        p = g.literal_prefix()
        if p is not None and not _compatible(p, longest):
            continue
        negatives.append(g)
    return positives, negatives


def witness(
    all_of: Sequence[Glob],
    none_of: Sequence[Glob] = (),
    *,
    topic: bool = False,
    filler: str = "x",
    max_states: int = MAX_STATES,
    budget: Budget | None = None,
) -> str | None:
    """The shortest string every glob of ``all_of`` accepts and no glob of ``none_of`` does.

    With ``topic``, only MQTT topic names a reader can use count: no ``+`` or ``#``, no empty level
    (no leading, doubled or trailing ``/``), one character at least. None when there is none
    (proved). Raises ``Unknown`` when the product grows past ``max_states`` (or exhausts the
    ``budget`` shared by a series of questions). ``filler`` stands for every character no glob
    names; in each state only the characters some automaton distinguishes there are tried.
    """
    pruned = _prune(all_of, none_of)
    if pruned is None:
        return None
    positives, negatives = pruned
    for g in positives:
        text = g.literal_text()
        if text is not None:  # one string only: check it instead of searching
            return text if _is_witness(text, positives, negatives, topic=topic) else None
    if not positives:
        positives = [Glob.parse("*")]
    literals = {"/"}.union(*(g.automaton.literals for g in [*positives, *negatives]))
    if topic:
        literals -= {"+", "#"}
    # every answer starts with the longest literal prefix: read it at once, search from there
    lead = max((p for g in positives if (p := g.literal_prefix()) is not None), key=len, default="")
    if lead:
        if topic and (lead.startswith("/") or "//" in lead or "+" in lead or "#" in lead):
            return None
        positives = [g.after(lead) for g in positives]
        if any(g.empty for g in positives):
            return None
        negatives = [n for g in negatives if not (n := g.after(lead)).empty]
    other = next(c for c in (filler, "x", "y", "z", "q", "0", "_", "~") if c not in literals)
    search = _Search(positives, negatives, [other, *sorted(literals)], topic=topic)
    # the last element of a state: 0 nothing read yet, 1 the last character was '/', 2 another one
    start = (*(g.start for g in positives + negatives), 0 if not lead else 1 if lead.endswith("/") else 2)
    limit = max_states if budget is None else min(max_states, budget.remaining)
    found, explored = search.run(start, limit)
    if budget is not None:
        budget.remaining -= explored
    return None if found is None else lead + found


class _Search:
    """Breadth-first search of the product of the positive and negative automata."""

    def __init__(self, positives: Sequence[Glob], negatives: Sequence[Glob], alphabet: list[str], *, topic: bool):
        self.pos = [g.automaton for g in positives]
        self.neg = [g.automaton for g in negatives]
        self.automata = [*self.pos, *self.neg]
        self.k = len(self.pos)
        self.alphabet = alphabet
        self.topic = topic

    def accepting(self, state: tuple[int, ...]) -> bool:
        return (not self.topic or state[-1] == 2) and _accepted(self.pos, self.neg, state, self.k)

    def characters(self, state: tuple[int, ...]) -> list[str]:
        """The characters worth trying from ``state``: the positives' next literals when they all
        are at literals; else every character some automaton tells apart there, and one other."""
        allowed: frozenset[str] | None = None
        for a, m in zip(self.pos, state, strict=False):
            chars = a.chars(m)
            if chars is not None:
                allowed = chars if allowed is None else allowed & chars
        if allowed is None:
            active = (a.active_literals(m) for a, m in zip(self.automata, state, strict=False))
            allowed = frozenset({self.alphabet[0], "/"}).union(*active)
        out = [c for c in self.alphabet if c in allowed]
        return [c for c in out if c != "/"] if self.topic and state[-1] != 2 else out

    def run(self, start: tuple[int, ...], limit: int) -> tuple[str | None, int]:
        """(the shortest accepted path, or None; the number of states explored)."""
        if any(a.universal(m) for a, m in zip(self.neg, start[self.k :], strict=False)):
            return None, 0
        if self.accepting(start):
            return "", 0
        seen: dict[tuple[int, ...], tuple[tuple[int, ...], str] | None] = {start: None}
        queue = deque([start])
        while queue:
            state = queue.popleft()
            for ch in self.characters(state):
                nxt = _advance(self.pos, self.neg, state, self.k, ch)
                if nxt is None or nxt in seen:
                    continue
                seen[nxt] = (state, ch)
                if self.accepting(nxt):
                    return _path(seen, nxt), len(seen)
                if len(seen) > limit:
                    raise Unknown(f"more than {limit} states")
                queue.append(nxt)
        return None, len(seen)


@dataclass
class Budget:
    """Product states a series of witness searches may still explore (one holder's simulation)."""

    remaining: int


def _valid_topic(text: str) -> bool:
    return bool(text) and "+" not in text and "#" not in text and "" not in text.split("/")


def _is_witness(text: str, positives: Sequence[Glob], negatives: Sequence[Glob], *, topic: bool) -> bool:
    if topic and not _valid_topic(text):
        return False
    return all(g.matches(text) for g in positives) and not any(g.matches(text) for g in negatives)


def _advance(
    pos: Sequence[Automaton], neg: Sequence[Automaton], state: tuple[int, ...], k: int, ch: str
) -> tuple[int, ...] | None:
    """The product state after ``ch``, or None when it can lead to no witness."""
    out = []
    for a, m in zip(pos, state, strict=False):
        n = a.step(m, ch)
        if not n:
            return None
        out.append(n)
    for a, m in zip(neg, state[k:], strict=False):
        n = a.step(m, ch) if m else 0
        if n and a.universal(n):
            return None
        out.append(n)
    out.append(1 if ch == "/" else 2)
    return tuple(out)


def _accepted(pos: Sequence[Automaton], neg: Sequence[Automaton], state: tuple[int, ...], k: int) -> bool:
    return all(a.accepts(m) for a, m in zip(pos, state, strict=False)) and not any(
        a.accepts(m) for a, m in zip(neg, state[k:], strict=False)
    )


def _path(seen: Mapping[tuple[int, ...], tuple[tuple[int, ...], str] | None], state: tuple[int, ...]) -> str:
    out: list[str] = []
    step = seen[state]
    while step is not None:
        state, ch = step
        out.append(ch)
        step = seen[state]
    return "".join(reversed(out))


# MQTT topic filters as topic languages --------------------------------------------------------


def delivered(topic_filter: str) -> tuple[Glob, bool] | None:
    """The topics an MQTT subscription to ``topic_filter`` delivers, as a glob over topic names.

    ``+`` is one level, a final ``#`` every level below (AWS: not the parent itself). The second
    value is True when the filter starts with a wildcard, which never delivers ``$`` topics. None
    for an invalid filter (a wildcard that is not a whole level, ``#`` not last): the broker refuses it.
    """
    levels = topic_filter.split("/")
    tokens: list[Token] = []
    for i, level in enumerate(levels):
        if i:
            tokens.append((LIT, "/"))
        if level == "+":
            tokens.append((SEG, ""))
        elif level == "#":
            if i != len(levels) - 1:
                return None
            tokens.append((STAR, ""))  # 'a/#': 'a/' and anything after it, not 'a' itself
        elif "+" in level or "#" in level:
            return None
        else:
            tokens.extend((LIT, ch) for ch in level)
    return Glob.from_tokens(tuple(tokens)), levels[0] in ("+", "#")


DOLLAR = Glob.parse("$*")
#: Topic names (PUBLISH, delivery) never hold MQTT wildcard characters.
WILDCARD_CHARACTERS = (Glob.parse("*+*"), Glob.parse("*#*"))
