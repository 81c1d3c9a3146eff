"""The shared CLI plumbing: the environment, progress lines, broken pipes, interrupts, parser errors."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from contracts.cli import (
    CLEAR_TO_END_OF_LINE,
    CommandError,
    Environment,
    Progress,
    check_cdk_out,
    main,
    new_parser,
    read_json_file,
)
from contracts.exit_status import ExitStatus
from contracts.version import __version__


def streams(env: Environment) -> tuple[str, str]:
    assert isinstance(env.stdout, io.StringIO)
    assert isinstance(env.stderr, io.StringIO)
    return env.stdout.getvalue(), env.stderr.getvalue()


def test_progress_on_a_terminal_redraws_one_line_and_clears_its_end() -> None:
    env = Environment.for_test(tty=True)
    progress = Progress(env, 3, clock=iter([0.0, 1.0, 2.0, 3.0]).__next__)
    progress.update(1)
    progress.update(2, failed=1)
    env.err("interrupted\n")  # a message while the line is drawn starts on its own line
    _, err = streams(env)
    assert err == (
        f"\r1/3 devices, 1.0/s, ETA 2 s{CLEAR_TO_END_OF_LINE}"
        f"\r2/3 devices, 1 failed, 1.0/s, ETA 1 s{CLEAR_TO_END_OF_LINE}\ninterrupted\n"
    )


def test_progress_elsewhere_is_plain_lines() -> None:
    env = Environment.for_test(tty=False)
    ticks = iter(float(t) for t in range(100))
    progress = Progress(env, 40, clock=ticks.__next__)
    for done in range(1, 41):
        progress.update(done)
    progress.close()
    _, err = streams(env)
    lines = err.splitlines()
    assert "\r" not in err
    assert CLEAR_TO_END_OF_LINE not in err
    assert len(lines) == 21  # one every 5 % (every second device) and the last
    assert lines[0] == "1/40 devices, 1.0/s, ETA 39 s"
    assert lines[-1].startswith("40/40 devices")


def test_a_closed_pipe_ends_output_quietly() -> None:
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w") as broken:
        env = Environment(stdout=broken, stderr=io.StringIO(), environ={})
        env.out("first line\n")
        env.out("second line\n")
        assert env.output_closed


def test_main_maps_interrupts_errors_and_usage() -> None:
    def interrupted(argv: Sequence[str], env: Environment) -> int:
        env.draw("5/10 devices")
        raise KeyboardInterrupt

    env = Environment.for_test(tty=True)
    assert main(interrupted, [], env, interrupted="interrupted: resume later") == ExitStatus.INTERRUPTED
    assert streams(env)[1].endswith("5/10 devices" + CLEAR_TO_END_OF_LINE + "\ninterrupted: resume later\n")

    def refused(argv: Sequence[str], env: Environment) -> int:
        raise CommandError("no such thing", ExitStatus.UNAVAILABLE, fix="do this")

    env = Environment.for_test()
    assert main(refused, [], env) == ExitStatus.UNAVAILABLE
    assert streams(env)[1] == "error: no such thing\n  fix: do this\n"

    def parses(argv: Sequence[str], env: Environment) -> int:
        parser = new_parser("tool", "A tool.", env)
        parser.add_argument("--count", type=int, default=3, help="how many")
        parser.parse_args(list(argv))
        return ExitStatus.OK

    env = Environment.for_test()
    assert main(parses, ["--count", "x"], env) == ExitStatus.USAGE
    assert "tool: error: argument --count: invalid int value" in streams(env)[1]
    env = Environment.for_test()
    assert main(parses, ["--version"], env) == ExitStatus.OK
    assert streams(env)[0] == f"tool {__version__}\n"
    env = Environment.for_test()
    assert main(parses, ["--help"], env) == ExitStatus.OK
    out, _ = streams(env)
    assert "how many (default: 3)" in out
    assert "exit status: 0 done" in out


def test_json_and_cdk_out_checks_name_the_file(tmp_path: Path) -> None:
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"a": "café"}'.encode("latin-1"))
    with pytest.raises(CommandError, match="is not UTF-8"):
        read_json_file(latin, "outputs file")
    bom = tmp_path / "bom.json"
    bom.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert read_json_file(bom, "outputs file") == {"a": 1}
    with pytest.raises(CommandError, match="does not exist"):
        check_cdk_out(tmp_path / "none")
    with pytest.raises(CommandError, match=r"is not a cdk\.out: it has no manifest\.json"):
        check_cdk_out(tmp_path)
    with pytest.raises(CommandError, match="is a file"):
        check_cdk_out(bom)
    (tmp_path / "manifest.json").write_text('{"artifacts": {}}')
    check_cdk_out(tmp_path)
