"""The one error type of the double: an AWS-shaped rejection."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request refused with the documented ``{statusCode, errorCode, errorMessage}`` shape."""

    def __init__(self, status_code: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.message = message

    def payload(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "errorCode": self.error_code, "errorMessage": self.message}
