"""Load ``fleet.yaml`` into a validated ``FleetConfig``, or raise one ConfigError listing every problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from config import checks, csr
from config.errors import MISSING, ConfigError, ConfigIssue
from config.models import FleetConfig

DEFAULT_CONFIG = Path(__file__).with_name("fleet.yaml")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key] + 1}); YAML would silently keep only the last",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_index(node: yaml.Node | None, prefix: tuple[str | int, ...] = ()) -> dict[tuple[str | int, ...], int]:
    """Map each field path to its 1-based line in the file."""
    index: dict[tuple[str | int, ...], int] = {}
    if node is None:
        return index
    index[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            index.update(_line_index(value_node, path))
            index[path] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index.update(_line_index(item, (*prefix, i)))
    return index


def _render_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _lookup_line(index: dict[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    while loc:
        if loc in index:
            return index[loc]
        loc = loc[:-1]
    return index.get(())


def _parse_path(path: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for token in path.replace("[", ".[").split("."):
        if not token:
            continue
        if token.startswith("["):
            parts.append(int(token.strip("[]")))
        else:
            parts.append(token)
    return tuple(parts)


def _issue_from_pydantic(err: ErrorDetails, index: dict[tuple[str | int, ...], int]) -> ConfigIssue:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind = err["type"]
    if kind == "missing":
        rule, value = "is required", MISSING
    elif kind == "extra_forbidden":
        rule, value = "is not a known field (check its spelling; docs/config-reference.md lists them)", err["input"]
    elif kind == "value_error":
        rule, value = str(err["msg"]).removeprefix("Value error, "), err["input"]
    elif kind in ("too_short", "too_long"):
        rule, value = str(err["msg"]).lower(), err["input"]
    else:
        rule, value = f"{err['msg'].lower()}", err["input"]
    return ConfigIssue(_render_path(loc), value, rule, _lookup_line(index, loc))


def load(path: str | Path = DEFAULT_CONFIG) -> FleetConfig:
    """Read, validate and freeze the fleet config at ``path``."""
    file = str(path)
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, [ConfigIssue("", file, f"cannot read the file: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, [ConfigIssue("", "(YAML)", f"is not valid YAML: {problem}", line)]) from None
    index = _line_index(node)
    if not isinstance(data, dict):
        raise ConfigError(file, [ConfigIssue("", type(data).__name__, "the file must hold a YAML mapping", 1)])
    try:
        config = FleetConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(file, [_issue_from_pydantic(e, index) for e in exc.errors()]) from None
    issues = checks.check(config)
    config, csr_issues = csr.attach_claim_csrs(config, source.parent)
    issues += csr_issues
    if issues:
        for i, issue in enumerate(issues):
            if issue.line is None:
                issues[i] = ConfigIssue(
                    issue.path, issue.value, issue.rule, _lookup_line(index, _parse_path(issue.path))
                )
        raise ConfigError(file, issues)
    return config
