"""The double's MQTT edge: mutual TLS, AWS IoT Core's MQTT contract, and the services behind reserved topics.

Like AWS IoT's endpoint it authenticates the device certificate (ACTIVE, issued by the double's
CA) and authorizes ``iot:Connect`` (with ``iot:ConnectAttributes``), the Will at CONNECT
(``iot:Publish``, ``iot:RetainPublish``), ``iot:Publish``/``RetainPublish``/``Subscribe``/``Receive``
with the policies attached to the certificate and to the thing's groups. It enforces AWS's quotas
and QoS 0/1 (``contract.MqttContract``), keeps retained messages itself (``retained``: delivered on
SUBSCRIBE to exact-match filters only), resolves MQTT 5 topic aliases before authorizing, sends
AWS's CONNACK properties and PUBACK 0x00, and answers the provisioning API (on the requesting
connection only) and the Device Shadow service (``shadow``, published to every subscriber). Every
other packet is relayed to mosquitto. docs/emulator.md cites the source of each behaviour.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2

from iot_emulator import contract as rc
from iot_emulator import mqtt_codec as mc
from iot_emulator.contract import MqttContract
from iot_emulator.credentials import CredentialsProvider
from iot_emulator.errors import ProtocolError, ServiceError
from iot_emulator.payloads import PayloadError, decode_cbor, decode_json
from iot_emulator.provisioning import ProvisioningService
from iot_emulator.registry import Registry
from iot_emulator.retained import RetainedStore
from iot_emulator.shadow import ShadowService
from iot_semantics import topics
from iot_semantics.policy_eval import Context, evaluate
from iot_semantics.topics import ReservedApi

LOG = logging.getLogger("iot_emulator.edge")
#: The ALPN protocol AWS IoT serves MQTT over mutual TLS on port 443 with.
ALPN_MQTT = "x-amzn-mqtt-ca"
#: What the port-443 listener serves to TLS clients that do not ask for MQTT: the credentials provider.
ALPN_HTTP = "http/1.1"
CONNECT_ATTRIBUTES = "iot:ConnectAttributes"
_LOCAL = -1  # a packet identifier the edge used itself (no broker counterpart)


@dataclass
class Stats:
    connections: int = 0
    refused_connects: int = 0
    refused_publishes: int = 0
    refused_subscriptions: int = 0
    dropped_deliveries: int = 0
    api_requests: int = 0
    shadow_requests: int = 0


class Close(Exception):
    """End the connection; ``packet`` (e.g. a DISCONNECT with its reason) is sent first."""

    def __init__(self, packet: bytes | None = None) -> None:
        super().__init__()
        self.packet = packet


@dataclass
class _Connection:
    client_id: str
    certificate_id: str
    level: int
    writer: asyncio.StreamWriter
    context: Context
    policies: list[dict[str, Any]]
    connect: mc.Connect
    cert_arn: str = ""
    assigned_client_id: bool = False
    generation: int = -1
    decisions: dict[tuple[str, str], bool] = field(default_factory=dict)
    #: filter -> granted QoS of the provisioning-response filters the edge serves itself
    local_filters: dict[str, int] = field(default_factory=dict)
    subscriptions: set[str] = field(default_factory=set)
    #: SUBSCRIBE packet id -> (codes with None for the broker's, filters to send retained messages for)
    pending_subacks: dict[int, tuple[list[int | None], list[tuple[str, int, bool]]]] = field(default_factory=dict)
    aliases: dict[int, str] = field(default_factory=dict)
    #: client-facing packet id of a QoS 1 PUBLISH to the client -> the broker's id (or _LOCAL)
    outbound: dict[int, int] = field(default_factory=dict)
    next_id: int = 0
    disconnected_cleanly: bool = False
    relayed: bool = False

    def allocate_id(self, broker_id: int) -> int:
        for _ in range(65535):
            self.next_id = self.next_id % 65535 + 1
            if self.next_id not in self.outbound:
                self.outbound[self.next_id] = broker_id
                return self.next_id
        raise Close()  # 65535 unacknowledged messages: the client is not reading

    def refuse(self, reason: int) -> int:
        return reason if self.level == mc.MQTT5 else rc.V3_SUBACK_FAILURE


class _ServiceLink:
    """The services' own connection to mosquitto: what they publish reaches every subscriber (whose edge
    connection checks ``iot:Receive``), as messages AWS IoT's services publish do."""

    def __init__(self, port: int, ssl_context: ssl.SSLContext, username: str, password: str) -> None:
        self.port, self.ssl, self.username, self.password = port, ssl_context, username, password
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._next = 0

    async def _connect(self) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.ssl, server_hostname="127.0.0.1"
        )
        connect = mc.Connect(mc.MQTT311, 0x02, 0, mc.Properties(), f"iot-double-services-{uuid.uuid4().hex[:8]}", b"")
        writer.write(connect.encode(username=self.username, password=self.password))
        await mc.read_packet(reader)  # CONNACK
        asyncio.get_running_loop().create_task(self._drain(reader, writer))
        return writer

    async def _drain(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await mc.read_packet(reader)  # PUBACKs
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError, ssl.SSLError):
            if self._writer is writer:
                self._writer = None

    async def publish(self, messages: Iterable[tuple[str, bytes]]) -> None:
        async with self._lock:
            if self._writer is None or self._writer.is_closing():
                self._writer = await self._connect()
            for topic, payload in messages:
                self._next = self._next % 65535 + 1
                self._writer.write(mc.encode_publish(topic, payload, mc.MQTT311, qos=1, packet_id=self._next))
            await self._writer.drain()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class Edge:
    def __init__(
        self,
        *,
        registry: Registry,
        service: ProvisioningService,
        shadows: ShadowService,
        retained: RetainedStore,
        ca_file: Path,
        cert_file: Path,
        key_file: Path,
        broker_port: int,
        broker_username: str,
        broker_password: str,
        arn_prefix: str,
        upstream_ssl: ssl.SSLContext,
        contract: MqttContract | None = None,
    ) -> None:
        self.upstream_ssl = upstream_ssl
        self.registry = registry
        self.service = service
        self.shadows = shadows
        self.retained = retained
        self.contract = contract or rc.DEFAULT
        self.broker_port = broker_port
        self.broker_username = broker_username
        self.broker_password = broker_password
        self.arn_prefix = arn_prefix
        self.stats = Stats()
        self.ssl = self._server_context(ca_file, cert_file, key_file)
        self.alpn_ssl = self._server_context(ca_file, cert_file, key_file)
        self.alpn_ssl.set_alpn_protocols([ALPN_MQTT, ALPN_HTTP])
        #: The IoT credentials provider, served on the port-443 listener to clients without ALPN
        #: ``x-amzn-mqtt-ca`` (None: such clients are disconnected).
        self.credentials: CredentialsProvider | None = None
        self.link = _ServiceLink(broker_port, upstream_ssl, broker_username, broker_password)
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        #: The device side of every open connection (``drop_connections`` cuts them).
        self._clients: set[asyncio.StreamWriter] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def _server_context(ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(str(cert_file), str(key_file))
        return context

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, alpn: bool = False) -> int:
        """Listen on ``port`` (0: any free port); ``alpn``: AWS's port-443 listener, ALPN ``x-amzn-mqtt-ca``."""
        self._loop = asyncio.get_running_loop()
        context = self.alpn_ssl if alpn else self.ssl

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            self._clients.add(writer)
            try:
                await self._handle(reader, writer, alpn=alpn)
            except asyncio.CancelledError:
                # stop() cancels the connection tasks; ending quietly here keeps Python 3.11's stream
                # callback (which asks a cancelled task for its exception) from logging a traceback.
                pass
            finally:
                self._tasks.discard(task)
                self._clients.discard(writer)

        server = await asyncio.start_server(handle, host, port, ssl=context)
        self._servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
        self._servers.clear()
        # Every task of the edge's loop, not only the connections': a TLS handshake still in
        # asyncio's accept task would otherwise be destroyed pending when the loop stops.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.link.close()

    def drop_connections(self, share: float, pick: Callable[[int], list[int]]) -> int:
        """Fault knob (call on the edge's loop): cut ``share`` of the device connections at once, as a
        network fault does (no DISCONNECT: the TCP connection is reset). ``pick(n)`` orders which."""
        clients = list(self._clients)
        chosen = pick(len(clients))[: round(len(clients) * share)]
        for index in chosen:
            clients[index].transport.abort()
        return len(chosen)

    def publish_threadsafe(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish service messages from another thread (the control plane's shadow REST API)."""
        if self._loop is not None and messages:
            asyncio.run_coroutine_threadsafe(self.link.publish(messages), self._loop).result(timeout=10)

    # Authorization -------------------------------------------------------------------------------------

    def _principal(self, certificate_id: str, client_id: str, extra: dict[str, str]) -> tuple[Context, list[Any]]:
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
            extra=extra,
        )
        documents = [d for d in (self.registry.policy_document(n) for n in names) if d is not None]
        return context, documents

    def _allowed(self, conn: _Connection, action: str, resource: str) -> bool:
        """The policy decision, cached per connection until the registry changes (policies, groups,
        certificates), so enforcement follows every change and repeated requests cost a lookup."""
        registry = self.registry
        if not registry.unchanged_since(conn.generation, conn.cert_arn, f"thing:{conn.client_id}"):
            conn.generation = registry.generation
            conn.context, conn.policies = self._principal(conn.certificate_id, conn.client_id, dict(conn.context.extra))
            conn.decisions.clear()
        key = (action, resource)
        decision = conn.decisions.get(key)
        if decision is None:
            decision = evaluate(conn.policies, action, f"{self.arn_prefix}:{resource}", conn.context).allowed
            if len(conn.decisions) > 4096:
                conn.decisions.clear()
            conn.decisions[key] = decision
        return decision

    # CONNECT ---------------------------------------------------------------------------------------------

    def _connack_refusal(self, connect: mc.Connect, v5: int, v3: int) -> Close:
        self.stats.refused_connects += 1
        return Close(mc.encode_connack(v5 if connect.level == mc.MQTT5 else v3, connect.level))

    def _check_certificate(self, certificate_id: str, connect: mc.Connect) -> None:
        cert = self.registry.certificate(certificate_id)
        expired_claim = (
            cert is not None
            and cert.temporary_claim_expires is not None
            and (cert.temporary_claim_expires < time.time())
        )
        if cert is None or cert.status != "ACTIVE" or expired_claim:
            raise self._connack_refusal(connect, rc.NOT_AUTHORIZED, self.contract.v3_not_authorized)

    def _check_will(self, conn: _Connection, will: mc.Will) -> None:
        """AWS authorizes the Will at CONNECT as the publish it is, and refuses the CONNECT otherwise."""
        connect = conn.connect
        if will.qos > 1:  # AWS IoT does not support QoS 2; under 3.1.1 it closes the connection
            self.stats.refused_connects += 1
            raise Close(mc.encode_connack(rc.QOS_NOT_SUPPORTED, mc.MQTT5) if connect.level == mc.MQTT5 else None)
        refused = self._connack_refusal(connect, self.contract.will_refused_reason, self.contract.v3_not_authorized)
        if topics.topic_name_problem(will.topic) is not None or len(will.payload) > self.contract.payload_max_bytes:
            raise refused
        if will.retain and will.topic.startswith(topics.RESERVED_PREFIX + "/"):
            raise refused
        if not self._allowed(conn, "iot:Publish", f"topic/{will.topic}"):
            raise refused
        if will.retain and not self._allowed(conn, "iot:RetainPublish", f"topic/{will.topic}"):
            raise refused

    def _client_id(self, connect: mc.Connect) -> tuple[str, bool]:
        if not connect.client_id:  # AWS assigns one (MQTT 5 Assigned Client Identifier)
            return f"$GEN/{uuid.uuid4()}", True
        if len(connect.client_id.encode()) > self.contract.client_id_max_bytes:
            raise self._connack_refusal(connect, rc.CLIENT_IDENTIFIER_NOT_VALID, rc.V3_IDENTIFIER_REJECTED)
        return connect.client_id, False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> _Connection:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if not der:
            raise Close()
        certificate_id = hashlib.sha256(der).hexdigest()
        connect = mc.parse_connect(await asyncio.wait_for(mc.read_packet(reader), timeout=10))
        self._check_certificate(certificate_id, connect)
        client_id, assigned = self._client_id(connect)
        attributes = [
            name for name, on in (("PersistentConnect", connect.persistent), ("LastWill", connect.will)) if on
        ]
        extra = {CONNECT_ATTRIBUTES: ",".join(attributes)} if attributes else {}
        generation = self.registry.generation
        context, policies = self._principal(certificate_id, client_id, extra)
        conn = _Connection(client_id, certificate_id, connect.level, writer, context, policies, connect)
        conn.cert_arn, conn.assigned_client_id = self.registry.cert_arn(certificate_id), assigned
        conn.generation = generation
        if not self._allowed(conn, "iot:Connect", f"client/{client_id}"):
            raise self._connack_refusal(connect, rc.NOT_AUTHORIZED, self.contract.v3_not_authorized)
        if connect.will is not None:
            self._check_will(conn, connect.will)
        return conn

    def _upstream_connect(self, conn: _Connection) -> bytes:
        connect = conn.connect
        connect.flags &= ~0x20  # the edge keeps retained messages (a retained Will included) itself
        properties = None
        if connect.level == mc.MQTT5:
            kept = mc.without_properties(connect.properties.raw, {mc.TOPIC_ALIAS_MAXIMUM, mc.SESSION_EXPIRY_INTERVAL})
            expiry = min(connect.session_expiry, self.contract.session_expiry_max)
            properties = kept + (mc.encode_property(mc.SESSION_EXPIRY_INTERVAL, expiry) if expiry else b"")
        if conn.assigned_client_id:
            connect.client_id = conn.client_id
        return connect.encode(
            username=self.broker_username,
            password=self.broker_password,
            keepalive=self.contract.keep_alive(connect.keepalive),
            properties=properties,
        )

    def _connack(self, raw: bytes, conn: _Connection) -> bytes:
        """The broker's CONNACK with the properties AWS IoT Core sends (MQTT 5)."""
        if conn.level != mc.MQTT5:
            return raw
        present, code, _ = mc.parse_connack(raw, conn.level)
        c, connect = self.contract, conn.connect
        props: dict[int, object] = {
            mc.MAXIMUM_QOS: 1,
            mc.RETAIN_AVAILABLE: 1,
            mc.WILDCARD_SUBSCRIPTION_AVAILABLE: 1,
            mc.SUBSCRIPTION_IDENTIFIER_AVAILABLE: 0,
            mc.SHARED_SUBSCRIPTION_AVAILABLE: 1,
            mc.TOPIC_ALIAS_MAXIMUM: c.topic_alias_maximum,
            mc.MAXIMUM_PACKET_SIZE: c.maximum_packet_size,
            mc.RECEIVE_MAXIMUM: c.receive_maximum,
        }
        if connect.session_expiry > c.session_expiry_max:
            props[mc.SESSION_EXPIRY_INTERVAL] = c.session_expiry_max
        if c.keep_alive(connect.keepalive) != connect.keepalive:
            props[mc.SERVER_KEEP_ALIVE] = c.keep_alive(connect.keepalive)
        if conn.assigned_client_id:
            props[mc.ASSIGNED_CLIENT_IDENTIFIER] = conn.client_id
        return mc.encode_connack(code, conn.level, session_present=present, properties=props)

    # Connection handling -----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, alpn: bool) -> None:
        upstream: asyncio.StreamWriter | None = None
        conn: _Connection | None = None
        try:
            if alpn and writer.get_extra_info("ssl_object").selected_alpn_protocol() != ALPN_MQTT:
                # port 443 serves MQTT only to clients that ask for it by ALPN; the others reach
                # the credentials provider (HTTPS), which AWS serves on 443 of its own endpoint
                der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
                if self.credentials is not None and der:
                    try:
                        await self.credentials.serve(reader, writer, hashlib.sha256(der).hexdigest())
                    except asyncio.CancelledError:  # the double stops; an idle keep-alive connection ends
                        pass
                return
            conn = await self._accept(reader, writer)
            up_reader, upstream = await asyncio.open_connection(
                "127.0.0.1", self.broker_port, ssl=self.upstream_ssl, server_hostname="127.0.0.1"
            )
            upstream.write(self._upstream_connect(conn))
            conn.relayed = True
            self.stats.connections += 1
            await asyncio.gather(
                self._from_client(conn, reader, upstream), self._from_broker(conn, up_reader, upstream)
            )
        except Close as close:
            if close.packet is not None:
                writer.write(close.packet)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ProtocolError, ssl.SSLError):
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    w.close()
            if conn is not None:
                self._will_retained(conn)

    def _will_retained(self, conn: _Connection) -> None:
        """A retained Will becomes the topic's retained message when the broker publishes it."""
        will = conn.connect.will
        if will is not None and will.retain and conn.relayed and not conn.disconnected_cleanly:
            self.retained.put(will.topic, will.payload, min(will.qos, 1), will.properties.raw)

    async def _from_client(self, conn: _Connection, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        try:
            while True:
                raw = await mc.read_packet(reader)
                kind = raw[0] >> 4
                try:
                    forward = await self._client_packet(conn, kind, raw, up)
                except Close as close:
                    if close.packet is not None:
                        conn.writer.write(close.packet)
                        await conn.writer.drain()
                    return
                if forward is not None:
                    up.write(forward)
                    await up.drain()
                if kind == mc.DISCONNECT:
                    conn.disconnected_cleanly = True
                    return
        finally:
            up.close()
            conn.writer.close()

    async def _client_packet(self, conn: _Connection, kind: int, raw: bytes, up: asyncio.StreamWriter) -> bytes | None:
        """What to relay to the broker for one client packet (None: nothing)."""
        if kind == mc.PUBLISH:
            return await self._client_publish(conn, raw)
        if kind == mc.SUBSCRIBE:
            return self._client_subscribe(conn, raw)
        if kind == mc.PUBACK:
            packet_id, _ = mc.parse_puback(raw)
            broker_id = conn.outbound.pop(packet_id, None)
            if broker_id is None or broker_id == _LOCAL:
                return None
            return mc.packet(mc.PUBACK, 0, broker_id.to_bytes(2, "big") + mc.split(raw)[2][2:])
        if kind == mc.UNSUBSCRIBE:
            for topic_filter in mc.parse_unsubscribe(raw, conn.level):
                conn.local_filters.pop(topic_filter, None)
                conn.subscriptions.discard(topic_filter)
        elif kind in (mc.PUBREC, mc.AUTH, mc.CONNECT):  # QoS 2 flows and AUTH are not served; CONNECT once
            raise Close(mc.encode_disconnect(rc.PROTOCOL_ERROR, conn.level) if conn.level == mc.MQTT5 else None)
        return raw

    # PUBLISH from the device -----------------------------------------------------------------------------

    def _refuse_publish(self, conn: _Connection, publish: mc.Publish, reason: int) -> None:
        """MQTT 3.1.1: AWS closes the connection; MQTT 5: a QoS 1 PUBLISH gets PUBACK ``reason``."""
        self.stats.refused_publishes += 1
        LOG.info("refused publish by %s to %s (0x%02x)", conn.client_id, publish.topic, reason)
        if conn.level != mc.MQTT5:
            raise Close()
        if publish.qos == 1 and publish.packet_id is not None:
            conn.writer.write(mc.encode_puback(publish.packet_id, reason, conn.level))

    def _resolve_alias(self, conn: _Connection, publish: mc.Publish) -> bool:
        """Resolve an MQTT 5 topic alias; True when the packet must be re-encoded without it."""
        alias = publish.properties.values.get(mc.TOPIC_ALIAS)
        if not isinstance(alias, int):
            return False
        if alias == 0 or alias > self.contract.topic_alias_maximum:
            raise Close(mc.encode_disconnect(rc.TOPIC_ALIAS_INVALID, conn.level))
        if publish.topic:
            conn.aliases[alias] = publish.topic
        elif alias in conn.aliases:
            publish.topic = conn.aliases[alias]
        else:
            raise Close(mc.encode_disconnect(rc.PROTOCOL_ERROR, conn.level))
        publish.properties.raw = mc.without_properties(publish.properties.raw, {mc.TOPIC_ALIAS})
        return True

    def _publish_refusal(self, conn: _Connection, publish: mc.Publish) -> int | None:
        """The reason AWS refuses this PUBLISH, or None when it is allowed."""
        if topics.topic_name_problem(publish.topic) is not None:
            return self.contract.topic_invalid_reason
        reserved = publish.topic.startswith(topics.RESERVED_PREFIX + "/")
        if publish.retain and reserved:  # "You can't publish to a reserved topic with the RETAIN flag set"
            return self.contract.topic_invalid_reason
        if not self._allowed(conn, "iot:Publish", f"topic/{publish.topic}"):
            return rc.NOT_AUTHORIZED
        if publish.retain and not self._allowed(conn, "iot:RetainPublish", f"topic/{publish.topic}"):
            return rc.NOT_AUTHORIZED
        if reserved and (shadow := topics.parse_shadow(publish.topic)) is not None and not shadow.is_request:
            return rc.NOT_AUTHORIZED  # the shadow service's own response topics
        return None

    async def _client_publish(self, conn: _Connection, raw: bytes) -> bytes | None:
        publish = mc.parse_publish(raw, conn.level)
        if publish.qos > 1:  # "AWS IoT doesn't support publishing ... with QoS level 2"
            if conn.level == mc.MQTT5:  # CONNACK said Maximum QoS 1: DISCONNECT 0x9B "QoS not supported"
                raise Close(mc.encode_disconnect(rc.QOS_NOT_SUPPORTED, conn.level))
            return None  # MQTT 3.1.1: no PUBACK (AWS); the message goes nowhere
        rewrite = conn.level == mc.MQTT5 and self._resolve_alias(conn, publish)
        if len(publish.payload) > self.contract.payload_max_bytes:
            reason = self.contract.payload_too_large_reason
            raise Close(mc.encode_disconnect(reason, conn.level) if conn.level == mc.MQTT5 else None)
        refusal = self._publish_refusal(conn, publish)
        if refusal is not None:
            self._refuse_publish(conn, publish, refusal)
            return None
        if (request := topics.provisioning_request(publish.topic)) is not None:
            self._ack(conn, publish)
            await self._api(conn, publish, request)
            return None
        if (shadow := topics.parse_shadow(publish.topic)) is not None:
            self._ack(conn, publish)
            await self._shadow(shadow, publish.payload)
            return None
        if publish.retain:
            self.retained.put(publish.topic, publish.payload, publish.qos, publish.properties.raw)
        if rewrite or publish.retain:  # the broker gets the resolved topic and never keeps retained messages
            return mc.encode_publish(
                publish.topic,
                publish.payload,
                conn.level,
                qos=publish.qos,
                packet_id=publish.packet_id,
                properties=publish.properties.raw,
            )
        return raw

    @staticmethod
    def _ack(conn: _Connection, publish: mc.Publish) -> None:
        if publish.qos == 1 and publish.packet_id is not None:
            conn.writer.write(mc.encode_puback(publish.packet_id, rc.SUCCESS, conn.level))

    # SUBSCRIBE ---------------------------------------------------------------------------------------------

    def _filter_code(self, conn: _Connection, topic_filter: str, options: int) -> int | None:
        """The refusal code of one filter, or None when the broker should have it."""
        if topics.topic_filter_problem(topic_filter) is not None:
            return conn.refuse(rc.TOPIC_FILTER_INVALID)
        if not self._allowed(conn, "iot:Subscribe", f"topicfilter/{topic_filter}"):
            self.stats.refused_subscriptions += 1
            return conn.refuse(rc.NOT_AUTHORIZED)
        return None

    def _client_subscribe(self, conn: _Connection, raw: bytes) -> bytes | None:
        sub = mc.parse_subscribe(raw, conn.level)
        if mc.SUBSCRIPTION_IDENTIFIER in sub.properties.values:  # CONNACK says Subscription Identifier Available 0
            raise Close(mc.encode_disconnect(rc.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED, conn.level))
        if any(options & 0x03 > 1 for _, options in sub.filters):
            return None  # "When QoS level 2 is requested, the message broker doesn't send ... SUBACK"
        if len(sub.filters) > self.contract.subscriptions_per_subscribe:
            codes = [conn.refuse(rc.QUOTA_EXCEEDED)] * len(sub.filters)
            conn.writer.write(mc.encode_suback(sub.packet_id, codes, conn.level))
            return None
        pending: list[int | None] = []
        forward: list[tuple[str, int]] = []
        retained: list[tuple[str, int, bool]] = []
        for topic_filter, options in sub.filters:
            code = self._filter_code(conn, topic_filter, options)
            if code is None:
                new = topic_filter not in conn.subscriptions
                conn.subscriptions.add(topic_filter)
                if len(conn.subscriptions) > self.contract.subscriptions_per_connection:
                    raise Close(mc.encode_disconnect(rc.QUOTA_EXCEEDED, conn.level) if conn.level == mc.MQTT5 else None)
                handling = (options >> 4) & 0x03
                if topics.is_exact_filter(topic_filter) and handling != 2 and (handling == 0 or new):
                    retained.append((topic_filter, options & 0x03, True))
            reserved = topics.parse_reserved(topic_filter)
            if code is None and reserved is not None and reserved.is_provisioning_response:
                conn.local_filters[topic_filter] = options & 0x03
                code = options & 0x03
            if code is None:
                forward.append((topic_filter, options))
            pending.append(code)
        if forward:
            conn.pending_subacks[sub.packet_id] = (pending, retained)
            return mc.encode_subscribe(sub, forward, conn.level)
        conn.writer.write(mc.encode_suback(sub.packet_id, [c or 0 for c in pending], conn.level))
        self._send_retained(conn, retained)
        return None

    def _send_retained(self, conn: _Connection, filters: list[tuple[str, int, bool]]) -> None:
        """AWS delivers a topic's retained message on SUBSCRIBE to a filter naming that topic exactly."""
        for topic, granted, _ in filters:
            message = self.retained.get(topic)
            if message is None or not self._allowed(conn, "iot:Receive", f"topic/{topic}"):
                continue
            qos = min(granted, message.qos)
            packet_id = conn.allocate_id(_LOCAL) if qos else None
            props = message.properties if conn.level == mc.MQTT5 else b""
            conn.writer.write(
                mc.encode_publish(
                    topic, message.payload, conn.level, qos=qos, packet_id=packet_id, retain=True, properties=props
                )
            )

    # From the broker ---------------------------------------------------------------------------------------

    def _broker_publish(self, conn: _Connection, raw: bytes, up: asyncio.StreamWriter) -> bytes | None:
        publish = mc.parse_publish(raw, conn.level)
        if not self._allowed(conn, "iot:Receive", f"topic/{publish.topic}"):
            self.stats.dropped_deliveries += 1
            if publish.qos == 1 and publish.packet_id is not None:
                up.write(mc.encode_puback(publish.packet_id, 0, conn.level))
            return None
        if publish.qos == 1 and publish.packet_id is not None:
            return mc.with_packet_id(raw, conn.allocate_id(publish.packet_id))
        return raw

    def _broker_suback(self, conn: _Connection, raw: bytes) -> bytes:
        packet_id, broker_codes = mc.parse_suback(raw, conn.level)
        entry = conn.pending_subacks.pop(packet_id, None)
        if entry is None:
            return raw
        pending, retained = entry
        it = iter(broker_codes)
        merged = [c if c is not None else next(it, rc.UNSPECIFIED_ERROR) for c in pending]
        conn.writer.write(mc.encode_suback(packet_id, merged, conn.level))
        self._send_retained(conn, retained)
        return b""

    def _broker_packet(self, conn: _Connection, raw: bytes, up: asyncio.StreamWriter) -> bytes | None:
        kind = raw[0] >> 4
        if kind == mc.PUBLISH:
            return self._broker_publish(conn, raw, up)
        if kind == mc.PUBACK:
            packet_id, reason = mc.parse_puback(raw)
            if reason == 0x10:  # mosquitto's "no matching subscribers": AWS answers success
                return mc.encode_puback(packet_id, rc.SUCCESS, conn.level)
        elif kind == mc.SUBACK:
            return self._broker_suback(conn, raw) or None
        elif kind == mc.CONNACK:
            return self._connack(raw, conn)
        return raw

    async def _from_broker(self, conn: _Connection, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        try:
            while True:
                raw = await mc.read_packet(reader)
                out = self._broker_packet(conn, raw, up)
                if out is not None:
                    conn.writer.write(out)
                await conn.writer.drain()
        except Close:
            pass
        finally:
            conn.writer.close()

    # The services behind reserved topics ---------------------------------------------------------------------

    async def _shadow(self, shadow: topics.ShadowTopic, payload: bytes) -> None:
        self.stats.shadow_requests += 1
        messages = self.shadows.handle(shadow, payload)
        await self.link.publish([(t, _json(body)) for t, body in messages])

    def _decode(self, fmt: str | None, payload: bytes) -> Any:
        if not payload:
            return {}
        try:
            return decode_json(payload) if fmt == "json" else decode_cbor(payload)
        except PayloadError:
            raise ServiceError(400, "InvalidRequest", f"The payload is not valid {str(fmt).upper()}.") from None

    async def _api(self, conn: _Connection, publish: mc.Publish, request: topics.ReservedTopic) -> None:
        self.stats.api_requests += 1
        fmt = request.payload_format
        loop = asyncio.get_running_loop()
        try:
            payload = self._decode(fmt, publish.payload)
            call: Callable[[], dict[str, Any]]
            if request.api is ReservedApi.REGISTER_THING:
                template = str(request.template)

                def call() -> dict[str, Any]:
                    return self.service.register_thing(
                        template, payload, claim_certificate_id=conn.certificate_id, client_id=conn.client_id
                    )
            elif request.api is ReservedApi.CREATE_CERTIFICATE_FROM_CSR:

                def call() -> dict[str, Any]:
                    return self.service.create_certificate_from_csr(payload)
            else:

                def call() -> dict[str, Any]:
                    return self.service.create_keys_and_certificate(payload)

            result, topic = await loop.run_in_executor(None, call), topics.accepted(publish.topic)
        except ServiceError as exc:
            result, topic = exc.payload(), topics.rejected(publish.topic)
        except Exception as exc:  # the double keeps serving; the device gets an AWS-shaped 500
            LOG.exception("provisioning API failed")
            result = ServiceError(500, "InternalFailure", f"{type(exc).__name__}").payload()
            topic = topics.rejected(publish.topic)
        granted = [q for f, q in conn.local_filters.items() if topics.filter_matches(f, topic)]
        if not granted:
            return  # AWS: subscribe before publishing, or the response is lost
        body = _json(result) if fmt == "json" else cbor2.dumps(result)
        qos = min(max(granted), 1)
        packet_id = conn.allocate_id(_LOCAL) if qos else None
        conn.writer.write(mc.encode_publish(topic, body, conn.level, qos=qos, packet_id=packet_id))
        await conn.writer.drain()


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
