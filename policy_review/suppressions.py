"""Suppressions: findings acknowledged one by one, each with its reason; none silently.

Two homes, as SARIF names them:

- **external**: a YAML or JSON file (``--suppressions FILE``), a list of ``{rule, resource, reason}``
  (optionally under ``suppressions:``);
- **inSource**: the resource's own ``Metadata`` in the template, ``"iot-policy-review":
  {"acknowledge": [{"rule": ..., "reason": ...}]}`` (from CDK: ``cfn_resource.add_metadata(...)``).

``rule`` is a rule ID (every finding of the rule on the resource) or a granular ID
``RULE[finding-id]`` as reports print it. ``resource`` is the logical ID, the policy name, or the
construct path (a parent path covers everything below it). A reason is at least 20 characters.
Suppressions that match no finding are reported, so stale ones do not hide new problems.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from policy_review.errors import SuppressionError
from policy_review.model import Finding

__all__ = ["METADATA_KEY", "Suppressed", "Suppression", "SuppressionError", "apply", "load"]

METADATA_KEY = "iot-policy-review"
MIN_REASON = 20


@dataclass(frozen=True)
class Suppression:
    rule: str
    resource: str
    reason: str
    kind: Literal["external", "inSource"] = "external"
    #: Where it was written: the file and entry, or the stack and logical ID.
    origin: str = ""
    #: An in-source acknowledgement holds for its own stack only.
    stack: str = ""

    def matches(self, finding: Finding) -> bool:
        if self.rule not in (finding.rule, finding.full_id) or (self.stack and self.stack != finding.stack):
            return False
        if self.resource in (finding.resource, finding.policy_name, finding.path):
            return True
        parent = self.resource.rstrip("/")
        return bool(parent) and finding.path.startswith(parent + "/")


@dataclass(frozen=True)
class Suppressed:
    finding: Finding
    reason: str
    kind: Literal["external", "inSource"] = "external"

    @property
    def suppression_json(self) -> dict[str, str]:
        return {"kind": self.kind, "status": "accepted", "justification": self.reason}


def _checked(entry: Any, where: str, *, resource: str | None = None) -> tuple[str, str, str]:
    if (
        not isinstance(entry, dict)
        or "rule" not in entry
        or "reason" not in entry
        or (resource is None and "resource" not in entry)
    ):
        need = "rule and reason" if resource is not None else "rule, resource and reason"
        raise SuppressionError(f"{where} needs {need}")
    reason = str(entry["reason"]).strip()
    if len(reason) < MIN_REASON:
        raise SuppressionError(f"{where} ({entry['rule']}): give a real reason ({MIN_REASON}+ characters)")
    return str(entry["rule"]), resource if resource is not None else str(entry["resource"]), reason


def load(path: Path) -> list[Suppression]:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise SuppressionError(f"{path}: cannot read suppressions ({exc})") from None
    entries = data.get("suppressions") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise SuppressionError(f"{path}: expected a list of suppressions (optionally under 'suppressions')")
    out = []
    for i, entry in enumerate(entries):
        rule, resource, reason = _checked(entry, f"{path}: suppressions[{i}]")
        out.append(Suppression(rule, resource, reason, "external", f"{path}#{i}"))
    return out


def in_source(metadata: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[Suppression]:
    """Acknowledgements written in the resources' Metadata; a malformed one raises SuppressionError."""
    out = []
    for (stack, logical), entries in sorted(metadata.items()):
        block = entries.get(METADATA_KEY)
        if block is None:
            continue
        acknowledged = block.get("acknowledge") if isinstance(block, dict) else None
        if not isinstance(acknowledged, list):
            raise SuppressionError(f"{stack}/{logical}: Metadata {METADATA_KEY} needs an acknowledge list")
        for i, entry in enumerate(acknowledged):
            rule, resource, reason = _checked(
                entry, f"{stack}/{logical} Metadata {METADATA_KEY}[{i}]", resource=logical
            )
            out.append(Suppression(rule, resource, reason, "inSource", f"{stack}/{logical}", stack))
    return out


def apply(
    findings: Sequence[Finding], suppressions: Iterable[Suppression]
) -> tuple[list[Finding], list[Suppressed], list[Suppression]]:
    """(kept findings, suppressed findings with their reason, suppressions that matched nothing)."""
    rules = list(suppressions)
    used: set[int] = set()
    kept: list[Finding] = []
    suppressed: list[Suppressed] = []
    for f in findings:
        index = next((i for i, s in enumerate(rules) if s.matches(f)), None)
        if index is None:
            kept.append(f)
            continue
        used.add(index)
        suppressed.append(Suppressed(f, rules[index].reason, rules[index].kind))
    return kept, suppressed, [s for i, s in enumerate(rules) if i not in used]
