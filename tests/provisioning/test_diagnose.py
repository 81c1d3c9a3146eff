"""Every rejection maps to a cause and a fix, and whether a retry can help."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from provisioning.errors import ProvisioningError
from provisioning.mqtt_flow import diagnose, probe_fault


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


class Crt(Exception):
    """The shape of awscrt's AwsCrtError: an error name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class Wrapped(Exception):
    """The shape of awsiot's V2ServiceException without a modeled error."""

    def __init__(self, message: str, inner: Exception) -> None:
        super().__init__(message)
        self.message = message
        self.inner_error = inner
        self.modeled_error = None


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
            "rejected (400 InvalidRequestException: Template t is not enabled.)",
            False,
        ),
        (
            ServiceException(Modeled(404, "ResourceNotFoundException", "Template t does not exist.")),
            "the target lacks what the template needs",
            False,
        ),
        (ServiceException(Modeled(500, "InternalFailure", "boom")), "AWS IoT failed", True),
        (ProvisioningError("could not connect", "check", transient=True), "could not connect", True),
        (TimeoutError(), "no answer in time", True),
        (Crt("AWS_ERROR_PKCS11_CKR_DEVICE_REMOVED"), "PKCS#11 token failed", False),
        (
            Wrapped("register_thing failure", Crt("AWS_ERROR_MQTT5_OPERATION_FAILED_DUE_TO_OFFLINE_QUEUE_POLICY")),
            "register_thing failure (AWS_ERROR_MQTT5",
            True,
        ),
        (ValueError(), "ValueError: ValueError()", True),
    ],
)
def test_diagnose(exc: BaseException, cause: str, transient: bool) -> None:
    d = diagnose(exc)
    assert cause in d.cause
    assert d.fix
    assert d.transient is transient


def test_station_wide_rejections_are_recognised_by_code() -> None:
    assert diagnose(ServiceException(Modeled(404, "ResourceNotFoundException", "Thing type x does not exist."))).station
    assert not diagnose(ServiceException(Modeled(403, "AccessDenied", "denied"))).station
    fault = probe_fault(
        Wrapped("register_thing failure", Crt("AWS_ERROR_MQTT_REQUEST_RESPONSE_SUBSCRIBE_FAILURE")), "t"
    )
    assert fault is not None
    assert "may not use template t" in fault.cause
    assert probe_fault(ServiceException(Modeled(400, "InvalidCertificateOwnershipToken", "not valid")), "t") is None


def test_doctor_turns_library_warnings_into_its_own_line() -> None:
    import warnings

    from cryptography.utils import CryptographyDeprecationWarning

    from provisioning.doctor import _check

    def warns() -> str:
        warnings.warn(CryptographyDeprecationWarning("Parsed a serial number which wasn't positive"), stacklevel=1)
        return "certificate read"

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes to stderr
        check = _check("claim certificate", warns)
    assert check.ok
    assert check.detail == "certificate read (note: Parsed a serial number which wasn't positive)"
