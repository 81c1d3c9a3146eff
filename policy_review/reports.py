"""Reports: Markdown, a self-contained HTML page, JSON and SARIF 2.1.0.

Every report carries the kept findings, the suppressed ones with their reason (SARIF: the result's
``suppressions``, kind ``external`` for a suppressions file, ``inSource`` for template Metadata) and
the suppressions that matched nothing. The HTML page's "what a sample device may do" is computed by
``query`` (the same evaluator and device as ``--can``), never by reading the policy's text.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from iot_semantics.arns import resource_part
from iot_semantics.policy_eval import ACTION_RESOURCE_TYPES, Effect, action_matches
from iot_semantics.policy_match import substitute
from policy_review import query
from policy_review.devices import World, deployment_of, device_named, sample_name
from policy_review.model import Finding, Holder, Inventory, Severity
from policy_review.rules import RULES
from policy_review.suppressions import Suppressed, Suppression

TOOL = "iot-fleet-toolkit policy review"
_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def _where(f: Finding) -> str:
    return f" (in {', '.join(f.variants)})" if f.variants else ""


def markdown(
    inv: Inventory,
    findings: Sequence[Finding],
    suppressed: Sequence[Suppressed] = (),
    unmatched: Sequence[Suppression] = (),
) -> str:
    lines = [f"# Policy review: {len(inv.policies)} policies, {len(findings)} finding(s)", ""]
    if not findings:
        lines.append("No finding. No device can reach another device's client ID, topics, shadow or jobs.")
    for f in findings:
        lines += [
            f"- **{f.severity.name}** `{f.full_id}` {f.resource} ({f.path}){_where(f)}: {f.message}",
            f"  - fix: {f.fix}",
        ]
    if suppressed:
        lines += ["", "## Suppressed", ""]
        lines += [
            f"- `{s.finding.full_id}` {s.finding.resource}: {s.finding.message} — {s.kind}: {s.reason}"
            for s in suppressed
        ]
    if unmatched:
        lines += ["", "## Suppressions that match no finding", ""]
        lines += [f"- `{s.rule}` on {s.resource} ({s.origin}): remove it or fix its rule/resource" for s in unmatched]
    return "\n".join(lines) + "\n"


def _unmatched_json(unmatched: Sequence[Suppression]) -> list[dict[str, str]]:
    return [{"rule": s.rule, "resource": s.resource, "origin": s.origin, "kind": s.kind} for s in unmatched]


def as_json(
    findings: Sequence[Finding], suppressed: Sequence[Suppressed] = (), unmatched: Sequence[Suppression] = ()
) -> str:
    data = {
        "findings": [f.as_json() for f in findings],
        "suppressed": [{**s.finding.as_json(), "reason": s.reason, "suppression": s.kind} for s in suppressed],
        "unmatched_suppressions": _unmatched_json(unmatched),
    }
    return json.dumps(data, indent=2) + "\n"


def _sarif_rule(rule: Any) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.id,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.explanation},
        "help": {"text": rule.fix},
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        "properties": {"severity": rule.severity.name.lower(), "seeAlso": list(rule.see_also)},
    }


def _sarif_result(f: Finding, suppression: Suppressed | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "level": _SARIF_LEVEL[f.severity],
        "message": {"text": f"{f.message}{_where(f)}. Fix: {f.fix}"},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": f"{f.stack}.template.json"}},
                "logicalLocations": [{"name": f.resource, "fullyQualifiedName": f.path, "kind": "resource"}],
            }
        ],
        "partialFingerprints": {"findingId/v1": f"{f.stack}/{f.resource}/{f.full_id}"},
        "properties": {"findingId": f.full_id, "witness": dict(f.witness), "variants": list(f.variants)},
    }
    if suppression is not None:
        result["suppressions"] = [suppression.suppression_json]
    return result


def sarif(
    findings: Sequence[Finding], suppressed: Sequence[Suppressed] = (), unmatched: Sequence[Suppression] = ()
) -> str:
    results = [_sarif_result(f) for f in findings] + [_sarif_result(s.finding, s) for s in suppressed]
    notifications = [
        {
            "level": "warning",
            "message": {"text": f"suppression {s.rule} on {s.resource} ({s.origin}) matches no finding"},
        }
        for s in unmatched
    ]
    run = {
        "tool": {
            "driver": {
                "name": TOOL,
                "informationUri": "docs/policy-review.md",
                "rules": [_sarif_rule(r) for r in RULES],
            }
        },
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
        "results": results,
    }
    document = {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"


# HTML ---------------------------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:75rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.85rem}
th{background:#f6f8fa}code{font-size:.8rem;word-break:break-all}.sev{font-weight:600}
.CRITICAL{color:#a40e26}.HIGH{color:#bc4c00}.MEDIUM{color:#7d4e00}.ok{color:#1a7f37;font-weight:600}
td.rule code{white-space:nowrap}ul.may{font-size:.85rem}.no{color:#a40e26}"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


@dataclass(frozen=True)
class Probe:
    """One line of "what a sample device may do": a granted resource, a concrete request, the answer."""

    holder: Holder
    device: str
    action: str
    pattern: str
    resource: str
    answer: query.Answer


def _probe_resource(pattern: str, variables: dict[str, str]) -> str:
    text = "".join(
        t if literal else t.replace("*", "x").replace("?", "x") for t, literal in substitute(pattern, variables)
    )
    return text


def sample_probes(holder: Holder) -> Iterator[Probe]:
    """For each Allow statement's resources: the resource instantiated for a sample device, and the
    evaluator's answer for one concrete request in it (wildcards filled with ``x``)."""
    name = sample_name(holder)
    device = device_named(holder, name)
    deployment = deployment_of(holder.policies)
    variables = World(holder, deployment).context(device, name).variables()
    seen: set[tuple[str, str]] = set()
    for compiled in device.compiled:
        for st in compiled.statements:
            if not st.valid or st.effect is not Effect.ALLOW or st.not_resource or st.not_action:
                continue
            for pattern in st.resources:
                shown = resource_part("".join(t for t, _ in substitute(pattern, variables)))
                part = resource_part(_probe_resource(pattern, variables))
                for action, resource in _requests(st.actions, part):
                    if (action, resource) in seen:
                        continue
                    seen.add((action, resource))
                    try:
                        question = query.parse(name, action, resource)
                    except query.QueryError:
                        continue
                    yield Probe(holder, name, action, shown, resource, query.decide(holder, device, question))


def _requests(patterns: Sequence[str], part: str) -> Iterator[tuple[str, str]]:
    """(action, resource) requests a granted resource part stands for, one per matched data-plane action."""
    rtype, slash, _ = part.partition("/")
    typed = bool(slash) and rtype in query.RESOURCE_TYPES
    for action, wanted in ACTION_RESOURCE_TYPES.items():
        if not any(action_matches(p, action) for p in patterns):
            continue
        if typed:
            if wanted == rtype or wanted is None:
                yield action, part
        elif wanted in (None, "*"):
            yield action, "*"
        else:
            yield action, f"{wanted}/x"


def _findings_html(findings: Sequence[Finding]) -> list[str]:
    if not findings:
        return ["<p class=ok>No finding. No device can reach another device's client ID, topics, shadow or jobs.</p>"]
    parts = ["<h2>Findings</h2><table><tr><th>Severity<th>Rule<th>Resource<th>Finding<th>Fix</tr>"]
    for f in findings:
        parts.append(
            f"<tr><td class='sev {f.severity.name}'>{f.severity.name}<td class=rule><code>{_esc(f.full_id)}</code>"
            f"<td>{_esc(f.resource)}<br><small>{_esc(f.path)}{_esc(_where(f))}</small><td>{_esc(f.message)}"
            f"<td>{_esc(f.fix)}</tr>"
        )
    parts.append("</table>")
    return parts


def html_page(
    inv: Inventory,
    findings: Sequence[Finding],
    suppressed: Sequence[Suppressed] = (),
    unmatched: Sequence[Suppression] = (),
) -> str:
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8><title>Policy review</title>",
        f"<style>{_CSS}</style><h1>Policy review: {len(inv.policies)} policies, {len(findings)} finding(s)</h1>",
        *_findings_html(findings),
    ]
    if suppressed:
        parts.append("<h2>Suppressed</h2><table><tr><th>Finding<th>Resource<th>What<th>Reason</tr>")
        parts += [
            f"<tr><td><code>{_esc(s.finding.full_id)}</code><td>{_esc(s.finding.resource)}<td>{_esc(s.finding.message)}"
            f"<td>{_esc(s.kind)}: {_esc(s.reason)}</tr>"
            for s in suppressed
        ]
        parts.append("</table>")
    if unmatched:
        parts.append("<h2>Suppressions that match no finding</h2><ul>")
        parts += [f"<li><code>{_esc(s.rule)}</code> on {_esc(s.resource)} ({_esc(s.origin)})" for s in unmatched]
        parts.append("</ul>")
    for holder in inv.holders:
        parts += _holder_html(holder)
    return "".join(parts) + "</html>\n"


def _holder_html(holder: Holder) -> list[str]:
    parts = []
    for policy in holder.policies:
        where = f"{holder.role or 'other'}, {policy.path}" + (f", {policy.variant}" if policy.variant else "")
        parts.append(f"<h2>IoT policy {_esc(policy.name)} <small>({_esc(where)})</small></h2>")
        parts.append("<table><tr><th>Effect<th>Actions<th>Resources<th>Condition</tr>")
        for st in policy.compiled.statements:
            verb = "NotAction " if st.not_action else ""
            noun = "NotResource " if st.not_resource else ""
            resources = "<br>".join(f"<code>{_esc(noun + r)}</code>" for r in st.resources)
            condition = f"<code>{_esc(json.dumps(st.source.get('Condition')))}</code>" if st.conditions else "&mdash;"
            effect = st.effect.value if st.effect else "?"
            parts.append(
                f"<tr><td>{_esc(effect)}<td>{_esc(verb + ', '.join(st.actions))}<td>{resources}<td>{condition}</tr>"
            )
        parts.append("</table>")
    if holder.role in ("claim", "quarantine"):
        return parts
    probes = list(sample_probes(holder))
    if probes:
        parts.append(
            f"<p>What a sample device <b>{_esc(probes[0].device)}</b> (client ID = thing name, certificate attached) "
            "may do, as <code>--can</code> answers it:</p><ul class=may>"
        )
        for p in probes:
            verb = "may" if p.answer.decision.allowed else "<span class=no>may not</span>"
            why = "; ".join(p.answer.deciding) or "no statement allows it"
            parts.append(
                f"<li>{verb} <code>{_esc(p.action)}</code> <code>{_esc(p.resource)}</code> "
                f"<small>(granted on <code>{_esc(p.pattern)}</code>; {_esc(why)})</small>"
            )
        parts.append("</ul>")
    return parts
