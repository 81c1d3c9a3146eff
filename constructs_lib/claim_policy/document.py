"""The claim-certificate IoT policy: CreateCertificateFromCsr and one template's RegisterThing, nothing else.

Only the exact JSON request, accepted and rejected topics are granted (no ``create/*`` or
``provision/*``): a stolen claim certificate can request certificates for its own CSRs and call
RegisterThing on this template, which the pre-provisioning hook still has to allow.
"""

from __future__ import annotations

from typing import Any

from constructs_lib.arns import iot_arn
from iot_semantics import topics


def claim_policy_document(*, template_name: str, client_id_prefix: str, arn_prefix: str) -> dict[str, Any]:
    requests = [
        topics.create_certificate_from_csr_topic("json"),
        topics.register_thing_topic(template_name, "json"),
    ]
    responses = [f(t) for t in requests for f in (topics.accepted, topics.rejected)]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectWithClaimClientId",
                "Effect": "Allow",
                "Action": "iot:Connect",
                # '*': each factory connection picks a unique suffix after the claim prefix; the
                # prefix holds a character no thing name can, so claims cannot take a device's ID.
                "Resource": iot_arn(arn_prefix, f"client/{client_id_prefix}*"),
            },
            {
                "Sid": "RequestCertificateAndRegisterThing",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [iot_arn(arn_prefix, f"topic/{t}") for t in requests],
            },
            {
                "Sid": "SubscribeToResponses",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [iot_arn(arn_prefix, f"topicfilter/{t}") for t in responses],
            },
            {
                "Sid": "ReceiveResponses",
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": [iot_arn(arn_prefix, f"topic/{t}") for t in responses],
            },
        ],
    }
