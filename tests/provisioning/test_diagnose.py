"""Every rejection maps to a cause and a fix, and whether a retry can help."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from provisioning.errors import ProvisioningError
from provisioning.mqtt_flow import diagnose


@dataclass
class Modeled:
    status_code: int
    error_code: str
    error_message: str


class ServiceException(Exception):
    def __init__(self, modeled: Modeled) -> None:
        super().__init__(modeled.error_message)
        self.modeled_error = modeled
        self.message = "failed"


@pytest.mark.parametrize(
    ("exc", "cause", "transient"),
    [
        (
            ServiceException(Modeled(403, "AccessDenied", "Pre-provisioning hook denied the request.")),
            "hook denied",
            False,
        ),
        (ServiceException(Modeled(429, "ThrottlingException", "Rate exceeded")), "throttled", True),
        (
            ServiceException(Modeled(400, "InvalidCertificateOwnershipToken", "expired")),
            "token is used or expired",
            True,
        ),
        (
            ServiceException(Modeled(400, "InvalidRequestException", "Template t is not enabled.")),
            "template is disabled",
            False,
        ),
        (ServiceException(Modeled(404, "ResourceNotFoundException", "Template t does not exist.")), "not found", False),
        (ServiceException(Modeled(500, "InternalFailure", "boom")), "AWS IoT failed", True),
        (ProvisioningError("could not connect", "check", transient=True), "could not connect", True),
        (Exception("TLS: certificate is not yet valid"), "clock is probably wrong", False),
        (TimeoutError("no answer"), "no answer in time", True),
    ],
)
def test_diagnose(exc: BaseException, cause: str, transient: bool) -> None:
    d = diagnose(exc)
    assert cause in d.cause
    assert d.fix
    assert d.transient is transient
