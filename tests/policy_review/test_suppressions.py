"""Suppressions: one finding at a time, by rule and resource (logical ID or path), with a real reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_review import suppressions
from policy_review.errors import ReviewError
from policy_review.model import Finding, Severity

REASON = "The factory bench needs it until the line is retooled in Q3."


def finding(rule: str = "IOT-OVERLY-PERMISSIVE", resource: str = "P", path: str = "stk/P") -> Finding:
    return Finding(rule, Severity.HIGH, resource, path, "message", "fix", "stk")


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_load_yaml_or_json_with_or_without_the_top_key(tmp_path: Path, suffix: str) -> None:
    entry = {"rule": "IOT-OVERLY-PERMISSIVE", "resource": "P", "reason": REASON}
    path = tmp_path / f"s{suffix}"
    path.write_text(json.dumps({"suppressions": [entry]}))  # JSON is YAML too
    assert suppressions.load(path) == [suppressions.Suppression("IOT-OVERLY-PERMISSIVE", "P", REASON)]
    path.write_text(json.dumps([entry]))
    assert len(suppressions.load(path)) == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "cannot read suppressions"),
        ('{"suppressions": {"rule": "x"}}', "expected a list under 'suppressions'"),
        ('[{"rule": "R", "resource": "P"}]', r"suppressions\[0\] needs rule, resource and reason"),
        ('[{"rule": "R", "resource": "P", "reason": "because"}]', r"suppressions\[0\] \(R\): give a real reason"),
    ],
    ids=["not-json", "not-a-list", "no-reason", "short-reason"],
)
def test_bad_files_are_refused_with_the_entry(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(suppressions.SuppressionError, match=problem) as info:
        suppressions.load(path)
    assert isinstance(info.value, ReviewError), "one root exception for the review"
    assert str(path) in str(info.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(suppressions.SuppressionError, match="cannot read suppressions"):
        suppressions.load(tmp_path / "missing.yaml")


def test_apply_matches_rule_and_logical_id_or_path_only() -> None:
    by_id = suppressions.Suppression("IOT-OVERLY-PERMISSIVE", "P", REASON)
    by_path = suppressions.Suppression("IOT-CONNECT-UNBOUND", "stk/Q", REASON)
    findings = [
        finding(),
        finding("IOT-CONNECT-UNBOUND", "Q", "stk/Q"),
        finding("IOT-CONNECT-UNBOUND", "P", "stk/P"),  # same rule, other resource: kept
        finding("IOT-POLICY-SIZE", "P", "stk/P"),  # same resource, other rule: kept
    ]
    kept, suppressed = suppressions.apply(findings, [by_id, by_path])
    assert kept == findings[2:]
    assert [(s.finding, s.reason) for s in suppressed] == [(findings[0], REASON), (findings[1], REASON)]
