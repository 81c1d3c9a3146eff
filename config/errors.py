"""The one exception the config layer raises, carrying every problem found at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigIssue:
    """One bad value: where it is, what it was, and the rule it breaks."""

    path: str
    value: object
    rule: str
    line: int | None = None

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line else file
        value = _show(self.value)
        field = self.path or "(document)"
        return f"{where}: {field}: {value}: {self.rule}"


class ConfigError(Exception):
    """The fleet configuration is invalid; ``str()`` lists every problem, one per line."""

    def __init__(self, file: str, issues: list[ConfigIssue]) -> None:
        self.file = file
        self.issues = issues
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"invalid fleet configuration ({len(self.issues)} problem(s)):"]
        lines += ["  " + issue.render(self.file) for issue in self.issues]
        lines.append("  fix the values above; docs/config-reference.md describes every field.")
        return "\n".join(lines)


class Verbatim(str):
    """A value shown as it is, not quoted (``(empty)``, a YAML scalar as written)."""


_MISSING = object()


def _show(value: object) -> str:
    if value is _MISSING or value is None:
        return "(missing)"
    if isinstance(value, Verbatim):
        return str(value)
    if isinstance(value, str):
        text = value if len(value) <= 80 else value[:77] + "..."
        return repr(text)
    if isinstance(value, dict | list | tuple):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return repr(value)


MISSING = _MISSING
