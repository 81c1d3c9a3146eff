"""The double's exceptions: one root, ``DoubleError``.

``ServiceError`` is the AWS-shaped rejection a device or a control-plane client receives; the
others stop the double itself (a cloud assembly it cannot serve, a backing process that would not
start) or one connection (a malformed MQTT packet), and say what to do.
"""

from __future__ import annotations

from typing import Any

from cloud_assembly import AssemblyError


class DoubleError(Exception):
    """Root of every error the local AWS IoT double raises."""


class ServiceError(DoubleError):
    """A request refused with the documented ``{statusCode, errorCode, errorMessage}`` shape."""

    def __init__(self, status_code: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.message = message

    def payload(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "errorCode": self.error_code, "errorMessage": self.message}


class UnservableAssembly(DoubleError, AssemblyError):
    """The cloud assembly reads, but holds something the double cannot serve (e.g. remote Lambda code)."""


class BackendError(DoubleError):
    """A process behind the double (mosquitto, moto server) is missing or would not start."""


class BrokerError(BackendError):
    """mosquitto is missing or would not start; the message says how to fix it."""


class MotoError(BackendError):
    """moto server would not start."""


class HookFailed(DoubleError):
    """The hook errored, timed out or answered nonsense: AWS IoT denies provisioning."""


class ProtocolError(DoubleError):
    """A malformed MQTT packet: the edge closes the connection, as a broker does."""
