"""The device IoT policy of one fleet, size-checked at synth."""

from __future__ import annotations

from aws_cdk import aws_iot as iot
from constructs import Construct

from constructs_lib.arns import IOT_ARN_PREFIX
from constructs_lib.errors import SynthCheckError
from iot_semantics import limits
from iot_semantics.arns import WORST_CASE_IOT_ARN_PREFIX
from iot_semantics.policies import DeviceTopicAccess, device_policy_document


class DevicePolicy(Construct):
    """``AWS::IoT::Policy`` confining each device to its own client ID and topics."""

    def __init__(self, scope: Construct, id_: str, *, policy_name: str, access: DeviceTopicAccess) -> None:
        super().__init__(scope, id_)
        self.policy_name = policy_name
        self.access = access
        worst = device_policy_document(access, WORST_CASE_IOT_ARN_PREFIX)
        size = limits.non_whitespace_length(worst)
        if size > limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE:
            raise SynthCheckError(
                f"device policy {policy_name!r} is {size} non-whitespace characters in the longest region; "
                f"AWS IoT accepts {limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE}. Use fewer topic namespaces or "
                "switch off features the devices do not use."
            )
        self.worst_case_size = size
        self.policy = iot.CfnPolicy(
            self,
            "Policy",
            policy_name=policy_name,
            policy_document=device_policy_document(access, IOT_ARN_PREFIX),
        )
