"""Reading the files of a cloud assembly: ``manifest.json``, templates, metadata and asset manifests.

A cloud assembly (``cdk synth``'s output directory) lists its artifacts in ``manifest.json``. Each
``aws:cloudformation:stack`` artifact names its template file, holds metadata keyed by construct
path (newer CDK versions move it to the file named by ``additionalMetadataFile``), and depends on a
``cdk:asset-manifest`` artifact listing its file assets. A single template file reads as a
one-stack assembly without metadata or assets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud_assembly.errors import AssemblyError
from cloud_assembly.model import Asset

MANIFEST = "manifest.json"
STACK_ARTIFACT = "aws:cloudformation:stack"
ASSET_MANIFEST_ARTIFACT = "cdk:asset-manifest"
LOGICAL_ID_METADATA = "aws:cdk:logicalId"
SYNTH_HINT = "run a synth first (make synth, or npx cdk synth) and name its output directory (cdk.out)"


@dataclass(frozen=True)
class StackFiles:
    """One stack's files as the manifest names them."""

    name: str
    template_file: Path
    metadata: Mapping[str, list[dict[str, Any]]]
    asset_manifests: tuple[Path, ...]


def read_json(path: Path, what: str) -> Any:
    """``path`` parsed as JSON, or an AssemblyError that names the file and says what it should be."""
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise AssemblyError(f"{path}: no such file; {SYNTH_HINT}") from None
    except IsADirectoryError:
        raise AssemblyError(f"{path}: is a directory, not {what}") from None
    except OSError as exc:
        raise AssemblyError(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise AssemblyError(f"{path}: is not UTF-8 text, so not {what}") from None
    except json.JSONDecodeError as exc:
        raise AssemblyError(f"{path}:{exc.lineno}: is not JSON ({exc.msg}), so not {what}") from None


def read_template(path: Path) -> dict[str, Any]:
    template = read_json(path, "a CloudFormation template")
    if not isinstance(template, dict) or not isinstance(template.get("Resources", {}), dict):
        raise AssemblyError(f"{path}: is not a CloudFormation template (a JSON object with a Resources object)")
    return template


def stacks_of(target: Path) -> list[StackFiles]:
    """The stacks of a cloud assembly directory, sorted by name, or the one stack of a template file."""
    if target.is_file():
        return [StackFiles(target.stem.removesuffix(".template"), target, {}, ())]
    if not target.exists():
        raise AssemblyError(f"{target}: no such file or directory; {SYNTH_HINT}")
    manifest = read_json(target / MANIFEST, "a cloud assembly manifest")
    artifacts = manifest.get("artifacts") if isinstance(manifest, dict) else None
    if not isinstance(artifacts, dict):
        raise AssemblyError(f"{target / MANIFEST}: has no artifacts object; it is not a cloud assembly manifest")
    return [_stack(target, name, artifacts) for name in sorted(artifacts) if _is_stack(artifacts[name])]


def _is_stack(artifact: Any) -> bool:
    return isinstance(artifact, dict) and artifact.get("type") == STACK_ARTIFACT


def _stack(directory: Path, name: str, artifacts: Mapping[str, Any]) -> StackFiles:
    artifact = artifacts[name]
    template = (artifact.get("properties") or {}).get("templateFile")
    if not isinstance(template, str):
        raise AssemblyError(f"{directory / MANIFEST}: stack {name} names no templateFile")
    metadata: dict[str, list[dict[str, Any]]] = dict(artifact.get("metadata") or {})
    if extra := artifact.get("additionalMetadataFile"):  # newer assemblies keep it beside the manifest
        more = read_json(directory / str(extra), "a stack metadata file")
        if isinstance(more, dict):
            metadata.update(more)
    manifests = [
        directory / str(dep_artifact["properties"]["file"])
        for dep in artifact.get("dependencies") or ()
        if isinstance(dep_artifact := artifacts.get(dep), dict)
        and dep_artifact.get("type") == ASSET_MANIFEST_ARTIFACT
        and "file" in (dep_artifact.get("properties") or {})
    ]
    if not manifests and (directory / f"{name}.assets.json").exists():
        manifests.append(directory / f"{name}.assets.json")
    return StackFiles(name, directory / template, metadata, tuple(manifests))


def logical_paths(metadata: Mapping[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Logical ID -> construct path, from ``aws:cdk:logicalId`` metadata entries."""
    return {
        str(entry["data"]): path
        for path, entries in metadata.items()
        for entry in entries
        if isinstance(entry, dict) and entry.get("type") == LOGICAL_ID_METADATA
    }


def assets_of(manifests: tuple[Path, ...]) -> dict[str, Asset]:
    """File assets by hash (the ``S3Key`` of a Lambda's code is ``<hash>.zip``)."""
    out: dict[str, Asset] = {}
    for manifest in manifests:
        files = read_json(manifest, "an asset manifest").get("files", {})
        for key, entry in files.items():
            source = entry.get("source") or {}
            if isinstance(source.get("path"), str):
                out[key] = Asset(key, source["path"], str(source.get("packaging", "file")))
    return out
