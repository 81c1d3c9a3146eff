"""Run the simulation and every rule over an inventory; one list of findings, each once.

A finding is keyed by rule, stack, resource and finding ID: the same fact found for several holders
or in several condition variants is one finding, listing the variants it holds in when it does not
hold in all of them.
"""

from __future__ import annotations

import dataclasses

from policy_review.model import Finding, Inventory
from policy_review.rules import RULES
from policy_review.rules.base import Review
from policy_review.simulate import simulate


def _variants_of(inv: Inventory) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in inv.policies:
        out.setdefault(p.stack, set()).add(p.variant)
    return out


def review(inv: Inventory, *, shared: bool = True) -> list[Finding]:
    """Every finding of ``inv`` (``shared``: holders differing only in opaque fleet names share one
    simulation, ``policy_review.canonical``)."""
    context = Review(inv, simulate(inv, shared=shared))
    found: dict[tuple[str, str, str, str], tuple[Finding, set[str]]] = {}
    for rule in RULES:
        for f in rule.check(context):
            subject = f.subject
            finding = Finding(
                rule.id,
                rule.severity,
                subject.logical_id,
                subject.path,
                f.message,
                rule.fix,
                subject.stack,
                f.finding_id,
                f.witness,
                getattr(subject, "name", ""),
            )
            variant = getattr(subject, "variant", "")
            if finding.key in found:
                found[finding.key][1].add(variant)
            else:
                found[finding.key] = (finding, {variant})
    all_variants = _variants_of(inv)
    findings = []
    for finding, variants in found.values():
        if variants != all_variants.get(finding.stack, {""}) and variants - {""}:
            finding = dataclasses.replace(finding, variants=tuple(sorted(variants)))
        findings.append(finding)
    findings.sort(key=lambda f: (-f.severity, f.rule, f.stack, f.resource, f.finding_id, f.message))
    return findings
