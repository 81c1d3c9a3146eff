"""Suppressions: one finding at a time, by rule and resource (logical ID, policy name, construct path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_review import suppressions
from policy_review.errors import ReviewError
from policy_review.model import Finding, Severity

REASON = "The factory bench needs it until the line is retooled in Q3."


def finding(
    rule: str = "IOT-CROSS-DEVICE-TOPICS",
    resource: str = "P",
    path: str = "stk/Fleet/P/Resource",
    finding_id: str = "topic-write::topic/dt/*",
) -> Finding:
    return Finding(rule, Severity.HIGH, resource, path, "message", "fix", "stk", finding_id, {}, "fleet-device")


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_load_yaml_or_json_with_or_without_the_top_key(tmp_path: Path, suffix: str) -> None:
    entry = {"rule": "IOT-CROSS-DEVICE-TOPICS", "resource": "P", "reason": REASON}
    path = tmp_path / f"s{suffix}"
    path.write_text(json.dumps({"suppressions": [entry]}))  # JSON is YAML too
    (loaded,) = suppressions.load(path)
    assert (loaded.rule, loaded.resource, loaded.reason, loaded.kind) == (
        "IOT-CROSS-DEVICE-TOPICS",
        "P",
        REASON,
        "external",
    )
    path.write_text(json.dumps([entry]))
    assert len(suppressions.load(path)) == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "cannot read suppressions"),
        ('{"suppressions": {"rule": "x"}}', "expected a list of suppressions"),
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


@pytest.mark.parametrize(
    ("rule", "resource", "matches"),
    [
        ("IOT-CROSS-DEVICE-TOPICS", "P", True),  # logical ID
        ("IOT-CROSS-DEVICE-TOPICS", "fleet-device", True),  # policy name
        ("IOT-CROSS-DEVICE-TOPICS", "stk/Fleet/P/Resource", True),  # construct path
        ("IOT-CROSS-DEVICE-TOPICS", "stk/Fleet", True),  # a parent path
        ("IOT-CROSS-DEVICE-TOPICS", "stk/Flee", False),  # not a path prefix at a level
        ("IOT-CROSS-DEVICE-TOPICS[topic-write::topic/dt/*]", "P", True),  # the granular ID
        ("IOT-CROSS-DEVICE-TOPICS[topic-read::topic/dt/*]", "P", False),
        ("IOT-CROSS-DEVICE-SHADOW", "P", False),
    ],
)
def test_what_a_suppression_matches(rule: str, resource: str, matches: bool) -> None:
    assert suppressions.Suppression(rule, resource, REASON).matches(finding()) is matches


def test_apply_keeps_the_rest_and_reports_unmatched() -> None:
    used = suppressions.Suppression("IOT-CROSS-DEVICE-TOPICS", "P", REASON)
    stale = suppressions.Suppression("IOT-POLICY-SIZE", "P", REASON)
    findings = [finding(), finding("IOT-CONNECT-AS-OTHER")]
    kept, suppressed, unmatched = suppressions.apply(findings, [used, stale])
    assert kept == findings[1:]
    assert [(s.finding, s.reason, s.kind) for s in suppressed] == [(findings[0], REASON, "external")]
    assert unmatched == [stale]


def test_in_source_acknowledgements_hold_for_their_own_stack() -> None:
    metadata = {
        ("stk", "P"): {"iot-policy-review": {"acknowledge": [{"rule": "IOT-CROSS-DEVICE-TOPICS", "reason": REASON}]}}
    }
    (ack,) = suppressions.in_source(metadata)
    assert (ack.kind, ack.resource, ack.stack) == ("inSource", "P", "stk")
    assert ack.matches(finding())
    other = Finding("IOT-CROSS-DEVICE-TOPICS", Severity.HIGH, "P", "x/P", "m", "f", "other-stack")
    assert not ack.matches(other)
    with pytest.raises(suppressions.SuppressionError, match="acknowledge list"):
        suppressions.in_source({("stk", "P"): {"iot-policy-review": "yes"}})
