"""Worker process that runs one Lambda handler, like a warm Lambda container.

Protocol: one JSON object per line on stdin (``{"event": ...}``), one per line on stdout
(``{"result": ...}`` or ``{"error": "..."}``). The handler's own logging goes to stderr.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
import uuid
from typing import Any


class Context:
    def __init__(self, function_name: str, timeout: float) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    code_dir, handler_spec, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sys.path.insert(0, code_dir)
    module_name, _, function_name = handler_spec.rpartition(".")
    handler: Any = getattr(importlib.import_module(module_name), function_name)
    out = sys.stdout
    sys.stdout = sys.stderr  # a print() in the handler must not corrupt the protocol
    for line in sys.stdin:
        try:
            event = json.loads(line)["event"]
            result = handler(event, Context(handler_spec, timeout))
            out.write(json.dumps({"result": result}) + "\n")
        except Exception as exc:  # the handler's error, reported like Lambda's
            traceback.print_exc()
            out.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
