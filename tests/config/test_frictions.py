"""The config file as users get it wrong: every mistake is one `file:line: field: value: rule` message."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

import config as fleet_config
from tests.conftest import example_data, write_config

LINE = re.compile(r"^  (?P<file>[^:]+):(?P<line>\d+): (?P<field>[^:]+): (?P<value>.+?): (?P<rule>.+)$")


def problems(path: Path) -> list[str]:
    with pytest.raises(fleet_config.ConfigError) as info:
        fleet_config.load(path)
    text = str(info.value)
    assert "Traceback" not in text
    lines = text.splitlines()[1:-1]
    for line in lines:
        assert LINE.match(line), f"not in the file:line: field: value: rule form: {line!r}"
        assert line.startswith(f"  {path}:")
    return lines


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "fleet.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# and another\n"], ids=["empty", "blank", "comments"])
def test_an_empty_or_comment_only_file(tmp_path: Path, text: str) -> None:
    (line,) = problems(write(tmp_path, text))
    assert ":1: (document): (empty): the file holds no configuration" in line


def test_a_file_that_is_a_list(tmp_path: Path) -> None:
    (line,) = problems(write(tmp_path, "- a\n- b\n"))
    assert "(document): a list: the file must hold a YAML mapping" in line


def test_latin1_is_named_with_its_line_and_utf8_bom_is_accepted(tmp_path: Path) -> None:
    source = write_config(tmp_path, example_data()).read_text(encoding="utf-8")
    latin = source.replace("description: Everything installed in plant A", "description: Usine \u00e0 Lyon")
    assert latin != source
    (line,) = problems(write(tmp_path, latin.encode("latin-1")))
    expected_line = next(i for i, text in enumerate(latin.splitlines(), 1) if "Usine" in text)
    assert f"fleet.yaml:{expected_line}: (document): (encoding): is not UTF-8 text (byte 0xe0" in line
    assert "save the file as UTF-8" in line
    config = fleet_config.load(write(tmp_path, "\ufeff".encode() + latin.encode("utf-8")))
    assert config.thing_groups[0].description == "Usine \u00e0 Lyon"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["fleets"][0].__setitem__("thing_groups", "plant-a-sensors"),
            "fleets[0].thing_groups: 'plant-a-sensors': must be a list: write [plant-a-sensors], or one '- item' line",
        ),
        (
            lambda d: d["thing_types"][0].__setitem__("searchable_attributes", "serial"),
            "thing_types[0].searchable_attributes: 'serial': must be a list: write [serial]",
        ),
        (
            lambda d: d["fleets"][0].__setitem__("attributes", "model"),
            "fleets[0].attributes: 'model': must be a mapping: one 'key: value' line per entry",
        ),
    ],
    ids=["string-for-list", "string-for-attribute-list", "string-for-mapping"],
)
def test_a_value_of_the_wrong_shape(tmp_path: Path, mutate: Any, expected: str) -> None:
    data = copy.deepcopy(example_data())
    mutate(data)
    (line,) = problems(write_config(tmp_path, data))
    assert expected in line


def _with_environment(tmp_path: Path, environment: str) -> Path:
    text = write_config(tmp_path, example_data()).read_text()
    return write(tmp_path, text + f"environment:\n{environment}")


@pytest.mark.parametrize(
    ("account", "shown", "extra"),
    [
        ("123456789012", "123456789012", ""),
        ("012345670123", "012345670123", " (1402433619)"),  # YAML 1.1 reads it as octal
    ],
    ids=["number", "octal-looking"],
)
def test_an_unquoted_account_says_to_quote_it(tmp_path: Path, account: str, shown: str, extra: str) -> None:
    (line,) = problems(_with_environment(tmp_path, f"  account: {account}\n  region: eu-west-1\n"))
    assert f"environment.account: {shown}: must be text, but YAML reads it unquoted as a number{extra}" in line
    assert f'quote it: "{account}"' in line
    config = fleet_config.load(_with_environment(tmp_path, f'  account: "{account}"\n  region: eu-west-1\n'))
    assert config.environment.account == account


def test_an_unknown_region_is_refused_with_the_closest_one(tmp_path: Path) -> None:
    (line,) = problems(_with_environment(tmp_path, '  account: "123456789012"\n  region: eu-wset-1\n'))
    assert "environment.region: 'eu-wset-1': is not an AWS region; did you mean eu-west-1?" in line
    for region in ("eu-west-1", "us-gov-west-1", "cn-north-1", "ap-southeast-7"):
        config = fleet_config.load(_with_environment(tmp_path, f'  account: "123456789012"\n  region: {region}\n'))
        assert config.environment.region == region


def test_an_over_size_device_policy_is_a_config_message(tmp_path: Path) -> None:
    data = copy.deepcopy(example_data())
    data["fleets"][0]["topics"]["publish"] = [f"telemetry-{i:02d}/sensors/{{thing_name}}" for i in range(30)]
    (line,) = problems(write_config(tmp_path, data))
    assert "fleets[0].topics: '30 publish and 1 subscribe namespaces': make the fleet's device policy" in line
    assert "AWS IoT accepts 2048" in line
    # the line is the fleet's topics: key
    number = int(line.split(":")[1])
    assert write_config(tmp_path, data).read_text().splitlines()[number - 1].strip() == "topics:"
