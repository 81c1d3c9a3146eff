"""The review as a CDK policy-validation plugin, registered in ``app.py`` beside cdk-nag.

aws-cdk-lib 2.275 deprecates the Beta1 registration (``App(policy_validation_beta1=...)``) in
favour of ``Validations.of(app).add_plugins()`` with ``IPolicyValidationPlugin``, the same shape
(name, version, rule IDs, validate over the synthesized templates); the plugin uses the current
API, as cdk-nag 3.x does. Every synth runs the same engine as ``python -m policy_review``; a finding
at or above the threshold fails the synth.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import aws_cdk as cdk
import jsii

from policy_review import inventory, suppressions
from policy_review.engine import review
from policy_review.model import Finding, Inventory, Severity
from policy_review.rules import RULES


@jsii.implements(cdk.IPolicyValidationPlugin)
class PolicyReviewPlugin:
    def __init__(self, *, fail_on: Severity = Severity.HIGH) -> None:
        self._fail_on = fail_on

    @property
    def name(self) -> str:
        return "IotPolicyReview"

    @property
    def version(self) -> str:
        return "0.1.0"

    @property
    def rule_ids(self) -> list[str]:
        return [r.id for r in RULES]

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        inv = Inventory()
        findings: list[tuple[str, Finding]] = []
        for path in context.template_paths:
            loaded = inventory.load(Path(path))
            inv.policies += loaded.policies
            kept, _, _ = suppressions.apply(review(loaded), suppressions.in_source(loaded.metadata))
            findings += [(path, f) for f in kept]
        blocking = [(p, f) for p, f in findings if f.severity >= self._fail_on]
        grouped: dict[tuple[str, str, str, str], list[cdk.PolicyViolatingResource]] = defaultdict(list)
        for path, f in blocking:
            grouped[(f.rule, f.message, f.fix, f.severity.name.lower())].append(
                cdk.PolicyViolatingResource(resource_logical_id=f.resource, template_path=path, locations=[f.path])
            )
        violations = [
            cdk.PolicyViolation(
                rule_name=rule, description=message, fix=fix, severity=severity, violating_resources=resources
            )
            for (rule, message, fix, severity), resources in grouped.items()
        ]
        return cdk.PolicyValidationPluginReport(
            success=not violations,
            violations=violations,
            plugin_version=self.version,
            metadata={"policies": str(len(inv.policies)), "findings": str(len(findings))},
        )
