"""moto in server mode: the AWS APIs moto implements (the allowlist table), for boto3 via endpoint_url.

moto keeps its state in memory. With a ``recording`` file, every request it serves is appended to
that file as it arrives (moto's own recorder), and a restarted server replays it, so the allowlist
and everything else the hook or the factory CLI wrote survives a restart or a crash of the double.
``compact`` then rewrites a DynamoDB-only recording as one write per item, so it stays small.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from iot_emulator.errors import MotoError
from iot_emulator.ports import free_port, held_by_another, listens, start_child

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "double", "AWS_SECRET_ACCESS_KEY": "double"}


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
    def __init__(self, port: int | None = None, *, recording: Path | None = None) -> None:
        self.port = port or free_port()
        self._chosen = not port
        self.url = f"http://127.0.0.1:{self.port}"
        self.recording = recording
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> MotoServer:
        if start_child(lambda p: self._run(timeout, p), self.port, chosen=self._chosen) is None:
            raise MotoError(f"moto server could not listen on {self.url}: another process holds the port")
        return self

    def _run(self, timeout: float, port: int) -> bool:
        """Start the server on ``port`` (it becomes ``self.port``); False when another process holds it."""
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        if self.recording is not None:
            env.update(MOTO_ENABLE_RECORDING="True", MOTO_RECORDER_FILEPATH=str(self.recording))
        env["MOTO_PORT"] = str(self.port)
        self._proc = proc = subprocess.Popen(  # noqa: S603 - fixed command
            [sys.executable, "-m", "iot_emulator.moto_app", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._proc = None
                if held_by_another(self.port):
                    return False
                raise MotoError("moto server exited at start; run it alone to see why: python -m iot_emulator.moto_app")
            if listens(proc.pid, self.port) is not False:  # its own listener (None: /proc cannot tell)
                try:
                    with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310 - loopback
                        self._restore()
                        return True
                except OSError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise MotoError(f"moto server did not answer on {self.url} within {timeout:g} s")

    def stop(self) -> None:
        stop_process(self._proc)
        self._proc = None

    def _post(self, path: str) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/{path}", data=b"", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=600):  # noqa: S310 - loopback, our own server
            pass

    def _api(self, path: str) -> None:
        self._post(f"recorder/{path}")

    def _restore(self) -> None:
        """Replay what the last run recorded (moto does not record the replay itself)."""
        if self.recording is None or not self.recording.exists() or not self.recording.stat().st_size:
            return
        self._api("stop-recording")
        try:
            self._api("replay-recording")
        finally:
            self._api("start-recording")

    def compact(self, dynamodb: Any) -> bool:
        """Rewrite a recording of DynamoDB requests only as the tables and items it leads to; True if done.

        ``dynamodb`` is a boto3 DynamoDB client of this server. A recording with requests of other
        services is kept as it is (replaying it stays correct, only slower)."""
        if self.recording is None or not self.recording.exists():
            return False
        with self.recording.open() as fh:
            for line in fh:
                entry = json.loads(line)
                if "/moto-api/" in str(entry.get("url", "")):
                    continue  # the readiness probe
                if not str(entry.get("headers", {}).get("X-Amz-Target", "")).startswith("DynamoDB_"):
                    return False
        tables = {}
        for name in dynamodb.list_tables().get("TableNames", []):
            description = dynamodb.describe_table(TableName=name)["Table"]
            items = [i for page in dynamodb.get_paginator("scan").paginate(TableName=name) for i in page["Items"]]
            tables[name] = (description, items)
        self._api("stop-recording")
        self._post("reset")
        self._api("reset-recording")
        self._api("start-recording")
        for name, (description, items) in tables.items():
            dynamodb.create_table(
                TableName=name,
                KeySchema=description["KeySchema"],
                AttributeDefinitions=description["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                dynamodb.batch_write_item(RequestItems={name: batch})
        return True

    def environment(self, region: str) -> dict[str, str]:
        """What a boto3 process needs to talk to this server instead of AWS."""
        return {**CREDENTIALS, "AWS_DEFAULT_REGION": region, "AWS_REGION": region, "AWS_ENDPOINT_URL": self.url}

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
