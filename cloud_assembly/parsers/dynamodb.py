"""Amazon DynamoDB tables (the serial allowlist)."""

from __future__ import annotations

from typing import Any

from cloud_assembly.model import Table
from cloud_assembly.parsers.base import RawResource, StackContext


def _objects(value: Any) -> list[dict[str, str]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def table(raw: RawResource, ctx: StackContext) -> Table:
    props = raw.properties
    return Table(
        raw.at,
        ctx.resolver.name(raw.at.logical_id, "TableName"),
        _objects(props.get("KeySchema")),
        _objects(props.get("AttributeDefinitions")),
    )
