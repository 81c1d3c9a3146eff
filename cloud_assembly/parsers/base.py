"""What every resource parser receives: the resource as the template holds it, and its stack."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud_assembly.errors import AssemblyError
from cloud_assembly.model import Asset, Location, Record
from cloud_assembly.resolve import Resolver


@dataclass(frozen=True)
class RawResource:
    at: Location
    properties: Mapping[str, Any]
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class StackContext:
    template_file: Path
    resolver: Resolver
    assets: Mapping[str, Asset]

    def fail(self, raw: RawResource, field: str, problem: str) -> AssemblyError:
        return AssemblyError(f"{self.template_file}: {raw.at.logical_id} ({raw.at.type}) {field}: {problem}")

    def document(self, raw: RawResource, field: str, node: Any) -> dict[str, Any]:
        """A policy document: resolved, and parsed when the template holds it as a JSON string."""
        value = self.resolver.value(node)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise self.fail(raw, field, f"is not JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise self.fail(raw, field, "must be a policy document (a JSON object)")
        return value


Parser = Callable[[RawResource, StackContext], Record]
