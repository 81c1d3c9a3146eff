"""Alarms on fleet provisioning: RegisterThing failures per template, CSR failures, registrations per claim.

They are added to the stack's ``SecurityAlarms`` (one SNS action, one place in the tree, stable
logical IDs): a stolen claim certificate shows as an abnormal registration rate through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from constructs_lib.alarms.infrastructure import SecurityAlarms


@dataclass(frozen=True)
class ProvisioningThresholds:
    register_thing_failures_per_5_min: int
    csr_failures_per_5_min: int
    registrations_per_hour_per_claim: int


def add_provisioning_alarms(
    alarms: SecurityAlarms,
    *,
    templates: Mapping[str, str],
    claim_certificates: Sequence[tuple[str, str]],
    thresholds: ProvisioningThresholds,
) -> list[cloudwatch.Alarm]:
    """``templates``: alarm key -> template name; ``claim_certificates``: (alarm key, certificate ID)."""
    out = [
        alarms.add(
            f"RegisterThingFailed{key}",
            metric_name="RegisterThingFailed",
            dimensions={"TemplateName": template},
            threshold=thresholds.register_thing_failures_per_5_min,
            period=Duration.minutes(5),
            description=f"RegisterThing failures on template {template} (hook denials, bad parameters)",
        )
        for key, template in templates.items()
    ]
    out.append(
        alarms.add(
            "CreateCertificateFromCsrFailed",
            metric_name="CreateCertificateFromCsrFailed",
            dimensions={},
            threshold=thresholds.csr_failures_per_5_min,
            period=Duration.minutes(5),
            description="CreateCertificateFromCsr failures (bad CSRs, throttling)",
        )
    )
    out += [
        alarms.add(
            f"ClaimRegistrationRate{key}",
            metric_name="ApproximateNumberOfThingsRegistered",
            dimensions={"ClaimCertificateId": certificate_id},
            threshold=thresholds.registrations_per_hour_per_claim,
            period=Duration.hours(1),
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description="Abnormal registration rate through one claim certificate: it may be stolen. "
            "Deactivate it (docs/runbook-defender.md).",
        )
        for key, certificate_id in claim_certificates
    ]
    return out
