"""The small languages in the config: bounded regexes and thing-name templates."""

from __future__ import annotations

import pytest

from config.patterns import max_width, parse_name_template


@pytest.mark.parametrize(
    ("pattern", "width"),
    [("^[A-Z0-9]{8,16}$", 16), ("^([0-9A-F]{2}:){5}[0-9A-F]{2}$", 17), ("^a+$", None), ("^(ab|c)$", 2)],
)
def test_max_width(pattern: str, width: int | None) -> None:
    assert max_width(pattern) == width


def test_name_template_parts() -> None:
    template = parse_name_template("gw-{Site}-{Serial}")
    assert template.parameters == ("Site", "Serial")
    assert template.literal_prefix == "gw-"
    assert parse_name_template("{Serial}-x").literal_prefix == ""
