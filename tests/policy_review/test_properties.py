"""Properties over generated input: the review never crashes, and the simulation agrees with brute force.

- Any template the generators build (well-formed resources of every type the review reads, arbitrary
  JSON and intrinsics anywhere) is reviewed: findings with a severity, every report renders; what
  cannot be judged is a finding, never an exception.
- Differential: for a generated IoT policy standing alone, brute-force evaluation over every probe
  resource built from the generators' vocabulary (each client ID, topic and filter, with the same
  evaluator the double uses) finds cross-device reach exactly when the simulation reports it, and
  every witness the simulation reports is allowed by that evaluator.

The unit tier runs a modest number of examples (``REVIEW_PROPERTY_EXAMPLES``, default 60 each);
``make fuzz-review`` runs 10,000+ templates through ``bench/fuzz_review.py``.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from iot_semantics.policy_eval import CompiledPolicy, compile_policy, evaluate
from iot_semantics.topics import filter_matches
from policy_review import inventory, query, reports
from policy_review.devices import Device, World, world
from policy_review.engine import review
from policy_review.model import Holder, Inventory, Policy, Severity
from policy_review.rules import RULES_BY_ID
from policy_review.simulate import Fact, analyse
from tests.policy_review import generators as gen

EXAMPLES = int(os.environ.get("REVIEW_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
    if os.environ.get("REVIEW_PROPERTY_NO_SHRINK")
    else list(Phase),
)

WRITE = {"topic-write", "shadow-write", "jobs-write", "tunnel-write"}
READ = {"topic-read", "shadow-read", "jobs-read", "tunnel-read"}


def review_template(template: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stk.template.json"
        path.write_text(json.dumps(template))
        inv = inventory.load(path)
    findings = review(inv)
    for f in findings:
        assert f.rule in RULES_BY_ID, f
        assert isinstance(f.severity, Severity), f
    assert len({f.key for f in findings}) == len(findings), "no duplicate findings"
    reports.as_json(findings)
    reports.sarif(findings)
    reports.markdown(inv, findings)
    reports.html_page(inv, findings)
    try:
        query.can(inv, "dev-1", "iot:Publish", "topic/dt/dev-1")
    except query.QueryError:
        pass


@SETTINGS
@given(gen.templates())
def test_any_generated_template_is_reviewed(template: dict[str, Any]) -> None:
    review_template(template)


@SETTINGS
@given(gen.iot_policies(), st.sampled_from(("object", "string", "sub")))
def test_any_generated_iot_policy_is_reviewed(document: dict[str, Any], form: str) -> None:
    value: Any = {"object": document, "string": json.dumps(document), "sub": {"Fn::Sub": json.dumps(document)}}[form]
    review_template({"Resources": {"P": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": value}}}})


# Differential: the simulation against brute force -------------------------------------------------


def holder_of(document: dict[str, Any]) -> Holder:
    policy = Policy("iot", "p", "s", "P", "s/P", document, "AWS::IoT::Policy", "other")
    return Holder("standalone", "p", "s", (policy,), "other")


@lru_cache(maxsize=4)
def probe_topics(names: tuple[str, ...]) -> tuple[str, ...]:
    words = ("dt", "x", *names)
    out = ["/".join(p) for n in (1, 2, 3) for p in itertools.product(words, repeat=n)]
    for name in names:
        thing = f"$aws/things/{name}"
        out += [
            f"{thing}/shadow/update",
            f"{thing}/shadow/get/accepted",
            f"{thing}/shadow/name/s/update",
            f"{thing}/jobs/get",
            f"{thing}/jobs/j1/update",
            f"{thing}/jobs/notify",
            f"{thing}/tunnels/notify",
            f"{thing}/shadow/x",
            f"{thing}/x",
        ]
    return tuple(out)


def probe_filters(topics: tuple[str, ...]) -> list[str]:
    out = {"#", "+", "+/#", "$aws/things/+/shadow/#", "$aws/#"}
    for t in topics:
        levels = t.split("/")
        out.add(t)
        for i in range(len(levels)):
            out.add("/".join([*levels[:i], "+", *levels[i + 1 :]]))
            out.add("/".join([*levels[: i + 1], "#"]))
    return sorted(out)


def reserved(name: str) -> set[str]:
    thing = f"$aws/things/{name}"
    return {
        f"{thing}/shadow/update",
        f"{thing}/shadow/get/accepted",
        f"{thing}/shadow/name/s/update",
        f"{thing}/jobs/get",
        f"{thing}/jobs/j1/update",
        f"{thing}/jobs/notify",
        f"{thing}/tunnels/notify",
    }


class Brute:
    """Reach by enumeration: every probe client ID, topic and filter, asked of ``evaluate``."""

    def __init__(self, w: World) -> None:
        self.w = w
        names = tuple(d.name for d in [w.attacker, *w.victims, w.bystander])
        self.topics = probe_topics(names)
        self.filters = probe_filters(self.topics)

    def arn(self, rtype: str, name: str) -> str:
        return self.w.deployment.arn(rtype, name)

    def allowed(self, compiled: tuple[CompiledPolicy, ...], action: str, rtype: str, name: str, ctx: Any) -> bool:
        return evaluate(compiled, action, self.arn(rtype, name), ctx).allowed

    def owned(self, device: Device) -> set[str]:
        """Topics (and filters) the device's own Allow statements grant it, Deny aside (the simulation's
        notion of what belongs to a device)."""
        allows = tuple(
            compile_policy({"Statement": [s for s in c.document.get("Statement", []) if s.get("Effect") == "Allow"]})
            for c in device.compiled
        )
        ctx = self.w.context(device, device.name, {})
        out = set()
        for t in self.topics:
            if any(
                self.allowed(allows, a, "topic", t, ctx) for a in ("iot:Publish", "iot:Receive", "iot:RetainPublish")
            ):
                out.add(t)
        for t in self.topics:  # literal filters: what the device may subscribe to, read as topics
            if self.allowed(allows, "iot:Subscribe", "topicfilter", t, ctx):
                out.add(t)
        return out

    def sessions(self) -> list[Any]:
        att = self.w.attacker
        grants = any(
            s.effect is not None and s.effect.value == "Allow" and s.matches_action("iot:Connect")
            for c in att.compiled
            for s in c.statements
            if s.valid
        )
        if not grants:
            return [self.w.context(att, att.name, {})]
        out = []
        ids = [d.name for d in self.w.devices.values()] + ["+", "#", "other"]
        for free in self.w.free_assignments():
            for cid in ids:
                ctx = self.w.context(att, cid, free)
                if self.allowed(att.compiled, "iot:Connect", "client", cid, ctx):
                    out.append(ctx)
        return out

    def reach(self) -> set[str]:
        w, att = self.w, self.w.attacker
        bystander = self.owned(w.bystander)
        victim_topics: set[str] = set()
        for v in w.victims:
            prefix = f"$aws/things/{v.name}/"
            victim_topics |= reserved(v.name) | {t for t in self.owned(v) - bystander if not t.startswith(prefix)}
        victim_topics = {t for t in victim_topics if "+" not in t and "#" not in t}
        found = set()
        for ctx in self.sessions():
            if "write" not in found and any(
                self.allowed(att.compiled, "iot:Publish", "topic", t, ctx) for t in victim_topics
            ):
                found.add("write")
            if "read" in found:
                continue
            readable = {t for t in victim_topics if self.allowed(att.compiled, "iot:Receive", "topic", t, ctx)}
            if readable and any(
                self.allowed(att.compiled, "iot:Subscribe", "topicfilter", f, ctx)
                and any(filter_matches(f, t) for t in readable)
                for f in self.filters
            ):
                found.add("read")
        return found


def verified(fact: Fact, w: World) -> bool:
    """The fact's witness is allowed by the evaluator in some session the attacker may open."""
    att = w.attacker
    rtype, _, name = fact.resource.partition("/")
    for free in w.free_assignments():
        ctx = w.context(att, fact.client_id, free)
        if not evaluate(att.compiled, fact.action, w.deployment.arn(rtype, name), ctx).allowed:
            continue
        if fact.kind in READ and fact.action == "iot:Receive":
            f = fact.topic_filter or name
            if not (
                filter_matches(f, name)
                and evaluate(att.compiled, "iot:Subscribe", w.deployment.arn("topicfilter", f), ctx).allowed
            ):
                continue
        return True
    return False


def simple_statements() -> st.SearchStrategy[dict[str, Any]]:
    """Statements without NotAction/NotResource (their ownership notion differs; the corpus covers them)."""
    return gen.statements().filter(lambda s: "NotAction" not in s and "NotResource" not in s)


@SETTINGS
@given(st.lists(simple_statements(), min_size=1, max_size=4))
def test_simulation_agrees_with_brute_force(statements: list[dict[str, Any]]) -> None:
    h = holder_of({"Version": "2012-10-17", "Statement": statements})
    facts = analyse(h, Inventory(policies=list(h.policies), holders=[h]))
    if any(f.kind == "unjudged" for f in facts):
        return
    w = world(h)
    kinds = {f.kind for f in facts}
    for fact in facts:
        if fact.kind in WRITE | READ | {"retain-write", "retain-read", "shared-write", "shared-read", "channel"}:
            assert verified(fact, w), f"witness not allowed by the evaluator: {fact}"
    brute = Brute(w).reach()
    if "write" in brute:
        assert kinds & (WRITE | {"connect-as"}), f"brute force writes to a victim's topic; facts {kinds}"
    if "read" in brute:
        assert kinds & (READ | {"connect-as"}), f"brute force reads a victim's topic; facts {kinds}"
