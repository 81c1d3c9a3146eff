"""The review's rules, one module each; ``RULES`` in a stable order."""

from policy_review.rules import (
    greengrass_star,
    hook_permission_unscoped,
    iam_admin,
    iam_notaction_allow,
    iam_passrole_star,
    iam_privilege_escalation,
    iam_service_star,
    iam_trust_star,
    iot_claim_broader_than_template,
    iot_clientid_in_filter,
    iot_connect_unbound,
    iot_ineffective_deny,
    iot_overly_permissive,
    iot_policy_size,
    iot_resource_type,
    iot_role_alias_broad,
    iot_subscribe_receive_mismatch,
    iot_unknown_variable,
    provisioning_managed_policy,
    template_without_hook,
)
from policy_review.rules.base import Rule

RULES: tuple[Rule, ...] = tuple(
    m.RULE
    for m in (
        iot_overly_permissive,
        iot_connect_unbound,
        iot_clientid_in_filter,
        iot_unknown_variable,
        iot_resource_type,
        iot_policy_size,
        iot_ineffective_deny,
        iot_subscribe_receive_mismatch,
        iot_claim_broader_than_template,
        template_without_hook,
        hook_permission_unscoped,
        provisioning_managed_policy,
        greengrass_star,
        iot_role_alias_broad,
        iam_admin,
        iam_service_star,
        iam_passrole_star,
        iam_privilege_escalation,
        iam_notaction_allow,
        iam_trust_star,
    )
)

__all__ = ["RULES", "Rule"]
