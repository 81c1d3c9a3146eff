"""moto in server mode: the AWS APIs moto implements (the allowlist table), for boto3 via endpoint_url."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from types import TracebackType

from iot_emulator.errors import MotoError

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "double", "AWS_SECRET_ACCESS_KEY": "double"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    """Terminate a child process, killing it if it has not exited within ``grace`` seconds."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class MotoServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> MotoServer:
        self._proc = subprocess.Popen(  # noqa: S603 - fixed command
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310 - loopback
                    return self
            except OSError:
                if self._proc.poll() is not None:
                    raise MotoError(
                        "moto server exited at start; run it alone to see why: python -m moto.server"
                    ) from None
                time.sleep(0.1)
        self.stop()
        raise MotoError(f"moto server did not answer on {self.url} within {timeout:g} s")

    def stop(self) -> None:
        stop_process(self._proc)
        self._proc = None

    def environment(self, region: str) -> dict[str, str]:
        """What a boto3 process needs to talk to this server instead of AWS."""
        return {**CREDENTIALS, "AWS_DEFAULT_REGION": region, "AWS_REGION": region, "AWS_ENDPOINT_URL": self.url}

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
