"""The one home of AWS IoT rules shared by the stacks, the review, the double and the CLI.

Everything here is pure Python with no CDK, boto3 or network dependency, so the factory CLI
and the policy review can import it on a machine without Node or jsii:

- ``topics``: reserved ``$aws/...`` topics (built and parsed) and MQTT topic-filter matching;
- ``variables``: policy variable and condition-key names;
- ``policy_match`` and ``policy_eval``: how AWS IoT matches and evaluates policies;
- ``policies``: the device and claim policy documents every fleet gets;
- ``template_eval``: fleet provisioning template evaluation;
- ``defender``: Device Defender metrics, audit checks, mitigation actions and their enumerations;
- ``arns``, ``names``, ``limits`` and ``regions``: ARN fields, naming rules, documented quotas and
  the AWS regions.
"""

from iot_semantics import (
    arns,
    defender,
    limits,
    names,
    policies,
    policy_eval,
    policy_match,
    regions,
    template_eval,
    topics,
    variables,
)

__all__ = [
    "arns",
    "defender",
    "limits",
    "names",
    "policies",
    "policy_eval",
    "policy_match",
    "regions",
    "template_eval",
    "topics",
    "variables",
]
