"""The Device Shadow service: documents, versions and errors (unit), then over MQTT with AWS's SDK clients."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from iot_emulator.double import Double
from iot_emulator.shadow import ShadowOptions, ShadowService
from iot_semantics.topics import parse_shadow
from tests.iot_emulator.helpers import Identity, device_with_policy


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(tmp_path: Path, clock: Clock) -> ShadowService:
    return ShadowService(tmp_path / "shadows.sqlite", clock=clock)


def call(service: ShadowService, topic: str, payload: Any = b"") -> dict[str, Any]:
    parsed = parse_shadow(topic)
    assert parsed is not None
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return dict(service.handle(parsed, raw))


P = "$aws/things/dev-1/shadow"


def test_update_get_delta_documents_and_versions(service: ShadowService) -> None:
    out = call(
        service, f"{P}/update", {"state": {"desired": {"color": "red", "led": {"on": True}}}, "clientToken": "t1"}
    )
    accepted = out[f"{P}/update/accepted"]
    assert accepted["version"] == 1
    assert accepted["clientToken"] == "t1"
    assert accepted["state"] == {"desired": {"color": "red", "led": {"on": True}}}
    assert accepted["metadata"] == {
        "desired": {"color": {"timestamp": 1_700_000_000}, "led": {"on": {"timestamp": 1_700_000_000}}}
    }
    assert out[f"{P}/update/delta"]["state"] == {"color": "red", "led": {"on": True}}
    assert "previous" not in out[f"{P}/update/documents"]
    out = call(service, f"{P}/update", {"state": {"reported": {"color": "red", "led": {"on": False}}}, "version": 1})
    assert out[f"{P}/update/accepted"]["version"] == 2
    documents = out[f"{P}/update/documents"]
    assert documents["previous"]["version"] == 1
    assert documents["current"]["version"] == 2
    assert f"{P}/update/delta" not in out  # a reported-only update publishes no delta
    got = call(service, f"{P}/get", {"clientToken": "g"})[f"{P}/get/accepted"]
    assert got["state"]["delta"] == {"led": {"on": True}}  # only the differing leaf, with its path
    assert got["clientToken"] == "g"
    assert got["version"] == 2
    assert set(got["metadata"]) == {"desired", "reported"}


def test_null_deletes_arrays_replace_and_state_null_keeps_the_shadow(service: ShadowService) -> None:
    call(service, f"{P}/update", {"state": {"reported": {"a": 1, "b": [1, 2], "c": {"d": 1, "e": 2}}}})
    call(service, f"{P}/update", {"state": {"reported": {"a": None, "b": [3], "c": {"d": None}}}})
    got = call(service, f"{P}/get")[f"{P}/get/accepted"]
    assert got["state"]["reported"] == {"b": [3], "c": {"e": 2}}
    out = call(service, f"{P}/update", {"state": None})
    assert out[f"{P}/update/accepted"]["version"] == 3
    assert call(service, f"{P}/get")[f"{P}/get/accepted"]["state"] == {}


def test_version_conflict_and_delete_keeps_the_version(service: ShadowService, clock: Clock) -> None:
    call(service, f"{P}/update", {"state": {"reported": {"a": 1}}})
    rejected = call(service, f"{P}/update", {"state": {"reported": {"a": 2}}, "version": 7, "clientToken": "c"})
    assert rejected[f"{P}/update/rejected"] == {"code": 409, "message": "Version conflict", "clientToken": "c"}
    deleted = call(service, f"{P}/delete", {"clientToken": "d"})[f"{P}/delete/accepted"]
    assert deleted == {"version": 1, "timestamp": 1_700_000_000, "clientToken": "d"}
    missing = call(service, f"{P}/get")[f"{P}/get/rejected"]
    assert missing["code"] == 404
    assert missing["message"] == "No shadow exists with name: 'dev-1'"
    assert call(service, f"{P}/update", {"state": {"reported": {"a": 3}}})[f"{P}/update/accepted"]["version"] == 2
    call(service, f"{P}/delete")
    clock.now += 49 * 3600  # after 48 hours a re-created shadow starts again
    assert call(service, f"{P}/update", {"state": {"reported": {"a": 4}}})[f"{P}/update/accepted"]["version"] == 1


def test_named_shadows_are_separate(service: ShadowService) -> None:
    named = "$aws/things/dev-1/shadow/name/config"
    call(service, f"{named}/update", {"state": {"desired": {"rate": 5}}})
    assert f"{P}/get/rejected" in call(service, f"{P}/get")
    got = call(service, f"{named}/get")[f"{named}/get/accepted"]
    assert got["state"]["desired"] == {"rate": 5}
    missing = call(service, "$aws/things/dev-1/shadow/name/other/get")
    assert (
        missing["$aws/things/dev-1/shadow/name/other/get/rejected"]["message"] == "No shadow exists with name: 'other'"
    )
    assert service.named_shadows("dev-1") == ["config"]


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        (b"{nope", 400, "Invalid JSON"),
        (b"[" * 100_000, 400, "JSON contains too many levels of nesting; maximum is 6"),
        (b"\xff\xfe\x00", 415, "Unsupported documented encoding; supported encoding is UTF-8"),
        ({"clientToken": "x"}, 400, "Missing required node: state"),
        ({"state": "on"}, 400, "State node must be an object"),
        ({"state": {"desired": 1}}, 400, "Desired node must be an object"),
        ({"state": {"reported": [1]}}, 400, "Reported node must be an object"),
        ({"state": {"reported": {}}, "version": "3"}, 400, "Invalid version"),
        ({"state": {"reported": {}}, "clientToken": "x" * 65}, 400, "Invalid clientToken"),
        ({"state": {"desired": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}}, 400,
         "JSON contains too many levels of nesting; maximum is 6"),
        ({"state": {"delta": {}}}, 400, "State contains an invalid node"),
        ({"state": {"reported": {"blob": "x" * 8200}}}, 413, "The payload exceeds the maximum size allowed"),
    ],
    ids=["json", "deep", "utf8", "no-state", "state-type", "desired-type", "reported-type", "version", "token",
         "depth-7", "invalid-node", "size"],
)  # fmt: skip
def test_documented_errors(service: ShadowService, payload: Any, code: int, message: str) -> None:
    rejected = call(service, f"{P}/update", payload)[f"{P}/update/rejected"]
    assert (rejected["code"], rejected["message"]) == (code, message)
    assert isinstance(rejected["timestamp"], int)


def test_depth_six_is_accepted_and_the_limits_are_configurable(tmp_path: Path) -> None:
    service = ShadowService(tmp_path / "s.sqlite", options=ShadowOptions(max_depth=2, max_bytes=40))
    assert f"{P}/update/accepted" in call(service, f"{P}/update", {"state": {"desired": {"a": {"b": 1}}}})
    assert (
        call(service, f"{P}/update", {"state": {"desired": {"a": {"b": {"c": 1}}}}})[f"{P}/update/rejected"]["code"]
        == 400
    )
    assert call(service, f"{P}/update", {"state": {"desired": {"z": "x" * 30}}})[f"{P}/update/rejected"]["code"] == 413


def test_shadows_survive_a_restart(tmp_path: Path) -> None:
    first = ShadowService(tmp_path / "s.sqlite")
    call(first, f"{P}/update", {"state": {"reported": {"fw": "1.2"}}})
    first.close()
    again = ShadowService(tmp_path / "s.sqlite")
    assert call(again, f"{P}/get")[f"{P}/get/accepted"]["state"]["reported"] == {"fw": "1.2"}


# Over MQTT, with AWS's SDK clients -------------------------------------------------------------------------

mqtt = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto not installed (make setup)")


def sample_policy(thing: str) -> list[dict[str, Any]]:
    """The policy AWS's shadow sample documents for its thing (client ID: any)."""
    prefix = f"$aws/things/{thing}/shadow"
    return [
        {
            "Effect": "Allow",
            "Action": "iot:Publish",
            "Resource": [f"topic/{prefix}/{op}" for op in ("get", "delete", "update")] + [f"topic/{prefix}/name/*"],
        },
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": [f"topic/{prefix}/*"]},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [f"topicfilter/{prefix}/*"]},
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "client/*"},
    ]


@pytest.fixture
def shadow_device(double: Double, tmp_path: Path) -> tuple[str, Identity]:
    thing = f"shadow-dev-{uuid.uuid4().hex[:6]}"
    return thing, device_with_policy(double, tmp_path, f"test-shadow-{thing}", sample_policy(thing))


@mqtt
@pytest.mark.integration
def test_iot_shadow_client_v2_on_mqtt5(double: Double, shadow_device: tuple[str, Identity]) -> None:
    from awscrt import mqtt_request_response
    from awsiot import ServiceStreamOptions, iotshadow, mqtt5_client_builder

    thing, ident = shadow_device
    connected, stopped = threading.Event(), threading.Event()
    assert ident.cert_file is not None
    client = mqtt5_client_builder.mtls_from_path(
        endpoint=double.endpoint.host,
        port=double.endpoint.port,
        cert_filepath=str(ident.cert_file),
        pri_key_filepath=str(ident.key_file),
        ca_filepath=str(double.endpoint.ca_file),
        on_lifecycle_connection_success=lambda data: connected.set(),
        on_lifecycle_stopped=lambda data: stopped.set(),
    )
    client.start()
    shadows = stream = None
    try:
        assert connected.wait(15)
        shadows = iotshadow.IotShadowClientV2(
            client,
            mqtt_request_response.ClientOptions(
                max_request_response_subscriptions=2, max_streaming_subscriptions=2, operation_timeout_in_seconds=15
            ),
        )
        deltas: list[Any] = []
        got_delta = threading.Event()

        def on_delta(event: Any) -> None:
            deltas.append(event)
            got_delta.set()

        stream = shadows.create_shadow_delta_updated_stream(
            iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing), ServiceStreamOptions(on_delta)
        )
        stream.open()
        with pytest.raises(Exception, match=r"404|No shadow"):
            shadows.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)).result(20)
        updated = shadows.update_shadow(
            iotshadow.UpdateShadowRequest(thing_name=thing, state=iotshadow.ShadowState(desired={"color": "red"}))
        ).result(20)
        assert updated.version == 1
        assert updated.state.desired == {"color": "red"}
        assert got_delta.wait(10)
        assert deltas[0].state == {"color": "red"}
        shadows.update_shadow(
            iotshadow.UpdateShadowRequest(thing_name=thing, state=iotshadow.ShadowState(reported={"color": "red"}))
        ).result(20)
        got = shadows.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)).result(20)
        assert got.state.reported == {"color": "red"}
        assert got.state.delta is None
        assert got.version == 2
        named = shadows.update_named_shadow(
            iotshadow.UpdateNamedShadowRequest(
                thing_name=thing, shadow_name="config", state=iotshadow.ShadowState(reported={"rate": 5})
            )
        ).result(20)
        assert named.version == 1
        deleted = shadows.delete_shadow(iotshadow.DeleteShadowRequest(thing_name=thing)).result(20)
        assert deleted.version == 2
    finally:
        # As AWS's sample does: stop, and wait until the client has stopped before its request-response
        # client and streams go away (awscrt crashes the process otherwise).
        client.stop()
        assert stopped.wait(15)
        del stream, shadows


@mqtt
@pytest.mark.integration
def test_iot_shadow_client_v1_on_mqtt311(double: Double, shadow_device: tuple[str, Identity]) -> None:
    from awscrt.mqtt import QoS
    from awsiot import iotshadow, mqtt_connection_builder

    thing, ident = shadow_device
    assert ident.cert_file is not None
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint=double.endpoint.host,
        port=double.endpoint.port,
        cert_filepath=str(ident.cert_file),
        pri_key_filepath=str(ident.key_file),
        ca_filepath=str(double.endpoint.ca_file),
        client_id=f"v1-{thing}",
    )
    connection.connect().result(15)
    try:
        shadows = iotshadow.IotShadowClient(connection)
        accepted: list[Any] = []
        rejected: list[Any] = []
        done = threading.Event()

        def keep(store: list[Any]) -> Any:
            def on_response(response: Any) -> None:
                store.append(response)
                done.set()

            return on_response

        shadows.subscribe_to_update_shadow_accepted(
            iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing), QoS.AT_LEAST_ONCE, keep(accepted)
        )[0].result(10)
        shadows.subscribe_to_update_shadow_rejected(
            iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing), QoS.AT_LEAST_ONCE, keep(rejected)
        )[0].result(10)
        shadows.publish_update_shadow(
            iotshadow.UpdateShadowRequest(
                thing_name=thing, state=iotshadow.ShadowState(reported={"fw": "2.0"}), client_token="tok-1"
            ),
            QoS.AT_LEAST_ONCE,
        ).result(10)
        assert done.wait(10)
        assert accepted[0].client_token == "tok-1"
        assert accepted[0].version == 1
        done.clear()
        shadows.publish_update_shadow(
            iotshadow.UpdateShadowRequest(
                thing_name=thing, state=iotshadow.ShadowState(reported={"fw": "2.1"}), version=9, client_token="tok-2"
            ),
            QoS.AT_LEAST_ONCE,
        ).result(10)
        assert done.wait(10)
        assert rejected[0].code == 409
        assert rejected[0].client_token == "tok-2"
    finally:
        connection.disconnect().result(10)


@mqtt
@pytest.mark.integration
def test_another_things_shadow_is_out_of_reach(double: Double, shadow_device: tuple[str, Identity]) -> None:
    from iot_emulator import mqtt_codec as mc
    from tests.iot_emulator.helpers import RawClient, connect_packet

    _thing, ident = shadow_device
    c = RawClient(double, ident)
    c.send(connect_packet("anyone"))
    assert c.read_kind(mc.CONNACK)
    c.send(mc.encode_publish("$aws/things/someone-else/shadow/update", b'{"state":{}}', 5, qos=1, packet_id=1))
    puback = c.read_kind(mc.PUBACK)
    assert puback
    assert mc.parse_puback(puback)[1] == 0x87
    c.close()
