"""CloudFormation intrinsics rendered as readable placeholders (``${AWS::Region}``, ``${Logical.Arn}``)."""

from __future__ import annotations

from typing import Any


def readable(node: Any) -> Any:
    if isinstance(node, list):
        return [readable(v) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref":
            return "${" + str(arg) + "}"
        if key == "Fn::GetAtt":
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return "${" + ".".join(str(p) for p in parts) + "}"
        if key == "Fn::Join":
            sep, items = arg
            return str(sep).join(str(readable(i)) for i in items)
        if key == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
        if key == "Fn::ImportValue":
            return "${Import:" + str(readable(arg)) + "}"
    return {k: readable(v) for k, v in node.items()}
