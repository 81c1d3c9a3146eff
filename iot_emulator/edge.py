"""The double's MQTT edge: mutual TLS, IoT policy enforcement, and the fleet provisioning API.

Like AWS IoT's endpoint it authenticates the device certificate (ACTIVE, issued by the double's
CA), authorizes ``iot:Connect``/``Publish``/``Subscribe``/``Receive`` with the policies attached
to the certificate and to the thing's groups, and answers the provisioning API itself, on the
requesting connection only (AWS: "through the same MQTT connection used to publish the API
request"), so concurrent devices never see each other's certificates. Every other packet is
relayed to mosquitto.

Departures (docs/emulator.md): MQTT 5 topic aliases are switched off in CONNACK; a refused
PUBLISH closes an MQTT 3.1.1 connection and gets PUBACK 0x87 (QoS 1) under MQTT 5; service
responses are sent at QoS 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2

from iot_emulator import mqtt_codec as mc
from iot_emulator.errors import ProtocolError, ServiceError
from iot_emulator.provisioning import ProvisioningService
from iot_emulator.registry import Registry
from iot_semantics import topics
from iot_semantics.policy_eval import Context, evaluate
from iot_semantics.topics import ReservedApi

LOG = logging.getLogger("iot_emulator.edge")


@dataclass
class Stats:
    connections: int = 0
    refused_connects: int = 0
    refused_publishes: int = 0
    refused_subscriptions: int = 0
    dropped_deliveries: int = 0
    api_requests: int = 0


@dataclass
class _Connection:
    client_id: str
    certificate_id: str
    level: int
    writer: asyncio.StreamWriter
    context: Context
    policies: list[dict[str, Any]]
    local_filters: set[str] = field(default_factory=set)
    pending_subacks: dict[int, list[int | None]] = field(default_factory=dict)


class Edge:
    def __init__(
        self,
        *,
        registry: Registry,
        service: ProvisioningService,
        ca_file: Path,
        cert_file: Path,
        key_file: Path,
        broker_port: int,
        broker_username: str,
        broker_password: str,
        arn_prefix: str,
        upstream_ssl: ssl.SSLContext,
    ) -> None:
        self.upstream_ssl = upstream_ssl
        self.registry = registry
        self.service = service
        self.broker_port = broker_port
        self.broker_username = broker_username
        self.broker_password = broker_password
        self.arn_prefix = arn_prefix
        self.stats = Stats()
        self.ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca_file))
        self.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ssl.verify_mode = ssl.CERT_REQUIRED
        self.ssl.load_cert_chain(str(cert_file), str(key_file))
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, ssl=self.ssl)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # Authorization -------------------------------------------------------------------------------------

    def _principal(self, certificate_id: str, client_id: str) -> tuple[Context, list[dict[str, Any]]]:
        cert_arn = self.registry.cert_arn(certificate_id)
        names = list(self.registry.policies_of(cert_arn))
        thing = self.registry.thing(client_id)
        attached = thing is not None and cert_arn in self.registry.thing_principals(client_id)
        if thing is not None and attached:
            groups = set(thing.groups)
            for group in thing.groups:
                groups.update(self.registry.group_ancestors(group))
            for group in sorted(groups):
                names += self.registry.policies_of(self.registry.group_arn(group))
        context = Context(
            client_id=client_id,
            certificate_id=certificate_id,
            thing_name=client_id if thing is not None else None,
            thing_type=thing.type if thing is not None else None,
            thing_attributes=dict(thing.attributes) if thing is not None else {},
            is_attached=attached,
        )
        documents = [d for d in (self.registry.policy_document(n) for n in names) if d is not None]
        return context, documents

    def _allowed(self, conn: _Connection, action: str, resource: str) -> bool:
        return evaluate(conn.policies, action, f"{self.arn_prefix}:{resource}", conn.context).allowed

    # Connection handling -----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            if not der:
                return
            certificate_id = hashlib.sha256(der).hexdigest()
            cert = self.registry.certificate(certificate_id)
            raw = await asyncio.wait_for(mc.read_packet(reader), timeout=10)
            connect = mc.parse_connect(raw)
            expired_claim = (
                cert is not None
                and cert.temporary_claim_expires is not None
                and (cert.temporary_claim_expires < time.time())
            )
            if cert is None or cert.status != "ACTIVE" or expired_claim:
                self.stats.refused_connects += 1
                writer.write(mc.encode_connack(5 if connect.level == 4 else 0x87, connect.level))
                return
            context, policies = self._principal(certificate_id, connect.client_id)
            conn = _Connection(connect.client_id, certificate_id, connect.level, writer, context, policies)
            if not self._allowed(conn, "iot:Connect", f"client/{connect.client_id}"):
                self.stats.refused_connects += 1
                writer.write(mc.encode_connack(5 if connect.level == 4 else 0x87, connect.level))
                await writer.drain()
                return
            up_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.broker_port, ssl=self.upstream_ssl, server_hostname="127.0.0.1"
            )
            upstream_writer.write(connect.encode(username=self.broker_username, password=self.broker_password))
            self.stats.connections += 1
            await asyncio.gather(
                self._from_client(conn, reader, upstream_writer),
                self._from_broker(conn, up_reader, upstream_writer),
            )
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ProtocolError, ssl.SSLError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()

    async def _from_client(self, conn: _Connection, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        try:
            while True:
                raw = await mc.read_packet(reader)
                kind = raw[0] >> 4
                if kind == mc.PUBLISH:
                    if not await self._client_publish(conn, raw, up):
                        return
                    continue
                if kind == mc.SUBSCRIBE:
                    self._client_subscribe(conn, raw, up)
                    continue
                if kind == mc.UNSUBSCRIBE:
                    _, _, body = mc.split(raw)
                    pos = mc.decode_properties(body, 2)[1] if conn.level == mc.MQTT5 else 2
                    while pos < len(body):
                        topic, pos = mc.decode_string(body, pos)
                        conn.local_filters.discard(topic)
                up.write(raw)
                await up.drain()
                if kind == mc.DISCONNECT:
                    return
        finally:
            up.close()
            conn.writer.close()

    async def _client_publish(self, conn: _Connection, raw: bytes, up: asyncio.StreamWriter) -> bool:
        publish = mc.parse_publish(raw, conn.level)
        if mc.TOPIC_ALIAS in publish.properties.values:
            raise ProtocolError("topic aliases are switched off")
        if not self._allowed(conn, "iot:Publish", f"topic/{publish.topic}"):
            self.stats.refused_publishes += 1
            LOG.info("refused publish by %s to %s", conn.client_id, publish.topic)
            if conn.level == mc.MQTT5 and publish.qos == 1 and publish.packet_id is not None:
                conn.writer.write(mc.encode_puback(publish.packet_id, 0x87, conn.level))
                return True
            if conn.level == mc.MQTT5:
                return True
            return False  # MQTT 3.1.1: AWS IoT disconnects
        request = topics.provisioning_request(publish.topic)
        if request is not None:
            if publish.qos == 1 and publish.packet_id is not None:
                conn.writer.write(mc.encode_puback(publish.packet_id, 0, conn.level))
            await self._api(conn, publish, request)
            return True
        up.write(raw)
        await up.drain()
        return True

    def _client_subscribe(self, conn: _Connection, raw: bytes, up: asyncio.StreamWriter) -> None:
        sub = mc.parse_subscribe(raw, conn.level)
        codes: list[int | None] = []
        forward: list[tuple[str, int]] = []
        for topic_filter, options in sub.filters:
            if not self._allowed(conn, "iot:Subscribe", f"topicfilter/{topic_filter}"):
                self.stats.refused_subscriptions += 1
                codes.append(0x80 if conn.level == 4 else 0x87)
            elif (reserved := topics.parse_reserved(topic_filter)) is not None and reserved.is_provisioning_response:
                conn.local_filters.add(topic_filter)
                codes.append(min(options & 0x03, 1))
            else:
                forward.append((topic_filter, options))
                codes.append(None)  # filled from the broker's SUBACK
        if forward:
            conn.pending_subacks[sub.packet_id] = codes
            up.write(mc.encode_subscribe(sub, forward, conn.level))
        else:
            conn.writer.write(mc.encode_suback(sub.packet_id, [c or 0 for c in codes], conn.level))

    async def _from_broker(self, conn: _Connection, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        try:
            while True:
                raw = await mc.read_packet(reader)
                kind = raw[0] >> 4
                if kind == mc.CONNACK:
                    raw = mc.without_topic_aliases(raw, conn.level)
                elif kind == mc.PUBLISH:
                    publish = mc.parse_publish(raw, conn.level)
                    if not self._allowed(conn, "iot:Receive", f"topic/{publish.topic}"):
                        self.stats.dropped_deliveries += 1
                        if publish.qos == 1 and publish.packet_id is not None:
                            up.write(mc.encode_puback(publish.packet_id, 0, conn.level))
                        continue
                elif kind == mc.SUBACK:
                    packet_id, broker_codes = mc.parse_suback(raw, conn.level)
                    pending = conn.pending_subacks.pop(packet_id, None)
                    if pending is not None:
                        it = iter(broker_codes)
                        merged = [c if c is not None else next(it, 0x80) for c in pending]
                        raw = mc.encode_suback(packet_id, merged, conn.level)
                conn.writer.write(raw)
                await conn.writer.drain()
        finally:
            conn.writer.close()

    # The provisioning API ----------------------------------------------------------------------------

    async def _api(self, conn: _Connection, publish: mc.Publish, request: topics.ReservedTopic) -> None:
        self.stats.api_requests += 1
        fmt = request.payload_format
        loop = asyncio.get_running_loop()
        try:
            try:
                payload = (
                    (json.loads(publish.payload) if publish.payload else {})
                    if fmt == "json"
                    else (cbor2.loads(publish.payload) if publish.payload else {})
                )
            except (ValueError, cbor2.CBORDecodeError):
                raise ServiceError(400, "InvalidRequest", f"The payload is not valid {str(fmt).upper()}.") from None
            if request.api is ReservedApi.REGISTER_THING:
                template = str(request.template)
                result = await loop.run_in_executor(
                    None,
                    lambda: self.service.register_thing(
                        template, payload, claim_certificate_id=conn.certificate_id, client_id=conn.client_id
                    ),
                )
            elif request.api is ReservedApi.CREATE_CERTIFICATE_FROM_CSR:
                result = await loop.run_in_executor(None, self.service.create_certificate_from_csr, payload)
            else:
                result = await loop.run_in_executor(None, self.service.create_keys_and_certificate, payload)
            topic = topics.accepted(publish.topic)
        except ServiceError as exc:
            result, topic = exc.payload(), topics.rejected(publish.topic)
        except Exception as exc:  # the double keeps serving; the device gets an AWS-shaped 500
            LOG.exception("provisioning API failed")
            result = ServiceError(500, "InternalFailure", f"{type(exc).__name__}").payload()
            topic = topics.rejected(publish.topic)
        if not any(topics.filter_matches(f, topic) for f in conn.local_filters):
            return  # AWS: subscribe before publishing, or the response is lost
        body = json.dumps(result).encode() if fmt == "json" else cbor2.dumps(result)
        conn.writer.write(mc.encode_publish(topic, body, conn.level))
        await conn.writer.drain()
