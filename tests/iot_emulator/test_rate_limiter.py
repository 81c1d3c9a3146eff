"""The provisioning API's rate limiter: a token bucket per operation, on an injected clock."""

from __future__ import annotations

from iot_emulator.provisioning import RateLimiter


def test_rate_limiter_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter({"RegisterThing": 10.0}, clock=lambda: now[0])
    assert sum(limiter.allow("RegisterThing") for _ in range(15)) == 10  # one second of burst
    now[0] += 0.5
    assert sum(limiter.allow("RegisterThing") for _ in range(15)) == 5
    assert all(limiter.allow("CreateKeysAndCertificate") for _ in range(100))  # no rate: unlimited


def test_a_rate_of_none_or_zero_means_unlimited() -> None:
    limiter = RateLimiter({"RegisterThing": None, "CreateCertificateFromCsr": 0.0}, clock=lambda: 0.0)
    assert all(limiter.allow("RegisterThing") for _ in range(1000))
    assert all(limiter.allow("CreateCertificateFromCsr") for _ in range(1000))
