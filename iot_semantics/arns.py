"""ARNs as IoT and IAM policies write them: fields, the resource part, the prefix.

``arn:<partition>:<service>:<region>:<account>:<resource>``; a synthesized template may hold
placeholders such as ``${AWS::Region}`` in any field, which contain colons and stay whole.
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


def split_arn(arn: str) -> list[str]:
    """ARN fields; placeholders such as ``${AWS::Region}`` hold colons and stay whole."""
    protected = _PLACEHOLDER.sub(lambda m: m.group(0).replace(":", "\x00"), arn)
    return [part.replace("\x00", ":") for part in protected.split(":", 5)]


def resource_part(arn: str) -> str:
    """``arn:...:iot:region:account:topic/x`` -> ``topic/x``; ``*`` and non-ARNs stay as they are."""
    if arn == "*" or not arn.startswith("arn:"):
        return arn
    parts = split_arn(arn)
    return parts[5] if len(parts) == 6 else arn


def arn_prefix(arn: str) -> str | None:
    """``arn:<partition>:<service>:<region>:<account>`` of an ARN, or None for ``*`` and non-ARNs."""
    parts = split_arn(arn)
    return ":".join(parts[:5]) if arn.startswith("arn:") and len(parts) == 6 else None


def resource_type(arn: str) -> str:
    """The resource type of an IoT resource: ``topic`` of ``...:topic/x``; ``*`` for ``*``."""
    return resource_part(arn).split("/", 1)[0]


#: The longest IoT ARN prefix a deployment can produce (the longest partition, a 15-character
#: region, a 12-digit account). Policy size checks render documents with it so they hold in every
#: account and region.
WORST_CASE_IOT_ARN_PREFIX = "arn:aws-us-gov:iot:ap-southeast-15:123456789012"


def iot_arn(prefix: str, resource: str) -> str:
    """``<prefix>:<resource>``, e.g. ``iot_arn(prefix, "topic/dt/x")``."""
    return f"{prefix}:{resource}"
