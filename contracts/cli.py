"""What every command line of the project shares (docs/cli.md), in the manner of httpie.

- ``Environment``: the streams, whether they are terminals, and the process environment, bundled
  so tests inject their own (``Environment.for_test()``) and run a CLI in-process.
- ``ArgumentParser``: help for every option with its default, ``--version``, usage errors that
  exit ``ExitStatus.USAGE`` through the environment's stderr (never ``sys.exit`` mid-way).
- ``main``: runs a command and maps ``KeyboardInterrupt``/SIGTERM to ``ExitStatus.INTERRUPTED``,
  a closed output pipe (``status | head``) to a quiet end, and every ``CommandError`` to its status.
- ``Progress``: one line redrawn in place on a terminal (clear to end of line), plain lines otherwise;
  anything else written to stderr starts on its own line.

Standard library only: a factory station installs the CLIs without anything else of the project.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TextIO

from contracts.exit_status import ExitStatus
from contracts.version import __version__

CLEAR_TO_END_OF_LINE = "\x1b[K"


class CommandError(Exception):
    """A command ends with ``status`` and one message: the cause and, when known, the fix."""

    def __init__(self, message: str, status: ExitStatus = ExitStatus.USAGE, *, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.fix = fix


class CommandExit(Exception):
    """Raised by the parser instead of ``SystemExit`` (``--help``, ``--version``, a usage error)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Stream:
    """A text stream that survives its reader going away: a broken pipe ends further output quietly."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> None:
        if self.broken or not text:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except BrokenPipeError:
            self.broken = True
            self._silence()
        except ValueError:  # the stream was closed under us
            self.broken = True

    def _silence(self) -> None:
        """Point the file descriptor at /dev/null so the interpreter's final flush cannot fail."""
        try:
            fileno = self._stream.fileno()
        except (OSError, ValueError, io.UnsupportedOperation):
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fileno)
        finally:
            os.close(devnull)

    def isatty(self) -> bool:
        try:
            return self._stream.isatty()
        except (ValueError, OSError):
            return False


def _tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (ValueError, OSError):
        return False


@dataclass
class Environment:
    """Where a command reads and writes; every attribute can be replaced (the tests do)."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def __post_init__(self) -> None:
        if self.stdout_isatty is None:
            self.stdout_isatty = _tty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _tty(self.stderr)
        self._out = _Stream(self.stdout)
        self._err = _Stream(self.stderr)
        #: A progress line is drawn on stderr without its newline yet.
        self.line_open = False

    @classmethod
    def for_test(cls, *, tty: bool = False, environ: Mapping[str, str] | None = None) -> Environment:
        """Captured streams (``io.StringIO``), optionally claiming to be terminals."""
        return cls(
            stdin=io.StringIO(),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
            stdout_isatty=tty,
            stderr_isatty=tty,
            environ=dict(os.environ if environ is None else environ),
        )

    def out(self, text: str) -> None:
        """Write to stdout (results: what a pipe or a script reads)."""
        self._out.write(text)

    def err(self, text: str) -> None:
        """Write to stderr (messages, progress); always starts on a fresh line."""
        if self.line_open:
            self._err.write("\n")
            self.line_open = False
        self._err.write(text)

    def draw(self, line: str) -> None:
        """Redraw the one progress line in place (terminal only)."""
        self._err.write(f"\r{line}{CLEAR_TO_END_OF_LINE}")
        self.line_open = True

    def end_line(self) -> None:
        if self.line_open:
            self._err.write("\n")
            self.line_open = False

    @property
    def output_closed(self) -> bool:
        return self._out.broken


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and shows every option's default after its help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        if isinstance(action.default, list) and not action.default:
            return text
        return f"{text} (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """argparse writing through an ``Environment`` and raising ``CommandExit`` instead of exiting."""

    def __init__(self, *args: Any, env: Environment | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.env = env or Environment()

    def _print_message(self, message: str, file: Any = None) -> None:
        if not message:
            return
        if file is sys.stderr:
            self.env.err(message)
        else:
            self.env.out(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.env.err(message)
        raise CommandExit(status)

    def error(self, message: str) -> NoReturn:
        self.env.err(self.format_usage())
        self.exit(ExitStatus.USAGE, f"{self.prog}: error: {message}\n")

    def add_subcommands(self, **kwargs: Any) -> Any:
        """Subparsers that share this parser's environment and formatter."""
        kwargs.setdefault("dest", "command")
        kwargs.setdefault("required", True)
        kwargs.setdefault("metavar", "COMMAND")
        subparsers = self.add_subparsers(parser_class=ArgumentParser, **kwargs)
        parser_class_add = subparsers.add_parser

        def add_parser(name: str, **options: Any) -> ArgumentParser:
            options.setdefault("formatter_class", HelpFormatter)
            options.setdefault("env", self.env)
            if "help" in options:
                options.setdefault("description", options["help"][:1].upper() + options["help"][1:] + ".")
            sub: ArgumentParser = parser_class_add(name, **options)
            return sub

        subparsers.add_parser = add_parser  # type: ignore[method-assign]
        return subparsers


def new_parser(prog: str, description: str, env: Environment, *, epilog: str | None = None) -> ArgumentParser:
    """The project's parser: ``--version``, defaults in help, and the exit-status contract in the epilog."""
    parser = ArgumentParser(prog=prog, description=description, env=env, epilog=epilog or EXIT_STATUS_EPILOG)
    parser.add_argument("--version", action="version", version=f"{prog} {__version__}", help="print the version")
    return parser


EXIT_STATUS_EPILOG = (
    "exit status: 0 done; 1 findings, failed devices or checks; 2 usage, input or configuration error; "
    "3 target or environment unavailable; 130 interrupted (docs/cli.md)"
)


def main(
    command: Callable[[Sequence[str], Environment], int],
    argv: Sequence[str],
    env: Environment,
    *,
    interrupted: str = "interrupted",
) -> int:
    """Run ``command`` under the exit-status contract; nothing escapes as a traceback for user input."""
    try:
        return int(command(argv, env))
    except CommandExit as exc:
        return int(exc.status)
    except CommandError as exc:
        env.err(f"error: {exc.message}\n" + (f"  fix: {exc.fix}\n" if exc.fix else ""))
        return int(exc.status)
    except KeyboardInterrupt:
        env.err(f"{interrupted}\n")
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitStatus.OK)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def entry(command: Callable[[Sequence[str], Environment], int], *, interrupted: str = "interrupted") -> NoReturn:
    """A console script's body: SIGTERM ends the command like Ctrl-C (finished work kept), then exit."""
    signal.signal(signal.SIGTERM, _terminate)
    status = main(command, sys.argv[1:], Environment(), interrupted=interrupted)
    sys.exit(status)


class Progress:
    """``done/total`` with rate and ETA: one line redrawn on a terminal, a plain line every 5 % otherwise."""

    def __init__(
        self, env: Environment, total: int, *, what: str = "devices", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.env = env
        self.total = total
        self.what = what
        self.clock = clock
        self.started = clock()
        self._next_plain = 0

    def line(self, done: int, failed: int = 0) -> str:
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate else 0.0
        failures = f", {failed} failed" if failed else ""
        return f"{done}/{self.total} {self.what}{failures}, {rate:.1f}/s, ETA {eta:.0f} s"

    def update(self, done: int, failed: int = 0) -> None:
        text = self.line(done, failed)
        if self.env.stderr_isatty:
            self.env.draw(text)
            if done >= self.total:
                self.env.end_line()
            return
        if done >= self.total or done >= self._next_plain:
            self.env.err(text + "\n")
            self._next_plain = done + max(1, self.total // 20)

    def close(self) -> None:
        self.env.end_line()


def read_json_file(path: Path, what: str) -> Any:
    """A JSON file a user points at: UTF-8 (a BOM is fine); every failure is one ``CommandError`` naming it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise CommandError(f"{what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise CommandError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise CommandError(f"{what} {path} is not UTF-8 (byte {exc.start})", fix="save it as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} {path} is not JSON (line {exc.lineno}: {exc.msg})") from None


def check_cdk_out(path: Path) -> None:
    """``path`` is a cloud assembly (``cdk synth``'s output directory), or one clear ``CommandError``."""
    fix = "run `make synth` (or `npx cdk synth`) and pass the directory it wrote (cdk.out)"
    if not path.exists():
        raise CommandError(f"{path} does not exist", fix=fix)
    if not path.is_dir():
        raise CommandError(f"{path} is a file, not a cdk.out directory", fix=fix)
    manifest = path / "manifest.json"
    if not manifest.is_file():
        raise CommandError(f"{path} is not a cdk.out: it has no manifest.json", fix=fix)
    data = read_json_file(manifest, "cloud assembly manifest")
    if not isinstance(data, dict) or not isinstance(data.get("artifacts", {}), dict):
        raise CommandError(f"{manifest} is not a cloud assembly manifest", fix=fix)


def require_extra(module: str, extra: str, command: str) -> None:
    """Raise a usage-free, one-line ``CommandError`` when an optional dependency is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise CommandError(
            f"{command} needs the {extra!r} extra ({module} is not installed)",
            ExitStatus.UNAVAILABLE,
            fix=f"pip install 'iot-fleet-toolkit[{extra}]'",
        )


__all__ = [
    "ArgumentParser",
    "CommandError",
    "CommandExit",
    "Environment",
    "ExitStatus",
    "Progress",
    "check_cdk_out",
    "entry",
    "main",
    "new_parser",
    "read_json_file",
    "require_extra",
]
