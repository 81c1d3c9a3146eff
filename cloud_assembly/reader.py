"""``load()``: a cloud assembly (or one template) into stacks of typed records."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from cloud_assembly import conditions, manifest, roles
from cloud_assembly.errors import AssemblyError
from cloud_assembly.model import Assembly, IotPolicy, Location, ProvisioningTemplate, Record, Stack, Variant
from cloud_assembly.parsers import RawResource, StackContext, parse
from cloud_assembly.resolve import READABLE, Concrete, Mode

CDK_PATH_METADATA = "aws:cdk:path"


def _raw_resources(files: manifest.StackFiles, template: dict[str, Any]) -> list[tuple[RawResource, Any]]:
    """Every resource as a RawResource with its ``Condition`` attribute; malformed ones raise."""
    paths = manifest.logical_paths(files.metadata)  # when the template carries no aws:cdk:path
    out = []
    for logical, resource in template.get("Resources", {}).items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise AssemblyError(f"{files.template_file}: resource {logical} has no Type")
        metadata = resource.get("Metadata") or {}
        if not isinstance(metadata, dict):
            metadata = {}
        path = str(metadata.get(CDK_PATH_METADATA) or paths.get(logical, logical)).lstrip("/")
        properties = resource.get("Properties") or {}
        if not isinstance(properties, dict):
            raise AssemblyError(f"{files.template_file}: resource {logical}: Properties must be an object")
        raw = RawResource(Location(files.name, str(logical), path, resource["Type"]), properties, metadata)
        out.append((raw, resource.get("Condition")))
    return out


def _variant(
    files: manifest.StackFiles, template: dict[str, Any], mode: Mode, assignment: dict[str, bool], assets: Any
) -> tuple[Variant, dict[str, Any]]:
    resources = template.get("Resources", {})
    resolver = mode.resolver(
        files.name,
        resources,
        parameters=template.get("Parameters"),
        mappings=template.get("Mappings"),
        conditions=assignment,
    )
    ctx = StackContext(files.template_file, resolver, assets, strict=mode.strict)
    records: list[Record] = []
    for raw, condition in _raw_resources(files, template):
        if isinstance(condition, str) and not assignment.get(condition, True):
            continue  # the resource does not exist in this variant
        if (record := parse(raw, ctx)) is not None:
            records.append(record)
    outputs = {
        key: resolver.value(output.get("Value"))
        for key, output in (template.get("Outputs") or {}).items()
        if isinstance(output, dict) and assignment.get(str(output.get("Condition")), True)
    }
    return Variant(conditions.label(assignment), assignment, tuple(records)), outputs


def _stack(files: manifest.StackFiles, mode: Mode) -> Stack:
    template = manifest.read_template(files.template_file)
    assets = manifest.assets_of(files.asset_manifests)
    if isinstance(mode, Concrete):
        assignments, truncated = [conditions.default_assignment(template)], False
    else:
        assignments, truncated = conditions.assignments(template)
    variants = []
    outputs: dict[str, Any] = {}
    for i, assignment in enumerate(assignments):
        variant, variant_outputs = _variant(files, template, mode, assignment, assets)
        variants.append(variant)
        if i == 0:
            outputs = variant_outputs
    return Stack(
        files.name,
        files.template_file,
        template,
        variants[0].records,
        outputs,
        manifest.logical_paths(files.metadata),
        assets,
        tuple(variants),
        truncated,
    )


def _with_roles(records: tuple[Record, ...], names: set[str], done: dict[int, Record]) -> tuple[Record, ...]:
    """The records, each IoT policy with its role (``done``: records already given one, by identity:
    a stack's records are those of its first variant)."""
    out = []
    for r in records:
        if isinstance(r, IotPolicy):
            found = done.get(id(r))
            if found is None:
                found = done[id(r)] = dataclasses.replace(r, role=roles.role_of(r, names))
            r = found
        out.append(r)
    return tuple(out)


def load(target: Path, mode: Mode = READABLE) -> Assembly:
    """Read ``target`` (a ``cdk.out`` directory or one template file), resolving values in ``mode``.

    IoT policies get their role (``cloud_assembly.roles``) from the templates of the whole assembly.
    Raises AssemblyError naming the file when ``target`` is not a readable cloud assembly.
    """
    stacks = [_stack(files, mode) for files in manifest.stacks_of(target)]
    templates = [t for s in stacks for v in s.variants for t in v.of(ProvisioningTemplate)]
    names = roles.device_policy_names(templates)
    done: dict[int, Record] = {}  # holds every record it names: no id is reused while it lives
    stacks = [
        dataclasses.replace(
            s,
            records=_with_roles(s.records, names, done),
            variants=tuple(dataclasses.replace(v, records=_with_roles(v.records, names, done)) for v in s.variants),
        )
        for s in stacks
    ]
    return Assembly(target, tuple(stacks))
