"""Holders that differ only in opaque fleet names share one simulation, and lose nothing by it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_semantics.policy_match import Glob
from policy_review import canonical, inventory, simulate
from policy_review.engine import review
from policy_review.model import Finding, Holder, Inventory
from tests.policy_review import generators as gen
from tests.policy_review.corpus import cases
from tests.policy_review.test_properties import SETTINGS

A = "arn:aws:iot:us-east-1:123456789012"
T = "${iot:Connection.Thing.ThingName}"
FLEET = "{fleet}"


def _inventory(tmp: Path, documents: dict[str, dict[str, Any]]) -> Inventory:
    resources = {
        name: {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": name, "PolicyDocument": doc}}
        for name, doc in documents.items()
    }
    path = tmp / "stk.template.json"
    path.write_text(json.dumps({"Resources": resources}))
    return inventory.load(path)


def _policy(fleet: str, tail: str = "*") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{A}:client/{T}",
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{A}:topic/dt/{fleet}/{tail}"},
        ],
    }


def _counting(calls: list[Holder]) -> Any:
    def analyse(holder: Holder, inv: Inventory) -> list[simulate.Fact]:
        calls.append(holder)
        return simulate.analyse(holder, inv)

    return analyse


def _parts(inv: Inventory) -> canonical.Parts:
    return simulate.world_constants(inv)


# Which names are renamed -----------------------------------------------------------------------


def test_a_part_meets_a_name_by_how_it_is_anchored() -> None:
    parts = canonical.Parts()
    parts.add_glob(Glob.parse("*/dev-10/*"))  # a whole level: only the same name meets it
    parts.add_glob(Glob.parse("get/*"))
    parts.add_glob(Glob.parse("*xyz"))  # a level's end
    parts.add_value("cert-of-dev-1")  # a value may stand anywhere
    assert parts.meets("dev-10")
    assert not parts.meets("dev-100")
    assert parts.meets("get")
    assert not parts.meets("target")
    assert parts.meets("abxyz")
    assert not parts.meets("xyzab")
    assert parts.meets("mycert-of-dev-1x")
    assert not parts.meets("cert")
    assert parts.meets("DEV-10".lower()), "compared ignoring case"


def test_only_opaque_names_are_renamed(tmp_path: Path) -> None:
    inv = _inventory(
        tmp_path,
        {
            "Fleet": _policy("line7"),
            "Device": _policy("dev-10"),  # a victim's name: it is what the simulation asks about
            "Overlap": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iot:Publish", "Resource": [f"{A}:topic/a/f1", f"{A}:topic/b/f1*"]}
                ],
            },
            "Reserved": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iot:Publish",
                        "Resource": f"{A}:topic/$aws/things/name7/shadow/update",
                    }
                ],
            },
        },
    )
    canon = canonical.Canonicalizer(_parts(inv))
    renamed = {h.name: canon.canonical(h) for h in inv.holders}
    pairs = {name: dict(found[1].pairs) if found else {} for name, found in renamed.items()}
    by_policy = {h.policies[0].logical_id: pairs[h.name] for h in inv.holders}
    assert len(by_policy["Fleet"]["line7"]) == 5, "a placeholder of the same length"
    assert "dev-10" not in by_policy["Device"]
    assert "f1" not in by_policy["Overlap"], "f1* reads the start of the same level"
    assert "name7" not in by_policy["Reserved"], "reserved topics keep their words"


def test_fleets_of_one_shape_are_simulated_once_and_each_named_in_its_own_facts(tmp_path: Path) -> None:
    fleets = ["line1", "line2", "cellA", "plant-b", "plant-c"]
    docs = {f"P{i}": _policy(fleet) for i, fleet in enumerate(fleets)}  # dt/<fleet>/*: every device's topics
    inv = _inventory(tmp_path, docs)
    calls: list[Holder] = []
    shared = canonical.shared_simulation(inv, _parts(inv), _counting(calls))
    assert len(calls) == 2, "one simulation per length of fleet name (5 and 7 characters)"
    alone = simulate.simulate(inv, shared=False)
    assert sorted(map(repr, shared)) == sorted(map(repr, alone))
    assert len(shared) == len(fleets), "each fleet's policy lets any device write another's topics"
    for fact in shared:
        assert fact.holder in inv.holders
        assert fact.policy in fact.holder.policies
        fleet = fleets[int(fact.policy.logical_id[1:])]
        assert fact.resource == f"topic/dt/{fleet}/dev-10", fact
        assert fact.pattern.endswith(f"topic/dt/{fleet}/*"), fact
        assert "QQQQ" not in repr(fact), "no placeholder is left in a fact"


def test_a_fact_that_does_not_map_cleanly_is_refused() -> None:
    renaming = canonical.Renaming((("line7", "QQQQQ"),))
    back = canonical._Back(renaming)
    assert back.levels("dt/QQQQQ/x") == "dt/line7/x"
    assert back.words("resource arn:aws:iot:r:a:topic/dt/QQQQQ/*") == "resource arn:aws:iot:r:a:topic/dt/line7/*"
    for text in ("dt/line7/x", "dt/QQQQQx/y", "dt/xQQQQQ"):
        with pytest.raises(canonical.Unmapped):
            back.levels(text)


# Sharing changes nothing ------------------------------------------------------------------------


def test_every_corpus_case_has_the_same_facts_with_and_without_sharing(tmp_path: Path) -> None:
    for case in cases():
        path = tmp_path / f"{case.id}.template.json"
        path.write_text(json.dumps(case.template))
        inv = inventory.load(path)
        assert sorted(map(repr, simulate.simulate(inv, shared=True))) == sorted(
            map(repr, simulate.simulate(inv, shared=False))
        ), case.id


#: Pairs of fleet names of the same length (a placeholder keeps the length: ``?`` counts characters).
PAIRS = (("line7", "cell3"), ("f1", "f2"), ("FleetA", "zone_9"), ("Ab", "xy"), ("plant-b", "Plant-C"), ("f1", "xy"))
VOCABULARY = (*gen.LEVELS, FLEET, FLEET, FLEET)


@st.composite
def fleet_policies(draw: st.DrawFn) -> dict[str, Any]:
    """Generated policies whose resources name a fleet (``{fleet}``) at whole levels."""
    statements = []
    for _ in range(draw(st.integers(1, 4))):
        statement = draw(gen.statements())
        out = []
        for _ in range(draw(st.integers(1, 3))):
            rtype = draw(st.sampled_from(("client/", "topic/", "topicfilter/", "thing/")))
            levels = draw(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=4))
            out.append(f"{A}:{rtype}" + "/".join(levels))
        statement.pop("NotResource", None)
        statement["Resource"] = out
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def _findings(document: dict[str, Any], fleet: str, *, shared: bool) -> list[Finding]:
    text = json.dumps(document).replace(FLEET, fleet)
    with tempfile.TemporaryDirectory() as tmp:
        inv = _inventory(Path(tmp), {"Policy": json.loads(text)})
        return review(inv, shared=shared)


def _verdict(findings: list[Finding], fleet: str) -> set[tuple[str, str]]:
    return {(f.rule, f.finding_id.replace(fleet, FLEET)) for f in findings}


@SETTINGS
@given(fleet_policies(), st.sampled_from(PAIRS))
def test_renaming_an_opaque_fleet_changes_no_verdict(document: dict[str, Any], pair: tuple[str, str]) -> None:
    """Reviewed on its own (no sharing), a policy judged for fleet ``one`` and for fleet ``other`` of
    the same length gets the same findings, when both names are opaque; and sharing gives exactly
    the findings of the review on its own."""
    one, other = pair
    with tempfile.TemporaryDirectory() as tmp:
        inv = _inventory(Path(tmp), {"Policy": json.loads(json.dumps(document).replace(FLEET, one))})
    canon = canonical.Canonicalizer(_parts(inv))
    found = canon.canonical(inv.holders[0])
    alone = _findings(document, one, shared=False)
    assert [f.as_json() for f in _findings(document, one, shared=True)] == [f.as_json() for f in alone]
    if found is None or one not in dict(found[1].pairs):
        return
    with tempfile.TemporaryDirectory() as tmp:
        inv = _inventory(Path(tmp), {"Policy": json.loads(json.dumps(document).replace(FLEET, other))})
    again = canonical.Canonicalizer(_parts(inv)).canonical(inv.holders[0])
    if again is None or other not in dict(again[1].pairs):
        return
    assert _verdict(alone, one) == _verdict(_findings(document, other, shared=False), other)
