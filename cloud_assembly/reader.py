"""``load()``: a cloud assembly (or one template) into stacks of typed records."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from cloud_assembly import manifest, roles
from cloud_assembly.errors import AssemblyError
from cloud_assembly.model import Assembly, IotPolicy, Location, ProvisioningTemplate, Record, Stack
from cloud_assembly.parsers import RawResource, StackContext, parse
from cloud_assembly.resolve import READABLE, Mode

CDK_PATH_METADATA = "aws:cdk:path"


def _records(files: manifest.StackFiles, template: dict[str, Any], ctx: StackContext) -> list[Record]:
    paths = manifest.logical_paths(files.metadata)  # when the template carries no aws:cdk:path
    out: list[Record] = []
    for logical, resource in template.get("Resources", {}).items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise AssemblyError(f"{files.template_file}: resource {logical} has no Type")
        metadata = resource.get("Metadata") or {}
        path = str(metadata.get(CDK_PATH_METADATA) or paths.get(logical, logical)).lstrip("/")
        properties = resource.get("Properties") or {}
        if not isinstance(properties, dict):
            raise AssemblyError(f"{files.template_file}: resource {logical}: Properties must be an object")
        raw = RawResource(Location(files.name, logical, path, resource["Type"]), properties, metadata)
        if (record := parse(raw, ctx)) is not None:
            out.append(record)
    return out


def _stack(files: manifest.StackFiles, mode: Mode) -> Stack:
    template = manifest.read_template(files.template_file)
    resolver = mode.resolver(files.name, template.get("Resources", {}))
    assets = manifest.assets_of(files.asset_manifests)
    records = _records(files, template, StackContext(files.template_file, resolver, assets))
    outputs = {
        key: resolver.value(output.get("Value"))
        for key, output in (template.get("Outputs") or {}).items()
        if isinstance(output, dict)
    }
    return Stack(
        files.name,
        files.template_file,
        template,
        tuple(records),
        outputs,
        manifest.logical_paths(files.metadata),
        assets,
    )


def load(target: Path, mode: Mode = READABLE) -> Assembly:
    """Read ``target`` (a ``cdk.out`` directory or one template file), resolving values in ``mode``.

    IoT policies get their role (``cloud_assembly.roles``) from the templates of the whole assembly.
    Raises AssemblyError naming the file when ``target`` is not a readable cloud assembly.
    """
    stacks = [_stack(files, mode) for files in manifest.stacks_of(target)]
    templates = [t for s in stacks for t in s.of(ProvisioningTemplate)]
    names = roles.device_policy_names(templates)
    stacks = [
        dataclasses.replace(
            s,
            records=tuple(
                dataclasses.replace(r, role=roles.role_of(r, names)) if isinstance(r, IotPolicy) else r
                for r in s.records
            ),
        )
        for s in stacks
    ]
    return Assembly(target, tuple(stacks))
