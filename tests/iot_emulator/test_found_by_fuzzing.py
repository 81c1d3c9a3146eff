"""Inputs `make fuzz` found crashing the double's parsers; each now gets AWS's 400 answer."""

from __future__ import annotations

import pytest

from iot_emulator.ca import check_csr
from iot_emulator.errors import ServiceError
from tests.config.test_found_by_fuzzing import damaged_csr


@pytest.mark.parametrize("offset", [28, 48])
def test_create_certificate_from_csr_with_a_damaged_key_is_a_400(offset: int) -> None:
    with pytest.raises(ServiceError) as refused:
        check_csr(damaged_csr(offset))
    assert refused.value.status_code == 400
    assert refused.value.error_code == "InvalidRequest"


def test_a_csr_with_a_damaged_version_is_a_400() -> None:
    """Byte 7 of this CSR's DER is its version (0): flipped to 1, cryptography raises InvalidVersion,
    which is no ValueError."""
    from tests.config.test_found_by_fuzzing import damaged_csr

    pem = damaged_csr(7)
    with pytest.raises(ServiceError) as refused:
        check_csr(pem)
    assert refused.value.status_code == 400
