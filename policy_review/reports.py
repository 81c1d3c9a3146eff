"""Reports: Markdown, a self-contained HTML page, JSON and SARIF 2.1.0."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from policy_review.model import Finding, Inventory, Severity
from policy_review.rules import RULES
from policy_review.rules.base import THING_NAME_VAR, actions_of, resource_part, resources_of, statements
from policy_review.suppressions import Suppressed

SAMPLE_THING = "sensor-0001"
_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def markdown(inv: Inventory, findings: Sequence[Finding], suppressed: Sequence[Suppressed] = ()) -> str:
    lines = [f"# Policy review: {len(inv.policies)} policies, {len(findings)} finding(s)", ""]
    if not findings:
        lines.append("No finding. No device can reach another device's topics, shadow or jobs.")
    for f in findings:
        lines += [f"- **{f.severity.name}** `{f.rule}` {f.resource} ({f.path}): {f.message}", f"  - fix: {f.fix}"]
    if suppressed:
        lines += ["", "## Suppressed", ""]
        lines += [
            f"- `{s.finding.rule}` {s.finding.resource}: {s.finding.message} — reason: {s.reason}" for s in suppressed
        ]
    return "\n".join(lines) + "\n"


def as_json(findings: Sequence[Finding], suppressed: Sequence[Suppressed] = ()) -> str:
    return (
        json.dumps(
            {
                "findings": [f.as_json() for f in findings],
                "suppressed": [{**s.finding.as_json(), "reason": s.reason} for s in suppressed],
            },
            indent=2,
        )
        + "\n"
    )


def sarif(findings: Sequence[Finding]) -> str:
    rules = [
        {"id": r.id, "name": r.id, "shortDescription": {"text": r.title}, "fullDescription": {"text": r.explanation},
         "help": {"text": r.fix}, "properties": {"severity": r.severity.name.lower()}}
        for r in RULES
    ]  # fmt: skip
    rules += [
        {"id": "IOT-CROSS-DEVICE", "shortDescription": {"text": "A device can reach another device"}},
        {
            "id": "IOT-CLAIM-BEYOND-PROVISIONING",
            "shortDescription": {"text": "Claim policy grants more than provisioning"},
        },
    ]
    results = [
        {
            "ruleId": f.rule,
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.message}. Fix: {f.fix}"},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": f"{f.stack}.template.json"}},
                    "logicalLocations": [{"name": f.resource, "fullyQualifiedName": f.path}],
                }
            ],
        }
        for f in findings
    ]
    run = {"tool": {"driver": {"name": "iot-fleet-toolkit policy review", "rules": rules}}, "results": results}
    return (
        json.dumps(
            {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": [run]}, indent=2
        )
        + "\n"
    )


_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:75rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.85rem}
th{background:#f6f8fa}code{font-size:.8rem;word-break:break-all}.sev{font-weight:600}
.CRITICAL{color:#a40e26}.HIGH{color:#bc4c00}.MEDIUM{color:#7d4e00}.ok{color:#1a7f37;font-weight:600}
td.rule code{white-space:nowrap}ul.may{font-size:.85rem}"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def html_page(inv: Inventory, findings: Sequence[Finding], suppressed: Sequence[Suppressed] = ()) -> str:
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8><title>Policy review</title>",
        f"<style>{_CSS}</style><h1>Policy review: {len(inv.policies)} policies, {len(findings)} finding(s)</h1>",
    ]
    if findings:
        parts.append("<h2>Findings</h2><table><tr><th>Severity<th>Rule<th>Resource<th>Finding<th>Fix</tr>")
        for f in findings:
            parts.append(
                f"<tr><td class='sev {f.severity.name}'>{f.severity.name}<td class=rule><code>{_esc(f.rule)}</code>"
                f"<td>{_esc(f.resource)}<br><small>{_esc(f.path)}</small><td>{_esc(f.message)}<td>{_esc(f.fix)}</tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p class=ok>No finding. No device can reach another device's topics, shadow or jobs.</p>")
    if suppressed:
        parts.append("<h2>Suppressed</h2><table><tr><th>Rule<th>Resource<th>Finding<th>Reason</tr>")
        parts += [
            f"<tr><td><code>{_esc(s.finding.rule)}</code><td>{_esc(s.finding.resource)}<td>{_esc(s.finding.message)}<td>{_esc(s.reason)}</tr>"
            for s in suppressed
        ]
        parts.append("</table>")
    for policy in inv.policies:
        if policy.kind != "iot":
            continue
        where = f"{policy.role or 'other'}, {policy.path}"
        parts.append(f"<h2>IoT policy {_esc(policy.name)} <small>({_esc(where)})</small></h2>")
        parts.append("<table><tr><th>Effect<th>Actions<th>Resources<th>Condition</tr>")
        for s in statements(policy):
            resources = "<br>".join(f"<code>{_esc(r)}</code>" for r in resources_of(s))
            condition = "&mdash;"
            if s.get("Condition"):
                condition = f"<code>{_esc(json.dumps(s['Condition']))}</code>"
            actions = _esc(", ".join(actions_of(s)))
            parts.append(f"<tr><td>{_esc(s.get('Effect'))}<td>{actions}<td>{resources}<td>{condition}</tr>")
        parts.append("</table>")
        if policy.role == "device":
            parts.append(
                f"<p>What a sample device <b>{SAMPLE_THING}</b> (client ID = thing name) may do:</p><ul class=may>"
            )
            for s in statements(policy):
                verb = "may" if s.get("Effect") == "Allow" else "may not"
                for action in actions_of(s):
                    for resource in resources_of(s):
                        target = resource_part(resource).replace(THING_NAME_VAR, SAMPLE_THING)
                        parts.append(f"<li>{verb} <code>{_esc(action)}</code> <code>{_esc(target)}</code>")
            parts.append("</ul>")
    return "".join(parts) + "</html>\n"
