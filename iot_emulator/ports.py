"""Loopback ports for the double's child servers (mosquitto, moto), taken without a race.

A child server cannot be handed a bound socket, so the double picks a free port and the child binds
it a moment later. In between, another process may take the port: the child then fails to bind
(and exits), or, worse, a readiness probe that merely connects reaches the *other* process's
listener. So a child is ready only when the listening socket on its port is one of the child's own
file descriptors (Linux ``/proc``), and a child that could not bind a port the double chose is
started again on another one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

#: How often a child is started again on a fresh port when the one chosen for it was taken.
ATTEMPTS = 5
_LISTEN = "0A"


def free_port() -> int:
    """A loopback port no socket holds right now (the caller's child binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _listening_inodes(port: int) -> set[str] | None:
    """Inodes of the TCP sockets listening on ``port`` (None when /proc cannot tell)."""
    found: set[str] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found if readable else None


def listens(pid: int, port: int) -> bool | None:
    """Process ``pid`` holds a socket listening on ``port``; None when /proc cannot tell."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None if not Path("/proc/self/fd").exists() else False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def held_by_another(port: int) -> bool:
    """Some socket already listens on ``port`` (what a child that exits at start ran into)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def start_child(run: Callable[[int], bool], port: int, *, chosen: bool) -> int | None:
    """``run(port)`` starts a child server on ``port`` and says whether it listens there (False:
    another process holds the port). A port the caller ``chosen`` with ``free_port`` is chosen
    again, up to ``ATTEMPTS`` times; a port it was given is tried once. The port the child
    listens on, or None when every one tried was taken."""
    for attempt in range(ATTEMPTS if chosen else 1):
        if attempt:
            port = free_port()
        if run(port):
            return port
    return None
