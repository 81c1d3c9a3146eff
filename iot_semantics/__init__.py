"""The one home of AWS IoT rules shared by the stacks, the review, the double and the CLI.

Everything here is pure Python with no CDK, boto3 or network dependency, so the factory CLI
and the policy review can import it on a machine without Node or jsii.
"""

from iot_semantics import defender, limits, names, policy_eval, policy_match, template_eval, topics

__all__ = ["defender", "limits", "names", "policy_eval", "policy_match", "template_eval", "topics"]
