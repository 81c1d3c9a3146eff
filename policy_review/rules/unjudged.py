"""What the review could not judge, and why: never silence, a finding with a severity.

- ``REVIEW-UNREADABLE-POLICY``: a policy document that cannot be read at all (not JSON, not an
  object, no statements), so nothing it grants or denies is known.
- ``REVIEW-UNJUDGED``: a part that cannot be judged: a statement AWS would reject (no Effect, an
  Action that is an unresolved intrinsic, an unknown condition operator), a template body that cannot
  be evaluated, a policy a template names that the synth does not define, a role alias pointing
  outside the synth, a Lambda principal that is a parameter, a question too large to answer.
"""

from __future__ import annotations

from collections.abc import Iterator

from policy_review.model import Policy, Severity
from policy_review.rules.base import Found, Review, Rule
from policy_review.rules.principals import normalize


def _unreadable(review: Review) -> Iterator[Found]:
    for policy in review.inv.policies:
        problems = list(policy.problems) + (list(policy.compiled.problems) if policy.source != "managed" else [])
        if problems:
            yield Found(
                policy, f"{policy.kind} policy {policy.name} cannot be judged: {'; '.join(problems)}", "document"
            )


UNREADABLE_POLICY = Rule(
    id="REVIEW-UNREADABLE-POLICY",
    severity=Severity.HIGH,
    title="A policy document the review cannot read",
    explanation="What it grants is unknown, so the review cannot pass it; AWS would likely refuse it at deploy time.",
    fix="Give the document as a JSON object (or a JSON string) with a Statement list.",
    check=_unreadable,
    see_also=("Parliament MALFORMED/MALFORMED_JSON", "cfn-lint E3510/E3512"),
)


def _parts(review: Review) -> Iterator[Found]:
    inv = review.inv
    for policy in inv.policies:
        for st in policy.compiled.statements:
            for problem in st.problems:
                yield Found(
                    policy,
                    f"statement {st.label()} of {policy.name} cannot be judged ({problem}); it is "
                    "treated as granting nothing",
                    f"statement::{st.label()}",
                )
    for holder in inv.holders:
        for name in holder.missing:
            yield Found(
                holder.subject,
                f"{holder.kind} {holder.name} attaches IoT policy {name}, which this synth "
                "does not define: what its devices may do is not fully known",
                f"missing::{name}",
            )
    for template in inv.templates:
        if template.body_error:
            yield Found(
                template,
                f"the body of template {template.name} cannot be evaluated ({template.body_error}); "
                "AWS IoT would refuse RegisterThing",
                "body",
            )
    for alias in inv.role_aliases:
        if alias.role_logical_id is None:
            yield Found(
                alias,
                f"role alias {alias.name} points at {alias.role_arn}, outside this synth: review that role's policies",
                "role-outside",
            )
    for p in inv.permissions:
        principal = normalize(p.principal)
        if principal.startswith(("${", "{")) or "${" in principal:
            yield Found(
                p,
                f"the principal of the permission on {p.function} is {p.principal}, which only deployment "
                "decides: it could be anyone",
                "principal",
            )
    for fact in review.of("unjudged"):
        yield Found(fact.policy, f"holder {fact.holder.name}: {fact.detail}", f"simulation::{fact.holder.name}")
    for stack, logical, note in inv.notes:
        subject = next((p for p in inv.policies if p.stack == stack), None) or Policy(
            "iot", stack, stack, logical, stack, {}, "stack"
        )
        yield Found(subject, note, "variants")


UNJUDGED = Rule(
    id="REVIEW-UNJUDGED",
    severity=Severity.MEDIUM,
    title="Part of the synth the review cannot judge",
    explanation="Said rather than silently passed: the part is judged as granting nothing, which may be wrong.",
    fix="Resolve the intrinsic, give the operator AWS documents, or include the missing resource in the synth.",
    check=_parts,
)

RULES = (UNREADABLE_POLICY, UNJUDGED)
