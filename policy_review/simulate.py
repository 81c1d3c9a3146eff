"""The simulation: what each holder of IoT policies can reach, as facts with concrete witnesses.

For every holder (``inventory``) the attacker device ``dev-1`` (``devices``) tries every client ID
its policies might let it connect with: its own, the victims', the bystander's, one that names no
thing, ``+`` and ``#``, and one aimed at each Connect resource, under every value of the condition
keys it controls. In each connection it may have (and over HTTPS, without one) the review asks, with
the automata of ``iot_semantics.policy_match`` and the evaluator of ``iot_semantics.policy_eval``:

- can it connect as a victim (its client ID, or one only the victim's own policy grants)?
- can it publish to, or subscribe to a filter delivering and receive, a topic that is the victim's:
  under ``$aws/things/<victim>/`` (shadows, jobs, tunnels, ...) or granted to the victim by its own
  policy and not to the bystander; retain a message there, read one retained there; call the
  shadow or job APIs on the victim's thing?
- can it publish to or read a topic naming the victim through a namespace every device shares
  (``dt/*``), and is there a topic every device may both publish and read (a fleet-wide channel)?
- does a Deny fail to remove what it aims at (MQTT wildcards are literal; a broader filter still
  delivers what a Subscribe Deny names), does a subscription deliver nothing, is a grant dead?
- may it obtain the credentials of a role alias beyond the ones its policy names?
- for a claim certificate: anything beyond the provisioning API of its own templates?

A witness is a string found in the intersection of the languages involved; before it becomes a fact
it is checked once more with ``evaluate`` (the same evaluator the local double uses), so a fact is
never a guess. Every MQTT topic witness holds no ``+`` or ``#`` (a PUBLISH topic cannot).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from iot_semantics import topics
from iot_semantics.policy_eval import Effect, Statement, conditions_hold, evaluate, lowered
from iot_semantics.policy_match import (
    DOLLAR,
    LIT,
    ONE,
    SEG,
    STAR,
    WILDCARD_CHARACTERS,
    Budget,
    Glob,
    Unknown,
    delivered,
    substitute,
    tokens_of,
    witness,
)
from iot_semantics.topics import ReservedApi, parse_reserved
from iot_semantics.variables import REFERENCE
from policy_review import canonical
from policy_review.canonical import Parts, shared_simulation
from policy_review.devices import (
    DEFAULT_ACCOUNT,
    DEFAULT_PARTITION,
    DEFAULT_REGION,
    STANDALONE_NAMES,
    Deployment,
    Device,
    World,
    certificate_id,
    world,
)
from policy_review.model import Holder, Inventory, Policy

CONNECT, PUBLISH, SUBSCRIBE, RECEIVE, RETAIN = (
    "iot:Connect",
    "iot:Publish",
    "iot:Subscribe",
    "iot:Receive",
    "iot:RetainPublish",
)
GET_RETAINED = "iot:GetRetainedMessage"
ASSUME_ROLE = "iot:AssumeRoleWithCertificate"
SHADOW_READ = ("iot:GetThingShadow",)
SHADOW_WRITE = ("iot:UpdateThingShadow", "iot:DeleteThingShadow")
JOBS_READ = ("iot:DescribeJobExecution", "iot:GetPendingJobExecutions")
JOBS_WRITE = ("iot:StartNextPendingJobExecution", "iot:UpdateJobExecution")
#: Every data-plane action a claim certificate never needs (beyond Connect, Publish, Subscribe, Receive).
CLAIM_NEVER = (
    RETAIN,
    GET_RETAINED,
    "iot:ListRetainedMessages",
    *SHADOW_READ,
    *SHADOW_WRITE,
    "iot:ListNamedShadowsForThing",
    *JOBS_READ,
    *JOBS_WRITE,
    ASSUME_ROLE,
    "greengrass:Discover",
    "greengrass:ResolveComponentCandidates",
    "greengrass:GetComponentVersionArtifact",
    "greengrass:CreateDeployment",
)
ACTIONS = (
    CONNECT,
    PUBLISH,
    SUBSCRIBE,
    RECEIVE,
    RETAIN,
    GET_RETAINED,
    ASSUME_ROLE,
    *SHADOW_READ,
    *SHADOW_WRITE,
    *JOBS_READ,
    *JOBS_WRITE,
)
ANY = Glob.parse("*")
#: A witness is a name of one character at least; a topic witness has no MQTT wildcard and no empty
#: level (``witness(topic=True)``: valid topics, and a reader learns more from ``a/x`` than ``a/``).
NONEMPTY = Glob.parse("?*")
_NOT_A_THING = "no-such-thing.x"


@dataclass(frozen=True)
class Fact:
    """One evaluated fact about a holder, with its witness."""

    kind: str
    holder: Holder
    policy: Policy
    statement: Statement | None
    action: str
    #: The witness resource as ``<type>/<name>`` (``topic/dt/dev-10/x``); empty when there is none.
    resource: str
    me: str = ""
    other: str = ""
    client_id: str | None = None
    topic_filter: str | None = None
    detail: str = ""
    #: The resource pattern (as the policy writes it) that granted the witness.
    pattern: str = ""


# Views: what one connection may do for one action ---------------------------------------------


@lru_cache(maxsize=16384)
def _references(pattern: str) -> tuple[str, ...]:
    return tuple(REFERENCE.findall(pattern))


_RESIDUALS: dict[tuple[str, tuple[str | None, ...], str], Glob] = {}


def residual_of(pattern: str, variables: Mapping[str, str], head: str) -> Glob:
    """``Glob.of(pattern, variables).after(head)``: the names of one resource type a pattern covers.

    ``head`` is ``<deployment prefix>:<type>/``. When the pattern starts with the deployment's ARN
    prefix as text holding no wildcard (the common case), the glob is built from the rest only:
    reading a literal prefix and then the rest is the same language as the residual of the whole.
    """
    key = (pattern, tuple(variables.get(n) for n in _references(pattern)), head)
    glob = _RESIDUALS.get(key)
    if glob is None:
        if len(_RESIDUALS) > 200_000:
            _RESIDUALS.clear()
        glob = _RESIDUALS[key] = _residual(pattern, variables, head)
    return glob


_EMPTY = Glob((), 0)


def _residual(pattern: str, variables: Mapping[str, str], head: str) -> Glob:
    cut = head.rindex(":") + 1
    account, rtype = head[:cut], head[cut:]
    pieces = substitute(pattern, variables)
    rest = _without_literal_prefix(pieces, account)
    if rest is None:
        if _literal_mismatch(pieces, account):
            return _EMPTY
        return Glob.from_tokens(tokens_of(pieces)).after(head)
    if rest and not rest[0][1] and rest[0][0].startswith(rtype):  # the type as policy text: drop it
        text = rest[0][0][len(rtype) :]
        return Glob.from_tokens(tokens_of(([(text, False)] if text else []) + rest[1:]))
    return Glob.from_tokens(tokens_of(rest)).after(rtype)


def _without_literal_prefix(pieces: list[tuple[str, bool]], prefix: str) -> list[tuple[str, bool]] | None:
    """The pieces after ``prefix``, when they start with it as text holding no wildcard (else None)."""
    n = 0
    for i, (text, literal) in enumerate(pieces):
        take = min(len(text), len(prefix) - n)
        head = text[:take]
        if head != prefix[n : n + take] or (not literal and ("*" in head or "?" in head)):
            return None
        n += take
        if n == len(prefix):
            return ([(text[take:], literal)] if take < len(text) else []) + pieces[i + 1 :]
    return None


def _literal_mismatch(pieces: list[tuple[str, bool]], prefix: str) -> bool:
    """The pieces' text departs from ``prefix`` before any wildcard: no name of the prefix can match."""
    n = 0
    for text, literal in pieces:
        for ch in text:
            if not literal and ch in "*?":
                return False
            if n == len(prefix):
                return False
            if ch != prefix[n]:
                return True
            n += 1
    return False


@dataclass(frozen=True)
class Piece:
    """One Allow resource (or ``NotResource`` set) over names of one resource type."""

    glob: Glob
    excl: tuple[Glob, ...]
    policy: int
    statement: Statement
    pattern: str


@dataclass(frozen=True)
class Group:
    """Allow pieces searched as one: a union of the pieces without exclusions, or one piece with its own."""

    glob: Glob
    excl: tuple[Glob, ...]
    pieces: tuple[Piece, ...]

    def may_meet(self, target: Target) -> bool:
        """Literal prefixes and suffixes leave some piece and some target glob a common name."""
        return any(target.may_meet(p.glob) and any(p.glob.may_meet(tg) for tg in target.globs) for p in self.pieces)

    def piece_for(self, name: str) -> Piece:
        """The piece that grants ``name`` (the statement a fact names)."""
        return next(
            (p for p in self.pieces if p.glob.matches(name) and not any(e.matches(name) for e in p.excl)),
            self.pieces[0],
        )


def groups_of(pieces: Sequence[Piece]) -> list[Group]:
    plain = tuple(p for p in pieces if not p.excl)
    out = [Group(Glob.union(p.glob for p in plain), (), plain)] if plain else []
    return out + [Group(p.glob, p.excl, (p,)) for p in pieces if p.excl]


class View:
    """What one device may do for one action under one set of variable values (shared by every
    session whose values agree on what the action's statements read)."""

    def __init__(
        self,
        prefix: str,
        statements: Sequence[tuple[int, Statement]],
        variables: dict[str, str],
        by_key: dict[str, str],
    ) -> None:
        self.prefix = prefix
        self.variables = variables
        self.allows: list[tuple[int, Statement]] = []
        self.denies: list[tuple[int, Statement]] = []
        for pi, st in statements:
            if st.conditions and not conditions_hold(st, variables, by_key):
                continue
            (self.denies if st.effect is Effect.DENY else self.allows).append((pi, st))
        self._pieces: dict[str, list[Piece]] = {}
        self._groups: dict[str, list[Group]] = {}
        self._denies: dict[str, tuple[list[Glob], list[list[Glob]]]] = {}
        self._allowed: dict[tuple[str, str], bool] = {}

    def _residuals(self, st: Statement, head: str) -> list[tuple[str, Glob]]:
        return [(r, g) for r in st.resources if not (g := residual_of(r, self.variables, head)).empty]

    def pieces(self, rtype: str) -> list[Piece]:
        if rtype not in self._pieces:
            head = f"{self.prefix}:{rtype}/"
            out = []
            for pi, st in self.allows:
                residuals = self._residuals(st, head)
                if st.not_resource:
                    out.append(Piece(ANY, tuple(g for _, g in residuals), pi, st, ""))
                    continue
                out += [Piece(g, (), pi, st, pattern) for pattern, g in residuals]
            self._pieces[rtype] = out
        return self._pieces[rtype]

    def groups(self, rtype: str) -> list[Group]:
        found = self._groups.get(rtype)
        if found is None:
            found = self._groups[rtype] = groups_of(self.pieces(rtype))
        return found

    def denied(self, rtype: str) -> tuple[Glob, list[list[Glob]]]:
        """``deny`` with the excluded names as one glob."""
        excluded, within = self.deny(rtype)
        return Glob.union(excluded), within

    def allows_name(self, rtype: str, name: str) -> bool:
        key = (rtype, name)
        found = self._allowed.get(key)
        if found is None:
            excluded, within = self.deny(rtype)
            if any(g.matches(name) for g in excluded) or any(not any(g.matches(name) for g in w) for w in within):
                found = False
            else:
                found = any(
                    p.glob.matches(name) and not any(e.matches(name) for e in p.excl) for p in self.pieces(rtype)
                )
            self._allowed[key] = found
        return found

    def deny(self, rtype: str) -> tuple[list[Glob], list[list[Glob]]]:
        """(names every Deny excludes, sets of names a Deny NotResource confines the grant to)."""
        if rtype not in self._denies:
            head = f"{self.prefix}:{rtype}/"
            excluded: list[Glob] = []
            within: list[list[Glob]] = []
            for _, st in self.denies:
                residuals = [g for _, g in self._residuals(st, head)]
                if st.not_resource:
                    within.append(residuals)
                else:
                    excluded += residuals
            self._denies[rtype] = (excluded, within)
        return self._denies[rtype]


_NOTHING = View("", (), {}, {})
#: Product states one holder's searches may explore in all (about a second and a half of search).
HOLDER_BUDGET = 150_000


class WorldCache:
    """Per device: the statements that name each action (conditions aside), and the views built
    from them, keyed by the variable values those statements read."""

    def __init__(self, budget: int = 0) -> None:
        self._by_device: dict[int, dict[str, tuple[list[tuple[int, Statement]], tuple[str, ...], tuple[str, ...]]]] = {}
        self._views: dict[tuple[object, ...], View] = {}
        #: Answers of find/read per (views, targets): sessions whose views agree share them. The
        #: value keeps the key's objects alive, so their ids cannot be reused.
        self.answers: dict[tuple[object, ...], tuple[Hit | None, tuple[object, ...]]] = {}
        #: Product states the searches of one holder may explore before it is reported unjudged.
        self.budget = Budget(budget or HOLDER_BUDGET)

    def _entry(
        self, device: Device, action: str
    ) -> tuple[list[tuple[int, Statement]], tuple[str, ...], tuple[str, ...]]:
        by_action = self._by_device.setdefault(id(device.compiled), {})
        entry = by_action.get(action)
        if entry is None:
            statements = [
                (pi, st)
                for pi, compiled in enumerate(device.compiled)
                for st in compiled.statements
                if st.valid and st.matches_action(action)
            ]
            names: dict[str, None] = {}
            keys: dict[str, None] = {}
            for _, st in statements:
                for r in st.resources:
                    names.update(dict.fromkeys(_references(r)))
                for c in st.conditions:
                    keys[c.key.lower()] = None
                    for v in c.values:
                        names.update(dict.fromkeys(_references(v)))
            entry = by_action[action] = (statements, tuple(names), tuple(keys))
        return entry

    def statements(self, device: Device, action: str) -> list[tuple[int, Statement]]:
        return self._entry(device, action)[0]

    def view(self, session: Session, action: str) -> View:
        statements, names, keys = self._entry(session.device, action)
        if not statements:
            return _NOTHING
        variables, by_key = session.variables, session.by_key
        key = (
            id(session.device.compiled),
            action,
            tuple(variables.get(n) for n in names),
            tuple(by_key.get(k) for k in keys),
        )
        found = self._views.get(key)
        if found is None:
            found = self._views[key] = View(session.prefix, statements, variables, by_key)
        return found


@dataclass
class Session:
    """One connection of ``device`` (``client_id`` None: the HTTPS data plane, no connection)."""

    world: World
    device: Device
    client_id: str | None
    free: dict[str, str]
    world_cache: WorldCache
    #: The connection is assumed (the device's policies grant no Connect; another policy must).
    assumed: bool = False
    variables: dict[str, str] = field(init=False)
    by_key: dict[str, str] = field(init=False)
    _views: dict[str, View] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.context = self.world.context(self.device, self.client_id, self.free)
        self.variables = self.context.variables()
        self.by_key = lowered(self.variables)

    @property
    def prefix(self) -> str:
        return self.world.deployment.prefix

    def view(self, action: str) -> View:
        found = self._views.get(action)
        if found is None:
            found = self._views[action] = self.world_cache.view(self, action)
        return found

    def allowed(self, action: str, rtype: str, name: str) -> bool:
        """The evaluator's answer for ``name`` (read from the view built from the same statements)."""
        return self.view(action).allows_name(rtype, name)

    def decision(self, action: str, rtype: str, name: str) -> bool:
        """``evaluate`` itself on the full ARN (tests compare it with ``allowed``)."""
        arn = self.world.deployment.arn(rtype, name)
        return evaluate(self.device.compiled, action, arn, self.context).allowed

    def describe(self) -> str:
        if self.client_id is None:
            return "over HTTPS (no MQTT connection)"
        if self.client_id == self.device.name:
            return "(connected as itself through a Connect another policy grants)" if self.assumed else ""
        thing = self.world.by_name(self.client_id)
        if thing is not None and thing is not self.device and self.world.thing_variables:
            return (
                f"after connecting with client ID {self.client_id}, the name of a thing its certificate is not "
                "attached to"
            )
        return f"after connecting with client ID {self.client_id}"


@dataclass(frozen=True)
class Hit:
    name: str
    piece: Piece
    topic_filter: str | None = None


def _search(
    positives: Sequence[Glob],
    none_of: Sequence[Glob],
    within: Sequence[Sequence[Glob]],
    *,
    topic: bool = False,
    budget: Budget | None = None,
) -> str | None:
    if not within:
        return witness(positives, none_of, topic=topic, budget=budget)
    for choice in _choices(within):
        found = witness([*positives, *choice], none_of, topic=topic, budget=budget)
        if found is not None:
            return found
    return None


def _choices(within: Sequence[Sequence[Glob]]) -> Iterator[list[Glob]]:
    if not within:
        yield []
        return
    first, rest = within[0], within[1:]
    for g in first:
        for tail in _choices(rest):
            yield [g, *tail]


@dataclass(frozen=True)
class Target:
    """A set of names: any of ``globs`` and none of ``excl``."""

    globs: tuple[Glob, ...]
    excl: tuple[Glob, ...] = ()
    #: The literal text every name of the target starts with (a quick test before any search).
    prefix: str = field(default="", init=False)
    #: ``globs`` and ``excl`` as one glob each (one search instead of one per glob).
    union: Glob = field(default=Glob((), 0), init=False)
    excl_union: Glob = field(default=Glob((), 0), init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "union", Glob.union(self.globs))
        object.__setattr__(self, "excl_union", Glob.union(self.excl))
        prefixes = [g.literal_prefix() or "" for g in self.globs]
        common = prefixes[0] if prefixes else ""
        for p in prefixes[1:]:
            n = 0
            while n < min(len(common), len(p)) and common[n] == p[n]:
                n += 1
            common = common[:n]
        object.__setattr__(self, "prefix", common)

    def may_meet(self, glob: Glob) -> bool:
        p = glob.literal_prefix()
        if p is None or not self.prefix:
            return True
        n = min(len(p), len(self.prefix))
        return p[:n] == self.prefix[:n]


#: Names a resource type admits, as globs (any one of the first, none of the second): thing names
#: hold no ``/`` (``thing/<name>/<shadow>`` names a named shadow), role-alias names no ``/`` or ``:``.
_ONE_LEVEL = Glob.from_tokens(((ONE, ""), (SEG, "")))
_NAME_SHAPES: dict[str, tuple[tuple[Glob, ...], tuple[Glob, ...]]] = {
    "thing": (
        (_ONE_LEVEL, Glob.from_tokens(((ONE, ""), (SEG, ""), (LIT, "/"), (ONE, ""), (SEG, "")))),
        tuple(Glob.parse(g) for g in ("*/*/*", "/*", "*/")),
    ),
    "rolealias": ((_ONE_LEVEL,), (Glob.parse("*:*"), Glob.parse("*/*"))),
}


def find(
    session: Session,
    action: str,
    rtype: str,
    targets: Iterable[Target],
    *,
    topic: bool = False,
    also: str | None = None,
) -> Hit | None:
    """A name of ``rtype`` the session may use for ``action`` (and for ``also``) that lies in one of ``targets``."""
    targets = tuple(targets)
    answers = session.world_cache.answers
    key = ("find", session.view(action), session.view(also) if also else None, rtype, topic, *map(id, targets))
    if key not in answers:
        answers[key] = (_find(session, action, rtype, targets, topic=topic, also=also), targets)
    return answers[key][0]


def _find(
    session: Session, action: str, rtype: str, targets: Sequence[Target], *, topic: bool, also: str | None
) -> Hit | None:
    view = session.view(action)
    groups = view.groups(rtype)
    if not groups:
        return None
    excluded, within = view.denied(rtype)
    extras: list[Group | None] = [None]
    if also is not None:
        other = session.view(also)
        extras = list(other.groups(rtype))
        more_excluded, more_within = other.denied(rtype)
        excluded, within = Glob.union([excluded, more_excluded]), [*within, *more_within]
    shapes, unlike = _NAME_SHAPES.get(rtype, ((NONEMPTY,), ()))
    for target in targets:
        live = [g for g in groups if g.may_meet(target)]
        for group, shape, extra in itertools.product(live, shapes, extras):
            if extra is not None and not extra.may_meet(target):
                continue
            positives = [group.glob, target.union, shape]
            none = [*group.excl, excluded, target.excl_union, *unlike]
            if extra is not None:
                positives.append(extra.glob)
                none += extra.excl
            name = _search(positives, none, within, topic=topic, budget=session.world_cache.budget)
            if name is not None and session.allowed(action, rtype, name):
                if also is None or session.allowed(also, rtype, name):
                    return Hit(name, group.piece_for(name))
    return None


def _filter_text(glob: Glob) -> str | None:
    memo = glob.automaton.memo
    key = ("widest-filter", glob.start)
    if key not in memo:
        memo[key] = _widest_filter(glob)
    return memo[key]  # type: ignore[return-value]


def _widest_filter(glob: Glob) -> str | None:
    """The widest MQTT filter a topicfilter glob admits: a trailing level ``*`` as ``#``, a whole-level
    ``*``/``?`` as ``+``."""
    if glob.start & (glob.start - 1) or not glob.start:
        return None
    i = glob.start.bit_length() - 1
    tokens = glob.tokens[i:]
    out: list[str] = []
    for j, (kind, ch) in enumerate(tokens):
        at_level_start = not out or out[-1].endswith("/")
        at_level_end = j + 1 == len(tokens) or (tokens[j + 1][0] == LIT and tokens[j + 1][1] == "/")
        if kind == LIT:
            out.append(ch)
        elif kind in (STAR, ONE) and at_level_start and j + 1 == len(tokens):
            out.append("#")
        elif kind in (STAR, ONE) and at_level_start and at_level_end:
            out.append("+")
        elif kind == ONE:
            out.append("x")
    return "".join(out)


def _level_filters(glob: Glob) -> list[str]:
    memo = glob.automaton.memo
    key = ("level-filters", glob.start)
    if key not in memo:
        memo[key] = _make_level_filters(glob)
    return memo[key]  # type: ignore[return-value]


def _could_deliver(sub_prefix: str | None, topic_prefix: str) -> bool:
    """A filter starting with ``sub_prefix`` may deliver a topic starting with ``topic_prefix``:
    level by level, each whole level of the filter is ``+``, ``#`` or the topic's level."""
    if sub_prefix is None:
        return True
    sub_levels, topic_levels = sub_prefix.split("/"), topic_prefix.split("/")
    for i, level in enumerate(sub_levels[:-1]):  # the last piece may be a partial level
        if level == "#":
            return True
        if i + 1 >= len(topic_levels):
            return True  # the topic's literal text ends here: anything may follow
        if level != "+" and level != topic_levels[i]:
            return False
    return True


def _make_level_filters(glob: Glob) -> list[str]:
    """Filters that deliver what ``glob``'s literal prefix starts: each prefix of whole levels + ``/#``,
    with each of those levels in turn replaced by ``+``; and ``#``."""
    prefix = glob.literal_prefix() or ""
    levels = prefix.split("/")[:-1] if "/" in prefix else []
    out = ["#"]
    for k in range(1, len(levels) + 1):
        out.append("/".join(levels[:k]) + "/#")
        for i in range(k):
            out.append("/".join([*levels[:i], "+", *levels[i + 1 : k]]) + "/#")
    if prefix and "*" not in prefix:
        out.append(prefix)
    return list(dict.fromkeys(out))


def read(
    session: Session,
    targets: Iterable[Target],
    *,
    only: Sequence[Piece] | None = None,
    recv_only: Sequence[Piece] | None = None,
) -> Hit | None:
    """A topic of ``targets`` the session may receive through a filter it may subscribe to."""
    targets = tuple(targets)
    answers = session.world_cache.answers
    pieces = (tuple(only) if only is not None else None, tuple(recv_only) if recv_only is not None else None)
    key = (
        "read",
        session.view(SUBSCRIBE),
        session.view(RECEIVE),
        *map(id, targets),
        *(map(id, pieces[0] or ())),
        "|",
        *(map(id, pieces[1] or ())),
        only is None,
        recv_only is None,
    )
    if key not in answers:
        answers[key] = (_read(session, targets, only=only, recv_only=recv_only), (targets, pieces))
    return answers[key][0]


def _read(
    session: Session, targets: Sequence[Target], *, only: Sequence[Piece] | None, recv_only: Sequence[Piece] | None
) -> Hit | None:
    sub, recv = session.view(SUBSCRIBE), session.view(RECEIVE)
    sub_pieces = list(only) if only is not None else sub.pieces("topicfilter")
    recv_groups = groups_of(recv_only) if recv_only is not None else recv.groups("topic")
    if not sub_pieces or not recv_groups:
        return None
    targets = list(targets)
    return _read_as_filter(session, targets, groups_of(sub_pieces), recv_groups) or _read_wider(
        session, targets, sub_pieces, recv_groups
    )


def _read_as_filter(
    session: Session, targets: list[Target], sub_groups: list[Group], recv_groups: list[Group]
) -> Hit | None:
    """1. The topic itself as the filter."""
    sub_excl, sub_within = session.view(SUBSCRIBE).denied("topicfilter")
    recv_excl, recv_within = session.view(RECEIVE).denied("topic")
    for target in targets:
        for sg, rg in itertools.product(sub_groups, recv_groups):
            if not (sg.may_meet(target) and rg.may_meet(target)):
                continue
            none = [*sg.excl, sub_excl, *rg.excl, recv_excl, target.excl_union]
            name = _search(
                [sg.glob, rg.glob, target.union],
                none,
                [*sub_within, *recv_within],
                topic=True,
                budget=session.world_cache.budget,
            )
            if (
                name is not None
                and session.allowed(SUBSCRIBE, "topicfilter", name)
                and session.allowed(RECEIVE, "topic", name)
            ):
                return Hit(name, rg.piece_for(name), name)
    return None


def _read_wider(
    session: Session, targets: list[Target], sub_pieces: list[Piece], recv_groups: list[Group]
) -> Hit | None:
    """2. A wider filter: MQTT wildcards the policy grants literally, or that a '*' admits."""
    recv_excl, recv_within = session.view(RECEIVE).denied("topic")
    sub_prefixes = [sp.glob.literal_prefix() for sp in sub_pieces]
    widest = [t for sp in sub_pieces if (t := _filter_text(sp.glob)) is not None]
    tried: set[str] = set()
    for target in targets:
        near = [rg for rg in recv_groups if rg.may_meet(target)]
        if not near:
            continue
        candidates = list(widest)
        for tg in target.globs:
            topic_prefix = tg.literal_prefix() or ""
            live = [p for p in sub_prefixes if _could_deliver(p, topic_prefix)]
            if live:
                candidates += [f for f in _level_filters(tg) if _admitted(f, live)]
        for text in dict.fromkeys(candidates):
            if text in tried or not any(sp.glob.matches(text) for sp in sub_pieces):
                continue
            topic_set = delivered(text)
            if topic_set is None or not session.allowed(SUBSCRIBE, "topicfilter", text):
                tried.add(text)
                continue
            d, dollar_excluded = topic_set
            if not target.may_meet(d):
                continue
            for rg in near:
                none = [*rg.excl, recv_excl, target.excl_union, *([DOLLAR] if dollar_excluded else [])]
                name = _search(
                    [d, rg.glob, target.union], none, recv_within, topic=True, budget=session.world_cache.budget
                )
                if name is not None and session.allowed(RECEIVE, "topic", name):
                    return Hit(name, rg.piece_for(name), text)
    return None


def _admitted(text: str, prefixes: Sequence[str | None]) -> bool:
    """Some subscribe resource's literal prefix is compatible with the filter ``text``."""
    return any(p is None or text[: len(p)] == p[: len(text)] for p in prefixes)


# Sessions -----------------------------------------------------------------------------------------


def _connect_candidates(world: World, device: Device, cache: WorldCache) -> list[str]:
    names = [device.name, *(d.name for d in world.devices.values() if d is not device)]
    candidates = [*names, *_other_client_ids(device.name)]
    legit = Session(world, device, device.name, {}, cache)
    for piece in legit.view(CONNECT).pieces("client"):
        for other in world.victims:
            for aim in _aims(other.name):
                try:
                    found = witness([piece.glob, aim], list(piece.excl))
                except Unknown:
                    found = None
                if found:
                    candidates.append(found)
    return list(dict.fromkeys(candidates))


def _other_client_ids(name: str) -> tuple[str, ...]:
    """Client IDs a device ``name`` tries beside the devices' names: a ``#n`` suffix (Greengrass
    cores connect so), one that names no thing, and the MQTT wildcards."""
    return (f"{name}#2", _NOT_A_THING, "+", "#")


@lru_cache(maxsize=256)
def _aims(name: str) -> tuple[Glob, ...]:
    """Client IDs worth trying against a Connect resource: ``name`` as a prefix, inside, anything."""
    return (Glob.parse(f"{name}*"), Glob.parse(f"*{name}*"), ANY)


def grants_connect(device: Device, cache: WorldCache) -> bool:
    """Some policy of the device allows iot:Connect at all (conditions aside)."""
    return any(st.effect is Effect.ALLOW for _, st in cache.statements(device, CONNECT))


#: The connections ``sessions`` opens, per everything that decides them (the statements naming
#: iot:Connect, the world's devices and victims, the free condition values, the deployment): holders
#: whose policies differ only in what the other actions grant share one answer.
_OPENED: dict[tuple[object, ...], tuple[tuple[str | None, int, bool], ...]] = {}


def sessions(world: World, device: Device, cache: WorldCache) -> list[Session]:
    """Every connection ``device`` may open (Connect allowed), then the HTTPS one.

    When the device's policies grant no iot:Connect at all, the policy is one of several on the
    certificate: the device is taken to connect as itself through another policy's Connect.
    """
    frees = world.free_assignments()
    key = (
        tuple(cache.statements(device, CONNECT)),
        _identity(device),
        tuple((role, _identity(d)) for role, d in world.devices.items()),
        tuple(v.name for v in world.victims),
        tuple(tuple(sorted(f.items())) for f in frees),
        world.deployment,
        world.thing_variables,
    )
    plan = _OPENED.get(key)
    if plan is None:
        if len(_OPENED) > 10_000:
            _OPENED.clear()
        plan = _OPENED[key] = tuple(_opened(world, device, cache, frees))
    return [
        Session(world, device, client_id, frees[i] if i >= 0 else {}, cache, assumed) for client_id, i, assumed in plan
    ]


def _identity(device: Device) -> tuple[object, ...]:
    """What a device's connection context reads of it (its policies aside)."""
    return device.name, device.thing_type, tuple(sorted(device.attributes.items())), device.certificate_id


def _opened(
    world: World, device: Device, cache: WorldCache, frees: list[dict[str, str]]
) -> Iterator[tuple[str | None, int, bool]]:
    """(client ID, index of the free values or -1 for none, assumed) of each session ``sessions`` opens."""
    seen: set[frozenset[tuple[str, str]]] = set()
    if not grants_connect(device, cache):
        yield device.name, -1, True
    else:
        for i, free in enumerate(frees):
            for client_id in _connect_candidates(world, device, cache):
                session = Session(world, device, client_id, free, cache)
                key = frozenset(session.variables.items())
                if key in seen:
                    continue
                if session.allowed(CONNECT, "client", client_id):
                    seen.add(key)
                    yield client_id, i, False
    yield None, 0, False


def connects_as_itself(session: Session) -> bool:
    return (
        session.assumed
        or not grants_connect(session.device, session.world_cache)
        or session.allowed(CONNECT, "client", session.device.name)
    )


# What belongs to a device -------------------------------------------------------------------------

_OWN_TOPIC_ACTIONS = (PUBLISH, RECEIVE, RETAIN)


def own_globs(session: Session, rtype: str, actions: Iterable[str]) -> list[Glob]:
    out = []
    for action in actions:
        out += [p.glob for p in session.view(action).pieces(rtype)]
    return out


def own_topics(session: Session) -> list[Glob]:
    """What a device's own policy grants it: topics it publishes or receives, filters it subscribes to."""
    return own_globs(session, "topic", _OWN_TOPIC_ACTIONS) + own_globs(session, "topicfilter", (SUBSCRIBE,))


@lru_cache(maxsize=256)
def _thing_topics(name: str) -> Glob:
    """The topics under a thing's reserved prefix (``$aws/things/<name>/*``)."""
    return Glob.parse(f"{topics.thing_prefix(name)}/*")


@lru_cache(maxsize=256)
def _thing_target(name: str) -> Target:
    """The victim's thing as the shadow and job actions name it: ``thing/<name>``, or
    ``thing/<name>/<shadow>`` for a named shadow (one level: shadow names hold no ``/``)."""
    named = Glob.from_tokens((*Glob.literal(name + "/").tokens, (SEG, "")))
    return Target((Glob.literal(name), named), (Glob.literal(name + "/"),))


# Facts ---------------------------------------------------------------------------------------------


def _topic_kind(name: str, verb: str) -> str:
    parsed = parse_reserved(name)
    if parsed is not None and parsed.api is ReservedApi.SHADOW:
        return f"shadow-{verb}"
    if parsed is not None and parsed.api is ReservedApi.JOBS:
        return f"jobs-{verb}"
    if parsed is not None and parsed.api is ReservedApi.TUNNELS_NOTIFY:
        return f"tunnel-{verb}"
    return f"topic-{verb}"


class Analysis:
    """The facts of one holder."""

    def __init__(self, holder: Holder, inv: Inventory) -> None:
        self.holder = holder
        self.inv = inv
        self.world = world(holder)
        self.cache = WorldCache()
        self.facts: list[Fact] = []
        self._keys: set[tuple[str, int, int]] = set()
        #: Searches already answered (kind, other device): one witness per kind and victim.
        self.done: set[tuple[str, str]] = set()
        self._sessions: dict[tuple[str, str | None], Session] = {}

    def legit(self, device: Device) -> Session:
        """``device`` connected as itself, every condition key it controls absent."""
        key = (device.name, device.name)
        if key not in self._sessions:
            self._sessions[key] = Session(self.world, device, device.name, {}, self.cache)
        return self._sessions[key]

    def add(
        self,
        kind: str,
        session: Session,
        action: str,
        rtype: str,
        hit: Hit | None,
        *,
        other: str = "",
        detail: str = "",
        resource: str | None = None,
    ) -> None:
        """Record a fact; one per kind and deciding statement (the first victim found names it)."""
        piece = hit.piece if hit else None
        policy_index = piece.policy if piece else 0
        key = (kind, policy_index, piece.statement.index if piece else -1)
        self.done.add((kind, other))
        if key in self._keys:
            return
        self._keys.add(key)
        policies = session.device.policies
        policy = policies[policy_index] if policy_index < len(policies) else self.holder.policies[0]
        self.facts.append(
            Fact(
                kind,
                self.holder,
                policy,
                piece.statement if piece else None,
                action,
                resource if resource is not None else f"{rtype}/{hit.name}" if hit else "",
                session.device.name,
                other,
                session.client_id,
                hit.topic_filter if hit else None,
                detail or session.describe(),
                piece.pattern if piece else "",
            )
        )

    def has(self, kind: str, other: str = "") -> bool:
        return (kind, other) in self.done

    def mark(self, kind: str, other: str = "") -> None:
        self.done.add((kind, other))

    def wrote(self, other: str) -> bool:
        return any(k.endswith("-write") and o == other for k, o in self.done)

    def read_any(self, other: str) -> bool:
        return any(k.endswith("-read") and o == other for k, o in self.done)


def _api(filters: Iterable[str]) -> tuple[Glob, ...]:
    """The topics of an AWS API as MQTT filters read as topic languages (``+`` is one level)."""
    out = []
    for f in filters:
        topic_set = delivered(f)
        assert topic_set is not None
        out.append(topic_set[0])
    return tuple(out)


@lru_cache(maxsize=256)
def _reserved_targets(name: str) -> list[tuple[str, Target]]:
    """The victim's reserved topics, exactly as the APIs use them (fact sheet 5.6)."""
    thing = topics.thing_prefix(name)
    ops = [f"{op}{tail}" for op in ("update", "get", "delete") for tail in ("", "/accepted", "/rejected")]
    ops += ["update/delta", "update/documents"]
    shadows = [f"{p}/{op}" for p in (topics.shadow_prefix(name), f"{topics.shadow_prefix(name)}/name/+") for op in ops]
    jobs = topics.jobs_prefix(name)
    job_topics = [
        f"{jobs}/{t}"
        for t in (
            "notify",
            "notify-next",
            "get",
            "get/+",
            "start-next",
            "start-next/+",
            "+/get",
            "+/get/+",
            "+/update",
            "+/update/+",
        )
    ]
    metrics = [topics.defender_metrics_topic(name, f) for f in ("json", "cbor")]
    others = [
        *metrics,
        *(f"{m}/{r}" for m in metrics for r in ("accepted", "rejected")),
        f"{thing}/greengrass/health/json",
        f"{thing}/greengrassv2/health/json",
    ]
    return [
        ("shadow", Target(_api(shadows))),
        ("jobs", Target(_api(job_topics))),
        ("tunnel", Target(_api([topics.tunnels_notify_topic(name)]))),
        ("reserved", Target(_api(others))),
    ]


_THING_ACTIONS = (*SHADOW_READ, *SHADOW_WRITE, *JOBS_READ, *JOBS_WRITE)


def _device_facts(a: Analysis) -> list[Session]:
    w, cache = a.world, a.cache
    attacker = w.attacker
    bystander = a.legit(w.bystander)
    mine = sessions(w, attacker, cache)
    c_pub = own_globs(bystander, "topic", (PUBLISH, RETAIN))
    c_recv = own_globs(bystander, "topic", (RECEIVE,))
    c_sub = own_globs(bystander, "topicfilter", (SUBSCRIBE,))
    c_clients = own_globs(bystander, "client", (CONNECT,))
    c_things = own_globs(bystander, "thing", _THING_ACTIONS)
    own = next((s for s in mine if s.client_id == attacker.name), None)
    _listed_clients(a, mine)
    for victim in w.victims:
        vs = a.legit(victim)
        base = _thing_topics(victim.name)
        # B's own topic globs, each against C's own of the same family
        apps = [
            Target(tuple(own_globs(vs, "topic", (PUBLISH, RETAIN))), (*c_pub, base)),
            Target(tuple(own_globs(vs, "topic", (RECEIVE,))), (*c_recv, base)),
            Target(tuple(own_globs(vs, "topicfilter", (SUBSCRIBE,))), (*c_sub, base)),
        ]
        topic_targets = [*_reserved_targets(victim.name), *(("app", t) for t in apps if t.globs)]
        clients = Target(tuple(own_globs(vs, "client", (CONNECT,))), tuple(c_clients))
        things = [
            _thing_target(victim.name),
            Target(tuple(own_globs(vs, "thing", _THING_ACTIONS)), tuple(c_things)),
        ]
        for s in mine:
            _session_facts(a, s, victim, clients, topic_targets, things)
        _shared_facts(a, own, vs, victim, (c_pub, c_recv, c_sub), bystander)
    return mine


def _session_facts(
    a: Analysis,
    s: Session,
    victim: Device,
    clients: Target,
    topic_targets: list[tuple[str, Target]],
    things: list[Target],
) -> None:
    name = victim.name
    if (
        s.client_id is not None
        and not a.has("connect-as", name)
        and (
            s.client_id == name
            or (
                any(g.matches(s.client_id) for g in clients.globs)
                and not any(g.matches(s.client_id) for g in clients.excl)
            )
        )
    ):
        piece = next((p for p in s.view(CONNECT).pieces("client") if p.glob.matches(s.client_id)), None)
        a.add(
            "connect-as",
            s,
            CONNECT,
            "client",
            Hit(s.client_id, piece) if piece else None,
            other=name,
            resource=f"client/{s.client_id}",
        )
    mqtt = s.client_id is not None
    grouped: dict[str, list[Target]] = {}
    for area, target in topic_targets:
        grouped.setdefault(area, []).append(target)
    for hit in _area_hits(a, s, name, "publish", grouped, lambda ts: find(s, PUBLISH, "topic", ts, topic=True)):
        a.add(_topic_kind(hit.name, "write"), s, PUBLISH, "topic", hit, other=name)
    if mqtt:
        for hit in _area_hits(a, s, name, "read", grouped, lambda ts: read(s, ts)):
            a.add(_topic_kind(hit.name, "read"), s, RECEIVE, "topic", hit, other=name)
    for hit in _area_hits(
        a, s, name, "retain", grouped, lambda ts: find(s, RETAIN, "topic", ts, topic=True, also=PUBLISH)
    ):
        a.add("retain-write", s, RETAIN, "topic", hit, other=name)
    for hit in _area_hits(
        a, s, name, "get-retained", grouped, lambda ts: find(s, GET_RETAINED, "topic", ts, topic=True)
    ):
        a.add("retain-read", s, GET_RETAINED, "topic", hit, other=name)
    for actions, kind in (
        (SHADOW_READ, "shadow-read"),
        (SHADOW_WRITE, "shadow-write"),
        (JOBS_READ, "jobs-read"),
        (JOBS_WRITE, "jobs-write"),
    ):
        for action in actions:
            if a.has(f"api:{kind}", name):
                break
            if api_hit := find(s, action, "thing", things):
                a.mark(f"api:{kind}", name)
                a.add(kind, s, action, "thing", api_hit, other=name)


def _in_target(name: str, target: Target) -> bool:
    return any(g.matches(name) for g in target.globs) and not any(g.matches(name) for g in target.excl)


def _area_hits(
    a: Analysis,
    s: Session,
    name: str,
    label: str,
    grouped: dict[str, list[Target]],
    search: Callable[[list[Target]], Hit | None],
) -> Iterator[Hit]:
    """One hit per area (shadow, jobs, ...) not yet answered for ``name``: one search over every
    remaining area at a time (most searches find nothing, and then one search is enough)."""
    remaining = {area: ts for area, ts in grouped.items() if not a.has(f"{label}:{area}", name)}
    while remaining:
        hit = search([t for ts in remaining.values() for t in ts])
        area = (
            next((ar for ar, ts in remaining.items() if any(_in_target(hit.name, t) for t in ts)), None)
            if hit
            else None
        )
        if hit is None or area is None:
            return
        del remaining[area]
        a.mark(f"{label}:{area}", name)
        yield hit


def _listed_clients(a: Analysis, mine: list[Session]) -> None:
    """Client IDs a policy lists by name (client1, client2): any holder may take any of them."""
    listed: list[tuple[Session, Piece]] = []
    for s in mine:
        if s.client_id is None:
            continue
        piece = next(
            (
                p
                for p in s.view(CONNECT).pieces("client")
                if _is_literal(p.glob) and "${" not in p.pattern and p.glob.matches(s.client_id)
            ),
            None,
        )
        if piece is not None and not re.search(r"#\d+$", s.client_id):
            listed.append((s, piece))
    if len(listed) >= 2:
        s, piece = listed[1]
        a.add(
            "connect-as",
            s,
            CONNECT,
            "client",
            Hit(s.client_id or "", piece),
            other=s.client_id or "",
            resource=f"client/{s.client_id}",
            detail=f"a client ID the policy lists beside {listed[0][0].client_id}: each holder may take any of them",
        )


#: A topic holding a variable AWS left unsubstituted names no namespace anyone uses.
_UNSUBSTITUTED = Glob.parse("*${*")


def _named(name: str) -> Target:
    return Target(
        (*(Glob.parse(p) for p in (f"{name}/*", f"*/{name}", f"*/{name}/*")), Glob.literal(name)),
        (_UNSUBSTITUTED,),
    )


def _shared_facts(
    a: Analysis,
    s: Session | None,
    vs: Session,
    victim: Device,
    c_own: tuple[list[Glob], list[Glob], list[Glob]],
    bystander: Session,
) -> None:
    """Namespaces every device shares (a piece the bystander's own policy also grants, action by action)."""
    if s is None:
        return
    c_pub, c_recv, c_sub = c_own
    shared_pub = [p for p in s.view(PUBLISH).pieces("topic") if _meets(p.glob, c_pub)]
    shared_recv = [p for p in s.view(RECEIVE).pieces("topic") if _meets(p.glob, c_recv)]
    name = victim.name
    if shared_pub and not a.wrote(name) and not a.has("shared-write", name):
        for piece in shared_pub:
            hit = _piece_hit(s, PUBLISH, piece, _named(name), also=bystander)
            if hit:
                a.add("shared-write", s, PUBLISH, "topic", hit, other=name)
                break
    shared_sub = [p for p in s.view(SUBSCRIBE).pieces("topicfilter") if _meets(p.glob, c_sub, topic=False)]
    if shared_recv and shared_sub and not a.read_any(name) and not a.has("shared-read", name):
        hit = read(s, [_named(name)], only=shared_sub, recv_only=shared_recv)
        if hit and read(bystander, [Target((Glob.literal(hit.name),))]):
            a.add("shared-read", s, RECEIVE, "topic", hit, other=name)
    if shared_pub and not a.has("channel") and connects_as_itself(vs):
        hit = read(vs, [Target(tuple(p.glob for p in shared_pub), (_UNSUBSTITUTED,))])
        if hit is not None and s.allowed(PUBLISH, "topic", hit.name):
            pub = next(p for p in shared_pub if p.glob.matches(hit.name))
            a.add("channel", s, PUBLISH, "topic", Hit(hit.name, pub, hit.topic_filter), other="")


def _meets(glob: Glob, others: Sequence[Glob], *, topic: bool = True) -> bool:
    """Some name lies in ``glob`` and one of ``others`` (a topic name, or any filter when not ``topic``)."""
    for g in others:
        if not glob.may_meet(g):
            continue
        try:
            if witness([glob, g, NONEMPTY], topic=topic) is not None:
                return True
        except Unknown:
            return True
    return False


def _piece_hit(s: Session, action: str, piece: Piece, target: Target, *, also: Session | None = None) -> Hit | None:
    """A name of ``target`` in ``piece`` that ``s`` may use for ``action`` (and ``also`` may too)."""
    excluded, within = s.view(action).deny("topic")
    others = [None] if also is None else also.view(action).pieces("topic")
    other_excluded = also.view(action).deny("topic")[0] if also is not None else []
    for tg in target.globs:
        if not piece.glob.may_meet(tg):
            continue
        for other in others:
            if other is not None and not (other.glob.may_meet(tg) and other.glob.may_meet(piece.glob)):
                continue
            positives = [piece.glob, tg] + ([other.glob] if other is not None else [])
            none = [*piece.excl, *excluded, *target.excl, _UNSUBSTITUTED]
            if other is not None:
                none += [*other.excl, *other_excluded]
            name = _search(positives, none, within, topic=True, budget=s.world_cache.budget)
            if name is None or not s.allowed(action, "topic", name):
                continue
            if also is None or also.allowed(action, "topic", name):
                return Hit(name, piece)
    return None


# Deny, mismatch and dead grants --------------------------------------------------------------------

_MQTT_LEVEL = re.compile(r"(?:(?<=/)|^)([+#])(?=/|$)")


def _intended(pattern: str, s: Session) -> Glob | None:
    """The topics a Deny resource aims at, reading ``+`` and ``#`` as the MQTT wildcards its author meant."""
    for rtype in ("topic", "topicfilter"):
        residual = residual_of(pattern, s.variables, f"{s.prefix}:{rtype}/")
        if residual.empty:
            continue
        if residual.start & (residual.start - 1):
            return ANY
        i = residual.start.bit_length() - 1
        tokens = list(residual.tokens[i:])
        text_positions = []
        for j, (kind, ch) in enumerate(tokens):
            if kind == LIT and ch in "+#":
                before = j == 0 or tokens[j - 1] == (LIT, "/")
                after = j + 1 == len(tokens) or tokens[j + 1] == (LIT, "/")
                if before and after and (ch == "+" or j + 1 == len(tokens)):
                    text_positions.append(j)
        if not text_positions:
            return Glob.from_tokens(tuple(tokens))
        for j in text_positions:
            tokens[j] = (SEG, "") if tokens[j][1] == "+" else (STAR, "")
        return Glob.from_tokens(tuple(tokens))
    return None


def _deny_facts(a: Analysis) -> None:
    w = a.world
    s = a.legit(w.attacker)
    for pi, compiled in enumerate(w.attacker.compiled):
        for st in compiled.statements:
            if not st.valid or st.effect is not Effect.DENY or st.not_resource:
                continue
            intended = [g for r in st.resources if (g := _intended(r, s)) is not None]
            if not intended:
                continue
            target = Target(tuple(intended))
            hit = None
            if st.matches_action(SUBSCRIBE) or st.matches_action(RECEIVE):
                hit = read(s, [target])
            if hit is None and st.matches_action(PUBLISH):
                hit = find(s, PUBLISH, "topic", [target], topic=True)
            if hit is not None:
                deny_piece = Piece(ANY, (), pi, st, st.resources[0])
                a.add(
                    "ineffective-deny",
                    s,
                    st.actions[0] if st.actions else "",
                    "topic",
                    Hit(hit.name, deny_piece, hit.topic_filter),
                    other=f"deny #{pi}.{st.index}",
                )


def _mismatch_facts(a: Analysis) -> None:
    w = a.world
    s = a.legit(w.attacker)
    recv = s.view(RECEIVE).pieces("topic")
    for piece in s.view(SUBSCRIBE).pieces("topicfilter"):
        if not recv or read(s, [Target((ANY,))], only=[piece]) is None:
            a.add(
                "subscribe-no-receive",
                s,
                SUBSCRIBE,
                "topicfilter",
                Hit(_sample(piece.glob), piece),
                other=f"{piece.policy}.{piece.statement.index}.{piece.pattern}",
            )


def _sample(glob: Glob) -> str:
    try:
        return witness([glob]) or ""
    except Unknown:
        return ""


_TYPED = {
    CONNECT: "client",
    PUBLISH: "topic",
    RECEIVE: "topic",
    RETAIN: "topic",
    SUBSCRIBE: "topicfilter",
    GET_RETAINED: "topic",
    ASSUME_ROLE: "rolealias",
    **dict.fromkeys((*SHADOW_READ, *SHADOW_WRITE, *JOBS_READ, *JOBS_WRITE), "thing"),
}


def _dead_grant_facts(a: Analysis) -> None:
    """An action the statement names exactly, with no resource of the type the action is checked against."""
    w = a.world
    s = a.legit(w.attacker)
    for pi, compiled in enumerate(w.attacker.compiled):
        for st in compiled.statements:
            if not st.valid or st.effect is not Effect.ALLOW or st.not_resource:
                continue
            for action in st.actions:
                rtype = next((t for act, t in _TYPED.items() if act.lower() == action.lower()), None)
                if rtype is None:
                    continue
                head = f"{s.prefix}:{rtype}/"
                if all(residual_of(r, s.variables, head).empty for r in st.resources):
                    piece = Piece(ANY, (), pi, st, ", ".join(st.resources))
                    a.add(
                        "dead-grant",
                        s,
                        action,
                        rtype,
                        Hit("", piece),
                        other=action,
                        resource=f"{rtype}/",
                        detail=f"its resources are not {rtype}/ resources",
                    )


def _role_alias_facts(a: Analysis, sessions_: list[Session]) -> None:
    aliases = [r.name for r in a.inv.role_aliases]
    for s in sessions_:
        pieces = s.view(ASSUME_ROLE).pieces("rolealias")
        own = [p.glob for p in pieces if _is_literal(p.glob)]
        for piece in pieces:
            if _is_literal(piece.glob):
                continue
            name = next((n for n in aliases if piece.glob.matches(n) and not any(g.matches(n) for g in own)), None)
            if name is None:
                shapes, unlike = _NAME_SHAPES["rolealias"]
                try:
                    name = witness([piece.glob, *shapes], [*own, *unlike])
                except Unknown:
                    name = None
            if name is not None and s.allowed(ASSUME_ROLE, "rolealias", name):
                a.add("role-alias", s, ASSUME_ROLE, "rolealias", Hit(name, piece))
                return


def _is_literal(glob: Glob) -> bool:
    prefix = glob.literal_prefix()
    return prefix is not None and len(prefix) == len(glob.tokens) - (glob.start.bit_length() - 1)


# Claims ---------------------------------------------------------------------------------------------


def _own_templates(s: Session) -> list[str]:
    out = []
    for piece in s.view(PUBLISH).pieces("topic"):
        prefix = piece.glob.literal_prefix() or ""
        parsed = parse_reserved(prefix)
        if parsed is not None and parsed.api is ReservedApi.REGISTER_THING and parsed.template:
            if prefix.startswith(f"$aws/provisioning-templates/{parsed.template}/"):
                out.append(parsed.template)
    return list(dict.fromkeys(out))


#: The certificate topics of the provisioning API every claim may use.
_CERTIFICATE_API = (Glob.parse("$aws/certificates/create/*"), Glob.parse("$aws/certificates/create-from-csr/*"))


def _claim_facts(a: Analysis) -> None:
    w = a.world
    claim = w.attacker
    device_names = [v.name for v in w.victims]
    all_sessions = sessions(w, claim, a.cache)
    for s in all_sessions:
        if s.client_id in device_names:
            piece = next((p for p in s.view(CONNECT).pieces("client") if p.glob.matches(s.client_id or "")), None)
            a.add(
                "claim-connect",
                s,
                CONNECT,
                "client",
                Hit(s.client_id or "", piece) if piece else None,
                other=s.client_id or "",
                resource=f"client/{s.client_id}",
            )
            break
    mqtt = [s for s in all_sessions if s.client_id is not None] or all_sessions[-1:]
    templates = sorted({t for s in mqtt for t in _own_templates(s)})
    api = [*_CERTIFICATE_API]
    api += [Glob.parse(f"$aws/provisioning-templates/{t.replace('*', '?')}/provision/*") for t in templates]
    beyond = Target((ANY,), tuple(api))
    for s in mqtt:
        if not a.has("claim-publish") and (hit := find(s, PUBLISH, "topic", [beyond], topic=True)):
            a.mark("claim-publish")
            a.add("claim-beyond", s, PUBLISH, "topic", hit, detail=_claim_detail(templates))
        if not a.has("claim-read") and (hit := read(s, [beyond])):
            a.mark("claim-read")
            a.add("claim-beyond", s, RECEIVE, "topic", hit, detail=_claim_detail(templates))
    for action in CLAIM_NEVER:
        for s in all_sessions:
            view = s.view(action)
            if view.allows:
                pi, st = view.allows[0]
                rtype = _TYPED.get(action, "*")
                a.add(
                    "claim-beyond",
                    s,
                    action,
                    rtype,
                    Hit("*", Piece(ANY, (), pi, st, ", ".join(st.resources))),
                    other=action,
                    resource=f"{rtype}/*",
                )
                break
    _role_alias_facts(a, all_sessions)


def _claim_detail(templates: list[str]) -> str:
    return "its provisioning API is " + (
        "CreateCertificateFromCsr, CreateKeysAndCertificate and RegisterThing of " + ", ".join(templates)
        if templates
        else "CreateCertificateFromCsr and CreateKeysAndCertificate (it names no template of its own)"
    )


# Entry -----------------------------------------------------------------------------------------------


def analyse(holder: Holder, inv: Inventory) -> list[Fact]:
    a = Analysis(holder, inv)
    if holder.role == "quarantine" or not holder.policies:
        return []
    try:
        if holder.role == "claim":
            _claim_facts(a)
        else:
            _role_alias_facts(a, _device_facts(a))
        _deny_facts(a)
        _mismatch_facts(a)
        _dead_grant_facts(a)
    except Unknown as exc:
        a.facts.append(
            Fact("unjudged", holder, holder.policies[0], None, "", "", detail=f"the question grew too large ({exc})")
        )
    if a.world.template_error:
        a.facts.append(
            Fact(
                "unjudged",
                holder,
                holder.policies[0],
                None,
                "",
                "",
                detail=f"the template body cannot be evaluated for its devices ({a.world.template_error})",
            )
        )
    return a.facts


def clear_caches() -> None:
    """Forget what earlier reviews in this process computed (a benchmark's runs start cold)."""
    _OPENED.clear()
    _RESIDUALS.clear()
    canonical.forget()


def world_constants(inv: Inventory) -> Parts:
    """The literal parts of every glob and value the simulation brings to a holder standing alone
    beside its policies (``canonical``: a fleet name none of them can meet may be renamed), read
    from the same pieces the simulation uses."""
    parts = Parts()
    globs: list[Glob] = [ANY, NONEMPTY, DOLLAR, *WILDCARD_CHARACTERS, _UNSUBSTITUTED, _ONE_LEVEL, *_CERTIFICATE_API]
    globs += [g for shapes, unlike in _NAME_SHAPES.values() for g in (*shapes, *unlike)]
    values = ["true", "false", *(r.name for r in inv.role_aliases)]  # IsAttached; the role aliases tried
    for partition in (DEFAULT_PARTITION, "aws-cn"):  # the URL suffix differs in China
        values += Deployment(partition, DEFAULT_REGION, DEFAULT_ACCOUNT).bindings().values()
    for name in STANDALONE_NAMES.values():
        values += [name, *_other_client_ids(name), certificate_id(name)]
        targets = [t for _, t in _reserved_targets(name)] + [_thing_target(name), _named(name)]
        globs += [g for t in targets for g in (*t.globs, *t.excl)]
        globs += [_thing_topics(name), *_aims(name)]
    for g in globs:
        parts.add_glob(g)
    for v in values:
        parts.add_value(v)
    return parts


def simulate(inv: Inventory, *, shared: bool = True) -> list[Fact]:
    """The facts of every holder. ``shared``: holders that differ only in opaque fleet names share
    one simulation (``canonical``; the same verdicts, found once)."""
    if not shared:
        return [f for holder in inv.holders for f in analyse(holder, inv)]
    return shared_simulation(inv, world_constants(inv), analyse)
