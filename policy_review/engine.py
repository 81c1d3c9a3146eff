"""Run every rule and the simulations over an inventory; one list of findings."""

from __future__ import annotations

from policy_review.model import Finding, Inventory, Severity
from policy_review.rules import RULES
from policy_review.simulate import claim_can_only_provision, cross_device


def review(inv: Inventory) -> list[Finding]:
    findings: list[Finding] = []
    for rule in RULES:
        for subject, message in rule.check(inv):
            findings.append(
                Finding(rule.id, rule.severity, subject.logical_id, subject.path, message, rule.fix, subject.stack)
            )
    for w in cross_device(inv):
        findings.append(
            Finding(
                "IOT-CROSS-DEVICE",
                Severity.CRITICAL,
                w.policy.logical_id,
                w.policy.path,
                f"policy {w.policy.name}: device {w.me} may {w.action} {w.resource} of device {w.other}",
                "Confine every resource to the device's own thing-name level.",
                w.policy.stack,
            )
        )
    for w in claim_can_only_provision(inv):
        findings.append(
            Finding(
                "IOT-CLAIM-BEYOND-PROVISIONING",
                Severity.HIGH,
                w.policy.logical_id,
                w.policy.path,
                f"claim policy {w.policy.name} allows {w.action} {w.resource}",
                "Grant exactly CreateCertificateFromCsr and this template's RegisterThing topics.",
                w.policy.stack,
            )
        )
    findings.sort(key=lambda f: (-f.severity, f.rule, f.resource, f.message))
    return findings
