"""Suppressions: a YAML/JSON file of ``{rule, resource, reason}``; each one must say why."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from policy_review.errors import SuppressionError
from policy_review.model import Finding

__all__ = ["Suppressed", "Suppression", "SuppressionError", "apply", "load"]


@dataclass(frozen=True)
class Suppression:
    rule: str
    resource: str
    reason: str


@dataclass(frozen=True)
class Suppressed:
    finding: Finding
    reason: str


def load(path: Path) -> list[Suppression]:
    try:
        data = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SuppressionError(f"{path}: cannot read suppressions ({exc})") from None
    entries = data.get("suppressions") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise SuppressionError(f"{path}: expected a list under 'suppressions'")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"rule", "resource", "reason"} <= set(entry):
            raise SuppressionError(f"{path}: suppressions[{i}] needs rule, resource and reason")
        if len(str(entry["reason"]).strip()) < 20:
            raise SuppressionError(f"{path}: suppressions[{i}] ({entry['rule']}): give a real reason (20+ characters)")
        out.append(Suppression(str(entry["rule"]), str(entry["resource"]), str(entry["reason"])))
    return out


def apply(findings: Sequence[Finding], suppressions: Sequence[Suppression]) -> tuple[list[Finding], list[Suppressed]]:
    kept: list[Finding] = []
    suppressed: list[Suppressed] = []
    for f in findings:
        match = next((s for s in suppressions if s.rule == f.rule and s.resource in (f.resource, f.path)), None)
        if match is None:
            kept.append(f)
        else:
            suppressed.append(Suppressed(f, match.reason))
    return kept, suppressed
