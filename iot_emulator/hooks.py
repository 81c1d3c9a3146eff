"""Run a pre-provisioning hook from cdk.out the way AWS IoT calls it: its code, its environment, 5 s."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from iot_emulator.assembly import HookFunction
from iot_emulator.errors import HookFailed
from iot_semantics import limits

__all__ = ["HookFailed", "HookRunner"]


class HookRunner:
    """A warm worker process for one hook function; restarted after a timeout or crash."""

    def __init__(
        self,
        function: HookFunction,
        *,
        aws_environment: Mapping[str, str],
        budget_seconds: float = limits.PRE_PROVISIONING_HOOK_BUDGET_SECONDS,
        extra_delay_seconds: float = 0.0,
    ) -> None:
        self.function = function
        self.budget = budget_seconds
        self.extra_delay = extra_delay_seconds
        self._env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
            **aws_environment,
            **function.environment,
        }
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(  # noqa: S603 - our own worker module, fixed arguments
            [
                sys.executable,
                "-m",
                "iot_emulator.hook_worker",
                str(self.function.code_dir),
                self.function.handler,
                str(self.function.timeout_seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**self._env, "PYTHONPATH": os.pathsep.join(sys.path)},
        )

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                self._proc.kill()
                self._proc.wait()
                self._proc = None

    def invoke(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Call the handler; raise HookFailed past the budget (AWS IoT: 5 s) or on error."""
        with self._lock:
            started = time.monotonic()  # a cold start counts against the budget, as in Lambda
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            if proc.stdin is None or proc.stdout is None:  # pragma: no cover - Popen with PIPEs
                raise HookFailed("the hook worker has no pipes")
            if self.extra_delay:
                time.sleep(self.extra_delay)
            proc.stdin.write(json.dumps({"event": dict(event)}) + "\n")
            proc.stdin.flush()
            remaining = self.budget - (time.monotonic() - started)
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, remaining))
            if not ready:
                proc.kill()
                proc.wait()
                self._proc = None
                raise HookFailed(f"the hook did not answer within {self.budget:g} s")
            line = proc.stdout.readline()
            if not line:
                self._proc = None
                raise HookFailed("the hook process exited")
            message = json.loads(line)
            if "error" in message:
                raise HookFailed(f"the hook raised {message['error']}")
            result = message.get("result")
            if not isinstance(result, dict):
                raise HookFailed("the hook returned no object")
            return result
