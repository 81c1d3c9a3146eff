"""What every resource parser receives: the resource as the template holds it, and its stack."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud_assembly.errors import AssemblyError
from cloud_assembly.model import Asset, Location, Record
from cloud_assembly.resolve import Resolver, ref_logical_id


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
    #: Raise on a malformed policy document (the double) instead of recording the problem (the review).
    strict: bool = True

    def fail(self, raw: RawResource, field: str, problem: str) -> AssemblyError:
        return AssemblyError(f"{self.template_file}: {raw.at.logical_id} ({raw.at.type}) {field}: {problem}")

    def document(self, raw: RawResource, field: str, node: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
        """A policy document, resolved and parsed when the template holds it as a JSON string.

        Returns the document and what is wrong with it; a document that cannot be read is ``{}``
        with its problem (strict contexts raise instead).
        """
        value = self.resolver.value(node)
        problem = None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                problem = f"is not JSON ({exc.msg})"
        if problem is None and not isinstance(value, dict):
            problem = f"must be a policy document (a JSON object), not {type(value).__name__}"
        if problem is not None:
            if self.strict:
                raise self.fail(raw, field, problem)
            return {}, (f"{field} {problem}",)
        return value, ()

    def texts(self, node: Any) -> tuple[str, ...]:
        """A property holding one value or a list of them, each resolved to text."""
        value = self.resolver.value(node)
        items = value if isinstance(value, list) else [] if value is None else [value]
        return tuple(v if isinstance(v, str) else self.resolver.text(v) for v in items)

    def refs(self, node: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(logical IDs named by Ref, other values as text) of a list property such as ``Roles``."""
        logical: list[str] = []
        names: list[str] = []
        for item in node if isinstance(node, list) else [node]:
            if (ref := ref_logical_id(item)) is not None and ref in self.resolver.resources:
                logical.append(ref)
                continue
            for text in self.texts(item):
                inner = text[2:-1] if text.startswith("${") and text.endswith("}") else None
                if inner is not None and inner in self.resolver.resources:
                    logical.append(inner)
                else:
                    names.append(text)
        return tuple(logical), tuple(names)


Parser = Callable[[RawResource, StackContext], Record]


def prop_text(props: Mapping[str, Any], key: str) -> str | None:
    value = props.get(key)
    return value if isinstance(value, str) else None
