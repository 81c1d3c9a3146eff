"""AWS IoT secure tunneling's control plane, far enough for an operator and a destination device.

boto3's ``iotsecuretunneling`` client (JSON 1.1 protocol, ``X-Amz-Target: IoTSecuredTunneling.<Op>``,
botocore ``iotsecuretunneling`` 2018-10-05 model) pointed at the double's control plane gets
OpenTunnel, DescribeTunnel, CloseTunnel, ListTunnels and RotateTunnelAccessToken. Opening a tunnel
with a ``destinationConfig`` publishes the documented notify message
``{"clientAccessToken", "clientMode": "destination", "region", "services"}`` to
``$aws/things/<thing>/tunnels/notify`` ("Secure tunneling" / "Remote device configuration",
https://docs.aws.amazon.com/iot/latest/developerguide/configure-remote-device.html) through the
broker, so it reaches exactly the connections whose policies allow ``iot:Receive`` on that topic
(the edge checks each delivery). A tunnel closes at CloseTunnel or when ``maxLifetimeTimeoutMinutes``
(1-720, default 720) has passed. No data plane: there is no proxy endpoint (docs/emulator.md).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iot_emulator.errors import ServiceError

TARGET_PREFIX = "IoTSecuredTunneling"
DEFAULT_LIFETIME_MINUTES = 720
#: The botocore model's limits (ThingName 1-128, ServiceList 1-3, TimeoutInMin 1-720, MaxResults 1-100).
MAX_SERVICES = 3


def notify_topic(thing: str) -> str:
    return f"$aws/things/{thing}/tunnels/notify"


@dataclass
class Tunnel:
    tunnel_id: str
    arn: str
    created: float
    lifetime_minutes: int
    description: str | None
    destination: dict[str, Any] | None
    tags: list[dict[str, str]]
    source_token: str
    destination_token: str
    status: str = "OPEN"
    updated: float = 0.0
    notified: list[dict[str, Any]] = field(default_factory=list)


def _invalid(message: str) -> ServiceError:
    # The model declares no validation error; the JSON protocol's client error is a 400.
    return ServiceError(400, "InvalidRequestException", message)


class TunnelService:
    def __init__(
        self,
        *,
        arn_prefix: str,
        region: str,
        publish: Callable[[list[tuple[str, bytes]]], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.arn_prefix, self.region, self.publish, self.clock = arn_prefix, region, publish, clock
        self.tunnels: dict[str, Tunnel] = {}
        self._lock = threading.Lock()

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            raise ServiceError(501, "NotImplementedException", f"{operation} is not served by the local double.")
        result: dict[str, Any] = handler(params)
        return result

    def _tunnel(self, tunnel_id: Any) -> Tunnel:
        with self._lock:
            tunnel = self.tunnels.get(str(tunnel_id))
        if tunnel is None:
            raise ServiceError(400, "ResourceNotFoundException", f"Tunnel {tunnel_id} cannot be found.")
        self._expire(tunnel)
        return tunnel

    def _expire(self, tunnel: Tunnel) -> None:
        end = tunnel.created + tunnel.lifetime_minutes * 60
        if tunnel.status == "OPEN" and self.clock() >= end:
            tunnel.status, tunnel.updated = "CLOSED", end

    def _notify(self, tunnel: Tunnel) -> None:
        if tunnel.destination is None:
            return
        message = {
            "clientAccessToken": tunnel.destination_token,
            "clientMode": "destination",
            "region": self.region,
            "services": list(tunnel.destination["services"]),
        }
        tunnel.notified.append(message)
        self.publish([(notify_topic(tunnel.destination["thingName"]), json.dumps(message).encode())])

    @staticmethod
    def _destination(raw: Any) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise _invalid("destinationConfig must be an object.")
        services = raw.get("services")
        if not isinstance(services, list) or not 1 <= len(services) <= MAX_SERVICES:
            raise _invalid(f"destinationConfig.services must list 1 to {MAX_SERVICES} services.")
        if not all(isinstance(s, str) and 1 <= len(s) <= 128 for s in services):
            raise _invalid("destinationConfig.services must be names of 1-128 characters.")
        thing = raw.get("thingName")
        if thing is not None and (not isinstance(thing, str) or not 1 <= len(thing) <= 128):
            raise _invalid("destinationConfig.thingName must be 1-128 characters.")
        out: dict[str, Any] = {"services": list(services)}
        if thing is not None:
            out["thingName"] = thing
        return out

    def _op_OpenTunnel(self, p: dict[str, Any]) -> dict[str, Any]:
        destination = self._destination(p.get("destinationConfig"))
        timeout = (p.get("timeoutConfig") or {}).get("maxLifetimeTimeoutMinutes", DEFAULT_LIFETIME_MINUTES)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 720:
            raise _invalid("timeoutConfig.maxLifetimeTimeoutMinutes must be 1 to 720.")
        tunnel_id = str(uuid.uuid4())
        now = self.clock()
        tunnel = Tunnel(
            tunnel_id=tunnel_id,
            arn=f"{self.arn_prefix}:tunnel/{tunnel_id}",
            created=now,
            updated=now,
            lifetime_minutes=timeout,
            description=p.get("description"),
            destination=destination,
            tags=list(p.get("tags") or []),
            source_token=secrets.token_urlsafe(48),
            destination_token=secrets.token_urlsafe(48),
        )
        with self._lock:
            self.tunnels[tunnel_id] = tunnel
        if destination is not None and "thingName" in destination:
            self._notify(tunnel)
        return {
            "tunnelId": tunnel_id,
            "tunnelArn": tunnel.arn,
            "sourceAccessToken": tunnel.source_token,
            "destinationAccessToken": tunnel.destination_token,
        }

    def _op_DescribeTunnel(self, p: dict[str, Any]) -> dict[str, Any]:
        t = self._tunnel(p.get("tunnelId"))
        disconnected = {"status": "DISCONNECTED", "lastUpdatedAt": t.created}
        out: dict[str, Any] = {
            "tunnelId": t.tunnel_id,
            "tunnelArn": t.arn,
            "status": t.status,
            "sourceConnectionState": disconnected,
            "destinationConnectionState": disconnected,
            "timeoutConfig": {"maxLifetimeTimeoutMinutes": t.lifetime_minutes},
            "tags": t.tags,
            "createdAt": t.created,
            "lastUpdatedAt": t.updated,
        }
        if t.description is not None:
            out["description"] = t.description
        if t.destination is not None:
            out["destinationConfig"] = t.destination
        return {"tunnel": out}

    def _op_CloseTunnel(self, p: dict[str, Any]) -> dict[str, Any]:
        t = self._tunnel(p.get("tunnelId"))
        if t.status == "OPEN":
            t.status, t.updated = "CLOSED", self.clock()
        if p.get("delete"):
            with self._lock:
                self.tunnels.pop(t.tunnel_id, None)
        return {}

    def _op_ListTunnels(self, p: dict[str, Any]) -> dict[str, Any]:
        size = p.get("maxResults") or 100
        if not isinstance(size, int) or not 1 <= size <= 100:
            raise _invalid("maxResults must be 1 to 100.")
        thing = p.get("thingName")
        with self._lock:
            tunnels = list(self.tunnels.values())
        for t in tunnels:
            self._expire(t)
        found = [t for t in tunnels if thing is None or (t.destination or {}).get("thingName") == thing]
        token = p.get("nextToken")
        start = int(token) if isinstance(token, str) and token.isdigit() else 0
        page = found[start : start + size]
        out: dict[str, Any] = {
            "tunnelSummaries": [
                {
                    "tunnelId": t.tunnel_id,
                    "tunnelArn": t.arn,
                    "status": t.status,
                    "createdAt": t.created,
                    "lastUpdatedAt": t.updated,
                    **({"description": t.description} if t.description is not None else {}),
                }
                for t in page
            ]
        }
        if start + size < len(found):
            out["nextToken"] = str(start + size)
        return out

    def _op_RotateTunnelAccessToken(self, p: dict[str, Any]) -> dict[str, Any]:
        t = self._tunnel(p.get("tunnelId"))
        mode = p.get("clientMode")
        if mode not in ("SOURCE", "DESTINATION", "ALL"):
            raise _invalid("clientMode must be SOURCE, DESTINATION or ALL.")
        if t.status != "OPEN":
            raise _invalid(f"Tunnel {t.tunnel_id} is closed.")
        # The new destination token is published only when the request names the destination again
        # (RotateTunnelAccessToken, botocore model: "destinationConfig").
        given = self._destination(p["destinationConfig"]) if p.get("destinationConfig") else None
        out: dict[str, Any] = {"tunnelArn": t.arn}
        if mode in ("SOURCE", "ALL"):
            t.source_token = secrets.token_urlsafe(48)
            out["sourceAccessToken"] = t.source_token
        if mode in ("DESTINATION", "ALL"):
            t.destination_token = secrets.token_urlsafe(48)
            out["destinationAccessToken"] = t.destination_token
            if given is not None and "thingName" in given:
                t.destination = given
                self._notify(t)
        t.updated = self.clock()
        return out
