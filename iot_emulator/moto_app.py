"""moto's own server application, with two per-request lookups cached (``python -m iot_emulator.moto_app``).

``python -m moto.server`` works out the service of every request by trying each moto backend's URL
patterns, and lists the handler class's methods with ``inspect`` on every request; together they
were about a third of moto's CPU per DynamoDB call in bench/bench_double.py. This runs the same
moto application (same backends, responses, ``/moto-api`` and recorder) with the service of
DynamoDB's JSON protocol (``X-Amz-Target: DynamoDB_...``) resolved once and the method list
cached per class; DynamoDB reads are not recorded (the recording is the double's durable copy of
moto's state, and reads change nothing). Requests are not logged (the double discards moto's output).
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

from moto.core import responses, utils
from moto.moto_api._internal.recorder.models import Recorder
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

responses.method_names_from_class = functools.lru_cache(maxsize=None)(utils.method_names_from_class)  # type: ignore[attr-defined]

#: DynamoDB operations that change nothing: the recording (the double's durable copy of moto's
#: state, replayed at start) does not need them.
READS = frozenset(
    f"DynamoDB_20120810.{op}"
    for op in ("GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable", "ListTables", "DescribeTimeToLive")
)
_record = Recorder._record_request


#: Services whose requests are not recorded: the double creates the roles role aliases point at from
#: cdk.out at every start (IAM), and credentials the credentials provider mints (STS) are temporary.
UNRECORDED_SCOPES = ("/iam/aws4_request", "/sts/aws4_request")


def _record_changes(self: Recorder, request: Any, body: bytes | None = None) -> None:
    if request.headers.get("X-Amz-Target") in READS:
        return
    if any(scope in str(request.headers.get("Authorization", "")) for scope in UNRECORDED_SCOPES):
        return
    _record(self, request, body)


Recorder._record_request = _record_changes  # type: ignore[method-assign]


class Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher; DynamoDB requests go straight to the DynamoDB application once it is known."""

    _dynamodb: Any = None

    def get_application(self, environ: dict[str, Any]) -> Any:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith("DynamoDB_") and not str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            if self._dynamodb is None:
                self._dynamodb = super().get_application(environ)
            return self._dynamodb
        return super().get_application(environ)


class QuietHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iot_emulator.moto_app")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    run_simple(args.host, args.port, Dispatcher(create_backend_app), threaded=True, request_handler=QuietHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
