"""Holders whose policies differ only in the names of their fleets share one simulation.

A deployment writes the same policy once per fleet (``dt/fleet-a/${thing}/*``, ``dt/fleet-b/...``).
What the simulation finds for such a policy cannot depend on which fleet name it carries, as long
as the name is *opaque* to everything the simulation compares it with. This module makes that
precise, renames each opaque name to a placeholder of the same length, simulates each distinct
renamed holder once, and renames the facts back.

**Which names.** A *level* of a resource (the text between two ``/``, or after the last one) that is
all of ``[A-Za-z0-9_-]`` (what thing, shadow, job and template names allow), two characters at
least, in a resource whose name does not start with ``$`` (reserved topics keep their words), is a
candidate ``L``. It is renamed only when no *part* of anything else the simulation may compare it
with could meet it:

- the literal runs of every glob the simulation builds on its own (``simulate.world_constants``:
  the devices' reserved topics, namespaces, client IDs, shapes of names, the claim API, ...) and of
  the holder's other resource text, each split at ``/`` into parts that are anchored at a level
  start, a level end, both or neither; a part anchored at both ends must differ from ``L``, one
  anchored at the start must not be a prefix of it, at the end not a suffix, a floating one not a
  substring (compared ignoring case, as the IgnoreCase condition operators do);
- every value a variable may take (device names, certificate IDs, the deployment's ARN fields, role
  alias names) and every condition value, as floating parts.

**Why the facts carry over.** Let ``φ`` swap every level equal to ``L`` with the level ``F`` (the
placeholder: same length, same character class, fresh in the same sense) in any string. ``φ`` is a
bijection on strings that keeps every ``/`` and every length. Take any glob of the simulation's own
and any string ``s`` it accepts: no literal character of the glob can land inside a level of ``s``
equal to ``L`` or ``F`` (that would make one of its parts meet ``L`` or ``F`` in the way the rules
above exclude), so only ``*``, ``?`` and ``+``-level tokens read those levels, and they read ``φ(s)``
the same way: the glob accepts ``φ(s)``. For the holder's own resources, ``L`` stands exactly where
the renamed holder has ``F``, as a whole level, so again ``s`` is accepted by the one iff ``φ(s)``
by the other. Every value and condition value is fixed by ``φ``. So the world of the renamed holder
is the image of the real one under ``φ``: every set question (emptiness, witness) has the same
answer, every evaluator decision is the same on ``φ`` of its request, the character-class validators
(thing, shadow, template names) agree because ``F`` and ``L`` share class and length, and the
simulation of the renamed holder is a simulation of the real one, read through ``φ``. Its facts are
mapped back with ``φ``: witness fields level by level, text fields (details, resource patterns)
word by word. If a mapped fact would still hold a placeholder, or a real name stood where the
placeholder belongs, the holder is simulated on its own instead: the shortcut never guesses.

What a shared simulation can differ in: the witness it shows (a filler character, which of two
equally short topics) and, near the search budget, whether a question is answered at all (the
budget counts product states of the renamed holder). The verdicts are the same; tests check that
findings match with and without sharing over the whole corpus and over renamed policies.

Holders built from a provisioning template are simulated on their own (their devices' names come
from the template body).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from iot_semantics.policy_eval import as_list
from iot_semantics.policy_match import BAR, LIT, STAR, Glob, Token, tokens_of
from iot_semantics.variables import LITERAL_ESCAPES, REFERENCE
from policy_review.model import Holder, Inventory

if TYPE_CHECKING:
    from policy_review.simulate import Fact

#: The characters a renamed level holds (and its placeholder): what thing, shadow, job and template
#: names allow, so the validators of those names treat a name and its placeholder alike.
NAME = re.compile(r"[A-Za-z0-9_-]+")
_MIN_LENGTH = 2
_MAX_LENGTH = 64
#: Placeholder letters: a placeholder is these letters, the index of the name in base 6.
_ALPHABET = "QZJXKV"


class Parts:
    """Literal parts (lower case) by how they are anchored: both ends, start, end, neither."""

    def __init__(self) -> None:
        self.exact: set[str] = set()
        self.start: set[str] = set()
        self.end: set[str] = set()
        self.floating: set[str] = set()
        self._meets: dict[str, bool] = {}
        self._holds: dict[str, bool] = {}
        self._max = -1

    def add(self, part: str, at_start: bool, at_end: bool) -> None:
        if not part or NAME.fullmatch(part) is None:
            return  # a part holding another character can meet no name of the class
        part = part.lower()
        self._meets.clear()
        self._holds.clear()
        self._max = -1
        if at_start and at_end:
            self.exact.add(part)
        elif at_start:
            self.start.add(part)
        elif at_end:
            self.end.add(part)
        else:
            self.floating.add(part)

    def add_run(self, run: str, at_start: bool, at_end: bool) -> None:
        levels = run.split("/")
        last = len(levels) - 1
        for i, level in enumerate(levels):
            self.add(level, at_start or i > 0, at_end or i < last)

    def add_tokens(self, tokens: Sequence[Token]) -> None:
        """The literal runs of a glob's tokens (``BAR`` ends one alternative and starts the next)."""
        run: list[str] = []
        at_start = True
        for kind, ch in tokens:
            if kind == LIT:
                run.append(ch)
                continue
            self.add_run("".join(run), at_start, kind == BAR)
            run, at_start = [], kind == BAR
        self.add_run("".join(run), at_start, True)

    def add_glob(self, glob: Glob) -> None:
        self.add_tokens(glob.tokens)

    def add_value(self, value: str) -> None:
        """A value a variable may take, or a condition value: it may stand anywhere in a level."""
        for text in (value, value.replace("*", "x").replace("?", "x")):  # as the attacker fills it in
            for piece in re.split(r"[/*?]", text):
                self.add(piece, False, False)

    def meets(self, name: str) -> bool:
        """Some part could meet a level equal to ``name`` (lower case) in a string both read."""
        found = self._meets.get(name)
        if found is None:
            found = self._meets[name] = self._meet(name)
        return found

    def _meet(self, name: str) -> bool:
        if name in self.exact:
            return True
        n = len(name)
        longest = self._longest()
        for i in range(n):
            for j in range(i + 1, min(n, i + longest) + 1):
                sub = name[i:j]
                if sub in self.floating or (i == 0 and sub in self.start) or (j == n and sub in self.end):
                    return True
        return False

    def _longest(self) -> int:
        """The longest part that is not anchored at both ends (no longer substring can be one)."""
        if self._max < 0:
            self._max = max(map(len, (*self.start, *self.end, *self.floating)), default=0)
        return self._max

    def holds(self, text: str) -> bool:
        """``text`` (lower case) occurs inside some part (a placeholder must not)."""
        found = self._holds.get(text)
        if found is None:
            found = self._holds[text] = any(
                text in p for group in (self.exact, self.start, self.end, self.floating) for p in group
            )
        return found


def resource_tokens(pattern: str) -> list[Token]:
    """A resource or condition value as tokens, a variable reference read as ``*`` (any value)."""
    out: list[Token] = []
    pos = 0
    for m in REFERENCE.finditer(pattern):
        out += tokens_of([(pattern[pos : m.start()], False)])
        name = m.group(1)
        out += [(LIT, name)] if name in LITERAL_ESCAPES else [(STAR, "")]
        pos = m.end()
    out += tokens_of([(pattern[pos:], False)])
    return out


@dataclass(frozen=True)
class Renaming:
    """Each renamed name and its placeholder."""

    pairs: tuple[tuple[str, str], ...]


def _statements(document: Any) -> list[Any] | None:
    if not isinstance(document, dict):
        return None
    return as_list(document.get("Statement"))


def _resources(statement: Any) -> list[tuple[str, list[str]]] | None:
    """(field, resource strings) of a statement; None when one is not a string."""
    if not isinstance(statement, dict):
        return None
    out = []
    for key in ("Resource", "NotResource"):
        if key in statement:
            values = as_list(statement[key])
            if not all(isinstance(v, str) for v in values):
                return None
            out.append((key, values))
    return out


def _condition_values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _condition_values(v)
    elif isinstance(value, list):
        for v in value:
            yield from _condition_values(v)


def _candidates(resource: str) -> list[int]:
    """Indexes of the levels of ``resource`` that are candidates for renaming."""
    levels = resource.split("/")
    if len(levels) < 2 or levels[1].startswith("$"):
        return []
    return [
        i
        for i in range(1, len(levels))
        if _MIN_LENGTH <= len(levels[i]) <= _MAX_LENGTH and NAME.fullmatch(levels[i]) is not None
    ]


class Canonicalizer:
    """Renames the opaque names of holders; ``constants`` are the parts of what the simulation brings."""

    def __init__(self, constants: Parts) -> None:
        self.constants = constants
        self._placeholders: dict[int, list[str]] = {}
        self._owns: dict[tuple[tuple[str, ...], tuple[str, ...]], Parts] = {}
        self._constant_free: dict[str, bool] = {}

    def placeholders(self, length: int) -> list[str]:
        """Placeholders of ``length`` characters that meet no constant part, in a fixed order."""
        found = self._placeholders.get(length)
        if found is None:
            found = []
            k = 0
            base = len(_ALPHABET)
            while len(found) < 16 and k < base**length:
                digits, rest = [], k
                while True:
                    digits.append(_ALPHABET[rest % base])
                    rest //= base
                    if not rest:
                        break
                text = ("".join(reversed(digits))).rjust(length, _ALPHABET[0])
                k += 1
                if text in found or self.constants.meets(text.lower()) or self.constants.holds(text.lower()):
                    continue
                found.append(text)
            self._placeholders[length] = found
        return found

    def _own(self, kept: tuple[str, ...], values: tuple[str, ...]) -> Parts:
        """The parts of a holder's own text: its resources with the candidate levels left out, its
        condition values."""
        found = self._owns.get((kept, values))
        if found is None:
            found = Parts()
            for text in kept:
                for field in text.split("/", 1)[0].split(":"):  # the ARN's partition, region, account
                    found.add_value(field)
                found.add_tokens(resource_tokens(text))
            for text in values:
                found.add_value(text)
                found.add_tokens(resource_tokens(text))
            if len(self._owns) > 10_000:
                self._owns.clear()
            self._owns[(kept, values)] = found
        return found

    def _opaque(self, name: str) -> bool:
        found = self._constant_free.get(name)
        if found is None:
            found = self._constant_free[name] = not self.constants.meets(name.lower())
        return found

    def canonical(self, holder: Holder) -> tuple[str, Renaming, list[dict[str, Any]]] | None:
        """(key, renaming, renamed documents) of the holder; None when its documents cannot be read so."""
        documents = [p.document for p in holder.policies]
        names: dict[str, None] = {}
        kept: list[str] = []
        values: list[str] = []
        layout: list[list[tuple[Any, str, list[str]]]] = []
        for document in documents:
            statements = _statements(document)
            if statements is None:
                return None
            entries = []
            for statement in statements:
                fields = _resources(statement)
                if fields is None:
                    return None
                for key, resources in fields:
                    entries.append((statement, key, resources))
                    for resource in resources:
                        rest, candidates = _shape(resource)
                        kept.append(rest)
                        names.update(dict.fromkeys(candidates))
                if isinstance(statement, dict) and "Condition" in statement:
                    values += _condition_values(statement["Condition"])
            layout.append(entries)
        own = self._own(tuple(kept), tuple(values))
        lowered = {n: n.lower() for n in names}
        counts: dict[str, int] = {}
        for low in lowered.values():
            counts[low] = counts.get(low, 0) + 1
        taken = set(lowered.values())
        pairs = []
        used: set[str] = set()
        for name, low in lowered.items():
            if counts[low] > 1 or not self._opaque(name) or own.meets(low):
                continue
            choice = next(
                (
                    f
                    for f in self.placeholders(len(name))
                    if f not in used
                    and f.lower() not in taken
                    and not own.meets(f.lower())
                    and not own.holds(f.lower())
                ),
                None,
            )
            if choice is not None:
                used.add(choice)
                pairs.append((name, choice))
        renaming = Renaming(tuple(pairs))
        mapping = dict(pairs)
        out = [
            _renamed_document(document, entries, mapping) if mapping else document
            for document, entries in zip(documents, layout, strict=True)
        ]
        key = json.dumps([holder.role, *out], separators=(",", ":"), default=str)
        return key, renaming, out


@lru_cache(maxsize=65536)
def _shape(resource: str) -> tuple[str, tuple[str, ...]]:
    """(the resource's text with its candidate levels left out, the candidate names)."""
    levels = resource.split("/")
    chosen = _candidates(resource) if "\x00" not in resource else []  # NUL marks a left-out level
    if not chosen:
        return resource, ()
    names = tuple(levels[i] for i in chosen)
    for i in chosen:
        levels[i] = "\x00"
    return "/".join(levels), names


def _renamed_document(
    document: dict[str, Any], entries: list[tuple[Any, str, list[str]]], mapping: dict[str, str]
) -> dict[str, Any]:
    def rename(value: str) -> str:
        kept, names = _shape(value)
        if not names:
            return value
        pieces = kept.split("\x00")
        out = [pieces[0]]
        for name, piece in zip(names, pieces[1:], strict=True):
            out += (mapping.get(name, name), piece)
        return "".join(out)

    replaced: dict[int, dict[str, Any]] = {}
    for statement, key, values in entries:
        copy = replaced.setdefault(id(statement), dict(statement))
        original = statement[key]
        copy[key] = [rename(v) for v in values] if isinstance(original, list) else rename(values[0])
    statements = document.get("Statement")
    if isinstance(statements, list):
        new: Any = [replaced.get(id(s), s) for s in statements]
    else:
        new = replaced.get(id(statements), statements)
    return {**document, "Statement": new}


class Unmapped(Exception):
    """A fact of the renamed holder that ``φ`` does not carry back cleanly."""


class _Back:
    """``φ`` from the renamed holder's strings to the real ones: placeholders back to names; a real
    name, or a placeholder inside a longer word, where ``φ`` would not map it cleanly raises Unmapped."""

    def __init__(self, renaming: Renaming) -> None:
        self.back = {f: n for n, f in renaming.pairs}
        self.names = {n.lower() for n, _ in renaming.pairs} | {f.lower() for _, f in renaming.pairs}

    def _one(self, text: str) -> str:
        found = self.back.get(text)
        if found is not None:
            return found
        if text.lower() in self.names or any(f in text for f in self.back):
            raise Unmapped(text)
        return text

    def levels(self, text: str) -> str:
        """A witness (topic, client ID, filter): level by level."""
        if not self.back:
            return text
        return "/".join(self._one(piece) for piece in text.split("/"))

    def words(self, text: str) -> str:
        """A text (a detail, a resource pattern): word by word."""
        if not self.back:
            return text
        return NAME.sub(lambda m: self._one(m.group(0)), text)


def facts_for(holder: Holder, renamed: Holder, facts: Iterable[Fact], renaming: Renaming) -> list[Fact] | None:
    """The facts of ``renamed`` read for ``holder`` through the renaming; None when one does not map."""
    back = _Back(renaming)
    index = {id(p): i for i, p in enumerate(renamed.policies)}
    out = []
    try:
        for fact in facts:
            i = index.get(id(fact.policy))
            if i is None:
                return None
            policy = holder.policies[i]
            statement = None
            if fact.statement is not None:
                position = fact.statement.index
                statements = policy.compiled.statements
                if position >= len(statements) or statements[position].index != position:
                    return None
                statement = statements[position]
            out.append(
                dataclasses.replace(
                    fact,
                    holder=holder,
                    policy=policy,
                    statement=statement,
                    resource=back.levels(fact.resource),
                    me=back.words(fact.me),
                    other=back.words(fact.other),
                    client_id=None if fact.client_id is None else back.levels(fact.client_id),
                    topic_filter=None if fact.topic_filter is None else back.levels(fact.topic_filter),
                    detail=back.words(fact.detail),
                    pattern=back.words(fact.pattern),
                )
            )
    except Unmapped:
        return None
    return out


def renamed_holder(holder: Holder, documents: Sequence[dict[str, Any]]) -> Holder:
    policies = tuple(
        p if d is p.document else dataclasses.replace(p, document=d)
        for p, d in zip(holder.policies, documents, strict=True)
    )
    return dataclasses.replace(holder, policies=policies)


def shared_simulation(
    inv: Inventory, constants: Parts, analyse: Callable[[Holder, Inventory], list[Fact]]
) -> list[Fact]:
    """``analyse`` of every holder, once per distinct renamed holder."""
    canon = Canonicalizer(constants)
    done: dict[str, tuple[Holder, list[Fact]]] = {}
    out: list[Fact] = []
    for holder in inv.holders:
        found = None if holder.template is not None or not holder.policies else canon.canonical(holder)
        if found is None:
            out += analyse(holder, inv)
            continue
        key, renaming, documents = found
        entry = done.get(key)
        if entry is None:
            renamed = renamed_holder(holder, documents) if renaming.pairs else holder
            entry = done[key] = (renamed, analyse(renamed, inv))
        facts = facts_for(holder, entry[0], entry[1], renaming)
        out += facts if facts is not None else analyse(holder, inv)
    return out


def forget() -> None:
    """Empty this module's memos (``simulate.clear_caches``)."""
    _shape.cache_clear()
