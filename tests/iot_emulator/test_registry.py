"""The double's durable registry (SQLite): definitions, certificates and tokens, things and overrides."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iot_emulator.errors import ServiceError
from iot_emulator.registry import Registry

PREFIX = "arn:aws:iot:eu-west-1:123456789012"
DENY = {"Statement": [{"Effect": "Deny", "Action": "iot:*", "Resource": "*"}]}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(tmp_path / "registry.sqlite", arn_prefix=PREFIX)
    reg.define(
        thing_types=["sensor"],
        groups={"plant": None, "line-1": "plant", "cell-a": "line-1"},
        policies={"device": {"Statement": []}, "quarantine": DENY},
    )
    yield reg
    reg.close()


def test_definitions_and_policy_attachments(registry: Registry) -> None:
    assert registry.has_type("sensor")
    assert not registry.has_type("other")
    assert registry.has_group("cell-a")
    assert registry.group_ancestors("cell-a") == ["line-1", "plant"]
    assert registry.policy_document("quarantine") == DENY
    assert registry.policy_document("missing") is None
    target = registry.group_arn("plant")
    registry.attach_policy("quarantine", target)
    registry.attach_policy("device", target)
    registry.attach_policy("device", target)  # attaching twice is a no-op
    assert registry.policies_of(target) == ["device", "quarantine"]
    with pytest.raises(ServiceError) as info:
        registry.attach_policy("missing", target)
    assert (info.value.status_code, info.value.error_code) == (404, "ResourceNotFoundException")


def test_a_parent_cycle_ends(registry: Registry) -> None:
    registry.define(thing_types=[], groups={"a": "b", "b": "a"}, policies={})
    assert registry.group_ancestors("a") == ["b", "a"]


def test_ownership_tokens_are_single_use_and_expire(registry: Registry) -> None:
    registry.add_certificate("c1", "PEM1", token="t1", token_ttl=60, status="PENDING_ACTIVATION")
    registry.add_certificate("c2", "PEM2", token="t2", token_ttl=-1, status="PENDING_ACTIVATION")
    cert = registry.certificate_by_token("t1")
    assert cert is not None
    assert (cert.id, cert.status, cert.token_used) == ("c1", "PENDING_ACTIVATION", False)
    with registry.transaction() as db:
        assert registry.consume_token("t1", db).id == "c1"
    for token, problem in (("t1", "already used"), ("t2", "has expired"), ("nope", "is not valid")):
        with pytest.raises(ServiceError, match=problem), registry.transaction() as db:
            registry.consume_token(token, db)
    used = registry.certificate("c1")
    assert used is not None
    assert used.token_used


def test_status_changes_and_unknown_certificates(registry: Registry) -> None:
    registry.add_certificate("c1", "PEM", token=None, token_ttl=None, status="ACTIVE")
    registry.set_certificate_status("c1", "INACTIVE")
    cert = registry.certificate("c1")
    assert cert is not None
    assert cert.status == "INACTIVE"
    with pytest.raises(ServiceError) as info:
        registry.set_certificate_status("nope", "ACTIVE")
    assert info.value.status_code == 404


def test_expired_unactivated_certificates_go_unless_attached(registry: Registry) -> None:
    now = time.time()
    registry.add_certificate("old", "PEM", token="a", token_ttl=1, status="PENDING_ACTIVATION")
    registry.add_certificate("attached", "PEM", token="b", token_ttl=1, status="PENDING_ACTIVATION")
    registry.add_certificate("active", "PEM", token="c", token_ttl=1, status="ACTIVE")
    registry.add_certificate("fresh", "PEM", token="d", token_ttl=3600, status="PENDING_ACTIVATION")
    registry.attach_policy("device", registry.cert_arn("attached"))
    assert registry.expire_unactivated(now + 10) == ["old"]
    assert registry.certificate("old") is None
    assert all(registry.certificate(c) is not None for c in ("attached", "active", "fresh"))


def upsert(registry: Registry, **fields: object) -> None:
    base: dict[str, object] = {
        "name": "dev-1",
        "thing_type": "sensor",
        "attributes": {"serial": "1"},
        "groups": ("plant",),
        "overrides": {},
    }
    base.update(fields)
    with registry.transaction() as db:
        registry.upsert_thing(db, **base)  # type: ignore[arg-type]


def test_a_new_thing_and_the_override_settings_on_an_existing_one(registry: Registry) -> None:
    upsert(registry)
    thing = registry.thing("dev-1")
    assert thing is not None
    assert (thing.type, dict(thing.attributes), thing.groups, thing.version) == (
        "sensor",
        {"serial": "1"},
        ("plant",),
        1,
    )
    # DO_NOTHING (the default) keeps what the thing has
    upsert(registry, thing_type=None, attributes={"serial": "2"}, groups=("line-1",))
    thing = registry.thing("dev-1")
    assert thing is not None
    assert (thing.type, dict(thing.attributes), thing.groups, thing.version) == (
        "sensor",
        {"serial": "1"},
        ("plant",),
        2,
    )
    # MERGE attributes and groups, REPLACE the type
    upsert(
        registry, thing_type=None, attributes={"mac": "m"}, groups=("line-1",),
        overrides={"AttributePayload": "MERGE", "ThingGroups": "MERGE", "ThingTypeName": "REPLACE"},
    )  # fmt: skip
    thing = registry.thing("dev-1")
    assert thing is not None
    assert (thing.type, dict(thing.attributes), thing.groups) == (
        None,
        {"serial": "1", "mac": "m"},
        ("line-1", "plant"),
    )
    # REPLACE attributes and groups
    upsert(
        registry,
        attributes={"x": "y"},
        groups=("cell-a",),
        overrides={"AttributePayload": "REPLACE", "ThingGroups": "REPLACE"},
    )
    thing = registry.thing("dev-1")
    assert thing is not None
    assert (dict(thing.attributes), thing.groups) == ({"x": "y"}, ("cell-a",))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"attributes": {"other": "1"}, "overrides": {"AttributePayload": "FAIL"}}, "different AttributePayload"),
        ({"thing_type": "other", "overrides": {"ThingTypeName": "FAIL"}}, "different ThingTypeName"),
        ({"groups": ("line-1",), "overrides": {"ThingGroups": "FAIL"}}, "in other groups"),
    ],
)
def test_fail_overrides_refuse_a_change_and_roll_back(
    registry: Registry, fields: dict[str, object], message: str
) -> None:
    upsert(registry)
    with pytest.raises(ServiceError, match=message):
        upsert(registry, **fields)
    thing = registry.thing("dev-1")
    assert thing is not None
    assert thing.version == 1, "the refused transaction changed nothing"


def test_principals_and_durability(tmp_path: Path, registry: Registry) -> None:
    upsert(registry)
    with registry.transaction() as db:
        registry.attach_thing_principal(db, "dev-1", registry.cert_arn("c1"))
        registry.attach_thing_principal(db, "dev-1", registry.cert_arn("c1"))
    assert registry.thing_principals("dev-1") == [f"{PREFIX}:cert/c1"]
    registry.close()
    reopened = Registry(tmp_path / "registry.sqlite", arn_prefix=PREFIX)
    try:
        assert reopened.thing_principals("dev-1") == [f"{PREFIX}:cert/c1"]
        assert reopened.has_group("cell-a")
    finally:
        reopened.close()


def test_concurrent_registrations_from_many_threads(registry: Registry) -> None:
    errors: list[BaseException] = []

    def register(i: int) -> None:
        try:
            upsert(registry, name=f"dev-{i}")
            with registry.transaction() as db:
                registry.attach_thing_principal(db, f"dev-{i}", registry.cert_arn(f"c{i}"))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(registry.thing_principals(f"dev-{i}") == [registry.cert_arn(f"c{i}")] for i in range(32))
