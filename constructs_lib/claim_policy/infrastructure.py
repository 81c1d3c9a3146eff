"""The claim IoT policy of one fleet provisioning template."""

from __future__ import annotations

from aws_cdk import aws_iot as iot
from constructs import Construct

from constructs_lib.arns import IOT_ARN_PREFIX
from constructs_lib.errors import SynthCheckError
from iot_semantics import limits
from iot_semantics.arns import WORST_CASE_IOT_ARN_PREFIX
from iot_semantics.policies import claim_policy_document


class ClaimPolicy(Construct):
    """``AWS::IoT::Policy`` for claim certificates of one template."""

    def __init__(
        self, scope: Construct, id_: str, *, policy_name: str, template_name: str, client_id_prefix: str
    ) -> None:
        super().__init__(scope, id_)
        self.policy_name = policy_name
        self.client_id_prefix = client_id_prefix
        if "*" in client_id_prefix or "?" in client_id_prefix:
            raise SynthCheckError(f"claim client ID prefix {client_id_prefix!r} must not hold policy wildcards")
        worst = claim_policy_document(
            template_name=template_name, client_id_prefix=client_id_prefix, arn_prefix=WORST_CASE_IOT_ARN_PREFIX
        )
        size = limits.non_whitespace_length(worst)
        if size > limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE:
            raise SynthCheckError(f"claim policy {policy_name!r} is {size} non-whitespace characters; limit 2048")
        self.policy = iot.CfnPolicy(
            self,
            "Policy",
            policy_name=policy_name,
            policy_document=claim_policy_document(
                template_name=template_name, client_id_prefix=client_id_prefix, arn_prefix=IOT_ARN_PREFIX
            ),
        )
