"""One contract for the four CLIs: --version, help for every option with its default, subcommand help."""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable, Iterator

import pytest

from contracts.cli import ArgumentParser, Environment, main
from contracts.exit_status import ExitStatus
from contracts.version import __version__
from defender_ops import cli as defender_cli
from iot_emulator import cli as double_cli
from policy_review import cli as review_cli
from provisioning import cli as provisioning_cli

PARSERS: dict[str, Callable[[Environment], ArgumentParser]] = {
    "iot-provision": provisioning_cli.parser,
    "iot-policy-review": review_cli.parser,
    "iot-double": double_cli.parser,
    "iot-defender-ops": defender_cli.parser,
}


def parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from parsers(sub)


@pytest.mark.parametrize("prog", PARSERS)
def test_every_option_has_help_and_shows_its_default(prog: str) -> None:
    root = PARSERS[prog](Environment.for_test())
    for name, parser in parsers(root):
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
            shows_default = action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS)
            if shows_default:
                assert f"(default: {action.default})" in " ".join(text.split()), (
                    f"{name}: {action.dest} hides its default"
                )


@pytest.mark.parametrize("prog", PARSERS)
def test_subcommands_say_what_they_do(prog: str) -> None:
    root = PARSERS[prog](Environment.for_test())
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{prog} {choice.dest} has no help"
            for name, sub in action.choices.items():
                assert sub.description, f"{prog} {name} has no description"


@pytest.mark.parametrize(
    ("prog", "command"),
    [
        ("iot-provision", provisioning_cli.main),
        ("iot-policy-review", review_cli.command),
        ("iot-double", double_cli.command),
        ("iot-defender-ops", defender_cli.command),
    ],
)
def test_version_and_usage_statuses(prog: str, command: Callable[..., int]) -> None:
    env = Environment.for_test()
    assert main(command, ["--version"], env) == ExitStatus.OK
    assert isinstance(env.stdout, io.StringIO)
    assert env.stdout.getvalue() == f"{prog} {__version__}\n"
    env = Environment.for_test()
    assert main(command, ["--no-such-option"], env) == ExitStatus.USAGE
    assert isinstance(env.stderr, io.StringIO)
    assert "unrecognized arguments" in env.stderr.getvalue() or "error:" in env.stderr.getvalue()
