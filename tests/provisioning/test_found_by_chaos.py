"""What `make chaos-full` found: a registration whose answer was lost, then a connection check cut
by a fault, gave a registered device a second certificate (and the hook refused it as already
provisioned). A connect failure that is not a refusal now says nothing; the step is retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning import batch as batch_mod
from provisioning.journal import DeviceState
from provisioning.mqtt_flow import SOCKET_CLOSED, ConnectFailed
from tests.provisioning import test_batch
from tests.provisioning.test_batch import Rejected, Service, run

service = test_batch.service  # the fixture: the network replaced by fakes


def lost_answer(service: Service) -> None:
    """SN0000's first RegisterThing goes through on the service, but its answer never arrives."""
    calls = {"n": 0}
    real = service.register_fault

    def fault(serial: str) -> Exception | None:
        if serial != "SN0000":
            return real(serial)
        calls["n"] += 1
        if calls["n"] == 1:
            with service.lock:
                service.registered.append(serial)  # registered...
            return TimeoutError("no answer in time")  # ...and the answer lost
        return Rejected(400, "InvalidCertificateOwnershipToken")  # the token was used by the first

    service.register_fault = fault


@pytest.mark.parametrize("cut", [("AWS_ERROR_MQTT5_CLIENT_STOPPED", False), (SOCKET_CLOSED, True)])
def test_a_cut_connection_check_keeps_the_first_certificate(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut: tuple[str, bool]
) -> None:
    lost_answer(service)
    name, refused = cut
    checks = {"n": 0}

    def verify(target: object, thing: str, creds: object, topic: str | None) -> None:
        if topic is None:  # the "did the registration go through?" check
            checks["n"] += 1
            if checks["n"] == 1:  # cut by a broker restart or a dropped connection
                raise ConnectFailed("cut", "retry", crt_error=name, refused=refused)

    monkeypatch.setattr(batch_mod, "verify_device", verify)
    issued: list[str] = []
    real_issue = service.ca.issue

    def issue(csr: str) -> object:
        issued.append(csr)
        return real_issue(csr)

    monkeypatch.setattr(service.ca, "issue", issue)
    summary, journal = run(service, tmp_path, 1)
    assert summary.verified == 1, summary.failed
    device = journal.get("SN0000")
    assert device is not None
    assert device.state is DeviceState.VERIFIED
    assert len(issued) == 1, "a second certificate was requested for a device already registered"
    assert checks["n"] == 2
    journal.close()


def test_a_certificate_refused_in_the_connack_gets_a_new_one(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side of the rule: a definite refusal means the registration never happened."""
    calls = {"n": 0}

    def fault(serial: str) -> Exception | None:
        calls["n"] += 1
        return Rejected(400, "InvalidCertificateOwnershipToken") if calls["n"] == 1 else None

    service.register_fault = fault

    def verify(target: object, thing: str, creds: object, topic: str | None) -> None:
        if topic is None:
            raise ConnectFailed("refused", "x", crt_error="AWS_ERROR_MQTT5_CONNACK_CONNECTION_REFUSED", refused=True)

    monkeypatch.setattr(batch_mod, "verify_device", verify)
    summary, journal = run(service, tmp_path, 1)
    assert summary.verified == 1
    events = [(to, detail) for _, to, detail in journal.events("SN0000")]
    assert ("key_made", "token used or expired; new certificate") in events
    journal.close()
