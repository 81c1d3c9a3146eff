"""The corpus: every judged case gets exactly its verdict (tests/policy_review/corpus/README.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from policy_review.rules import RULES_BY_ID
from tests.policy_review.corpus import Case, cases, run, verdict

CASES = cases()


def test_the_corpus_is_large_varied_and_cited() -> None:
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES), "case IDs are unique"
    assert all(c.source.strip() for c in CASES), "every case cites its source"
    compliant = sum(1 for c in CASES if not c.expect)
    assert compliant >= 20, "compliant cases"
    assert len(CASES) - compliant >= 20, "non-compliant cases"
    named = {r for c in CASES for r in c.expect | (c.low or frozenset())}
    assert named <= set(RULES_BY_ID), f"unknown rules: {named - set(RULES_BY_ID)}"
    by_file = Counter(c.file for c in CASES)
    assert len(by_file) >= 4


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, tmp_path: Path) -> None:
    findings = run(case, tmp_path)
    medium, low = verdict(findings)
    assert medium == set(case.expect), [f"{f.full_id}: {f.message}" for f in findings]
    if case.low is not None:
        assert low == set(case.low), [f"{f.full_id}: {f.message}" for f in findings]
    for rule, kinds in case.witness.items():
        found = {f.witness.get("kind") for f in findings if f.rule == rule}
        assert set(kinds) <= found, (rule, found)
    for f in findings:
        assert all((f.message, f.fix, f.finding_id)), f"{f.rule} needs a message, a fix and a granular ID"
