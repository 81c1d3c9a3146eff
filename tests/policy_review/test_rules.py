"""Every rule: a case it reports and a close one it does not (the corpus holds most of them; the rest here).

Each pair differs in one meaning, not in spelling: the compliant twin is the fix the rule asks for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy_review import inventory
from policy_review.engine import review
from policy_review.rules import RULES, RULES_BY_ID
from tests.policy_review.corpus import cases

A = "arn:aws:iot:eu-west-1:123456789012"
T = "${iot:Connection.Thing.ThingName}"


def iot_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Resources": {
            "P": {
                "Type": "AWS::IoT::Policy",
                "Properties": {
                    "PolicyName": "p",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
                },
            }
        }
    }


def alias(duration: int) -> dict[str, Any]:
    trust = {
        "Effect": "Allow",
        "Principal": {"Service": "credentials.iot.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
    }
    return {
        "Resources": {
            "R": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": [trust]}}},
            "A": {
                "Type": "AWS::IoT::RoleAlias",
                "Properties": {
                    "RoleAlias": "a",
                    "RoleArn": {"Fn::GetAtt": ["R", "Arn"]},
                    "CredentialDurationSeconds": duration,
                },
            },
        }
    }


def publish(resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "iot:Publish", "Resource": resources}


#: (rule, template, reported?)
PAIRS: list[tuple[str, dict[str, Any], bool]] = [
    ("IOT-POLICY-SIZE", iot_policy(publish([f"{A}:topic/dt/{T}/{i:04d}" for i in range(40)])), True),
    ("IOT-POLICY-SIZE", iot_policy(publish([f"{A}:topic/dt/{T}/*"])), False),
    ("IOT-ROLE-ALIAS-DURATION", alias(43200), True),
    ("IOT-ROLE-ALIAS-DURATION", alias(3600), False),
]


def _run(template: dict[str, Any], tmp: Path) -> set[str]:
    path = tmp / "t.template.json"
    path.write_text(json.dumps(template))
    return {f.rule for f in review(inventory.load(path))}


@pytest.mark.parametrize(("rule", "template", "reported"), PAIRS, ids=[f"{p[0]}-{p[2]}" for p in PAIRS])
def test_pair(rule: str, template: dict[str, Any], reported: bool, tmp_path: Path) -> None:
    assert (rule in _run(template, tmp_path)) is reported


def test_every_rule_is_shown_reporting_and_not_reporting() -> None:
    reported = {r for c in cases() for r in c.expect | (c.low or frozenset())} | {p[0] for p in PAIRS if p[2]}
    assert reported == set(RULES_BY_ID), f"never shown reporting: {set(RULES_BY_ID) - reported}"
    compliant_cases = [c for c in cases() if not c.expect]
    assert compliant_cases, "and cases where no rule of MEDIUM or above reports"


def test_rules_are_documented_and_cite_their_peers() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert all((rule.title, rule.explanation, rule.fix)), rule.id
    for prefix in (
        "IAM-ADMIN",
        "IAM-SERVICE-WIDE",
        "IAM-PASSROLE-BROAD",
        "IAM-PRIVILEGE-ESCALATION",
        "IAM-POLICY-MANAGEMENT",
        "IAM-NOT-ALLOW",
        "IAM-ANY-PRINCIPAL",
        "IAM-CONFUSED-DEPUTY",
        "IAM-LAMBDA-PUBLIC",
    ):
        assert RULES_BY_ID[prefix].see_also, f"{prefix} names the peer checks it covers"
    docs = (Path(__file__).resolve().parents[2] / "docs" / "policy-review.md").read_text()
    missing = [r.id for r in RULES if r.id not in docs]
    assert not missing, f"docs/policy-review.md does not describe {missing}"
