"""Amazon DynamoDB tables (the serial allowlist)."""

from __future__ import annotations

from cloud_assembly.model import Table
from cloud_assembly.parsers.base import RawResource, StackContext


def table(raw: RawResource, ctx: StackContext) -> Table:
    props = raw.properties
    return Table(
        raw.at,
        ctx.resolver.name(raw.at.logical_id, "TableName"),
        list(props.get("KeySchema") or []),
        list(props.get("AttributeDefinitions") or []),
    )
