"""The corpus of judged cases (``corpus/*.yaml``): loading, building each case's template, reviewing it.

A case holds ``policy`` (one standalone ``AWS::IoT::Policy`` document, an object or a JSON string)
or ``template`` (a whole CloudFormation template), its ``source``, and ``expect``: the exact set of
rules of severity MEDIUM or above the review must report. ``low`` (optional) is the exact set of
LOW rules; ``witness`` (optional) maps a rule to witness kinds its findings must include.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policy_review import inventory
from policy_review.engine import review
from policy_review.model import Finding, Severity

CORPUS = Path(__file__).with_name("corpus")


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    template: dict[str, Any]
    expect: frozenset[str]
    low: frozenset[str] | None = None
    witness: dict[str, list[str]] = field(default_factory=dict)
    file: str = ""


def _template(entry: dict[str, Any]) -> dict[str, Any]:
    if "template" in entry:
        template: dict[str, Any] = entry["template"]
        return template
    return {
        "Resources": {
            "Policy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {"PolicyName": entry["id"], "PolicyDocument": entry["policy"]},
            }
        }
    }


def cases() -> list[Case]:
    out = []
    for path in sorted(CORPUS.glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text()) or []:
            out.append(
                Case(
                    entry["id"],
                    entry["source"],
                    _template(entry),
                    frozenset(entry.get("expect") or ()),
                    frozenset(entry["low"]) if "low" in entry else None,
                    dict(entry.get("witness") or {}),
                    path.name,
                )
            )
    return out


def run(case: Case, tmp: Path) -> list[Finding]:
    path = tmp / f"{case.id}.template.json"
    path.write_text(json.dumps(case.template))
    return review(inventory.load(path))


def verdict(findings: list[Finding]) -> tuple[set[str], set[str]]:
    """(rules at MEDIUM or above, LOW rules)."""
    return (
        {f.rule for f in findings if f.severity >= Severity.MEDIUM},
        {f.rule for f in findings if f.severity == Severity.LOW},
    )
