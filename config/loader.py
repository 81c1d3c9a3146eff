"""Load ``fleet.yaml`` into a validated ``FleetConfig``, or raise one ConfigError listing every problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from config import checks, csr
from config.errors import MISSING, ConfigError, ConfigIssue, Verbatim
from config.models import FleetConfig

DEFAULT_CONFIG = Path(__file__).with_name("fleet.yaml")
FieldPath = tuple[str | int, ...]
#: Pydantic error types for a value of the wrong shape, and the rule a user can act on.
_SHAPE_RULES = {
    "tuple_type": "must be a list: write [{value}], or one '- item' line per value",
    "list_type": "must be a list: write [{value}], or one '- item' line per value",
    "dict_type": "must be a mapping: one 'key: value' line per entry, indented below the field",
}
#: What YAML made of an unquoted scalar that was meant as text.
_YAML_KINDS = {bool: "true/false", int: "number", float: "number"}


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


def _line_index(node: yaml.Node | None, prefix: FieldPath = ()) -> dict[FieldPath, int]:
    """Map each field path to its 1-based line in the file."""
    index: dict[FieldPath, int] = {}
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


def _scalar_text(node: yaml.Node | None, loc: FieldPath) -> str | None:
    """The text of the scalar at ``loc`` as the file writes it (before YAML typed it)."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _render_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _lookup_line(index: dict[FieldPath, int], loc: FieldPath) -> int | None:
    while loc:
        if loc in index:
            return index[loc]
        loc = loc[:-1]
    return index.get(())


def _parse_path(path: str) -> FieldPath:
    parts: list[str | int] = []
    for token in path.replace("[", ".[").split("."):
        if not token:
            continue
        if token.startswith("["):
            parts.append(int(token.strip("[]")))
        else:
            parts.append(token)
    return tuple(parts)


def _rule_and_value(err: ErrorDetails, node: yaml.Node | None, loc: FieldPath) -> tuple[str, object]:
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return "is required", MISSING
    if kind == "extra_forbidden":
        return "is not a known field (check its spelling; docs/config-reference.md lists them)", value
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, "), value
    if kind in _SHAPE_RULES:
        return _SHAPE_RULES[kind].format(value=value if isinstance(value, str | int | float) else "..."), value
    text = _scalar_text(node, loc)
    if kind == "string_type" and type(value) in _YAML_KINDS and text is not None:
        converted = "" if text == str(value) else f" ({value!r})"
        return (
            f'must be text, but YAML reads it unquoted as a {_YAML_KINDS[type(value)]}{converted}; quote it: "{text}"',
            Verbatim(text),
        )
    return str(err["msg"]).lower(), value


def _issue_from_pydantic(err: ErrorDetails, index: dict[FieldPath, int], node: yaml.Node | None) -> ConfigIssue:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    rule, value = _rule_and_value(err, node, loc)
    return ConfigIssue(_render_path(loc), value, rule, _lookup_line(index, loc))


def _read(source: Path, file: str) -> str:
    """The file's text: UTF-8, a byte-order mark accepted (as spreadsheets and Windows editors write it)."""
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ConfigError(file, [ConfigIssue("", file, f"cannot read the file: {exc.strerror}")]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        rule = (
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line} is not UTF-8, as a Latin-1 or "
            "Windows-1252 editor writes é or ü); save the file as UTF-8"
        )
        raise ConfigError(file, [ConfigIssue("", Verbatim("(encoding)"), rule, line)]) from None


def _parse(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, [ConfigIssue("", "(YAML)", f"is not valid YAML: {problem}", line)]) from None
    if data is None:
        rule = (
            "the file holds no configuration (it is empty or only comments); write the fleet as a YAML "
            "mapping with name_prefix, stage, thing_types and fleets (config/fleet.yaml is an example)"
        )
        raise ConfigError(file, [ConfigIssue("", Verbatim("(empty)"), rule, 1)])
    if not isinstance(data, dict):
        shape = "a list" if isinstance(data, list) else f"a single value ({data!r})"
        raise ConfigError(
            file, [ConfigIssue("", Verbatim(shape), "the file must hold a YAML mapping (field: value lines)", 1)]
        )
    return node, data


def load(path: str | Path = DEFAULT_CONFIG) -> FleetConfig:
    """Read, validate and freeze the fleet config at ``path``."""
    file = str(path)
    source = Path(path)
    node, data = _parse(_read(source, file), file)
    index = _line_index(node)
    try:
        config = FleetConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(file, [_issue_from_pydantic(e, index, node) for e in exc.errors()]) from None
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
