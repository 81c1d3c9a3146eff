"""The default Device Defender behaviours, as data, and how a fleet's tuning combines with them.

Every fleet gets the cloud-side behaviours (thresholds per device, 5-minute windows); a fleet that
runs the Device Defender agent (``features.defender_metrics``) also gets the device-side ones.
Allowlists in ``defender.fleets.<fleet>`` add the behaviour that enforces them.
"""

from __future__ import annotations

from config.defender.models import Behavior, Defender, FleetDetect
from contracts.outputs import pascal
from iot_semantics import defender as dd

#: Cloud-side behaviours every fleet gets.
CLOUD_BEHAVIORS: tuple[Behavior, ...] = (
    Behavior(
        name="AuthorizationFailures",
        metric="aws:num-authorization-failures",
        operator="greater-than",
        value=5,
        duration=300,
        datapoints_to_alarm=2,
        datapoints_to_clear=2,
    ),
    Behavior(name="LargeMessages", metric="aws:message-byte-size", operator="greater-than", value=65536),
    Behavior(name="MessagesSent", metric="aws:num-messages-sent", operator="greater-than", value=600, duration=300),
    Behavior(
        name="MessagesReceived", metric="aws:num-messages-received", operator="greater-than", value=600, duration=300
    ),
    Behavior(
        name="ConnectionAttempts", metric="aws:num-connection-attempts", operator="greater-than", value=10, duration=300
    ),
    Behavior(name="Disconnects", metric="aws:num-disconnects", operator="greater-than", value=10, duration=300),
)
#: Device-side behaviours for fleets that run the Device Defender agent.
AGENT_BEHAVIORS: tuple[Behavior, ...] = (
    Behavior(
        name="EstablishedConnections", metric="aws:num-established-tcp-connections", operator="greater-than", value=10
    ),
    Behavior(name="BytesOut", metric="aws:all-bytes-out", operator="greater-than", value=10_000_000, duration=300),
    Behavior(name="PacketsOut", metric="aws:all-packets-out", operator="greater-than", value=50_000, duration=300),
)
#: ``FleetDetect`` options that only the agent's metrics can enforce.
AGENT_OPTIONS = ("listening_tcp_ports", "listening_udp_ports", "destination_ip_cidrs")


def _listening(protocol: str, ports: tuple[int, ...]) -> Behavior:
    """Ports outside the allowlist, or (an empty allowlist) any listening port at all."""
    if ports:
        return Behavior(
            name=f"Listening{protocol.upper()}PortsOutsideAllowlist",
            metric=f"aws:listening-{protocol}-ports",
            operator="not-in-port-set",
            value=ports,
        )
    return Behavior(
        name=f"Listening{protocol.upper()}Ports",
        metric=f"aws:num-listening-{protocol}-ports",
        operator="greater-than",
        value=0,
        duration=300,
    )


def default_behaviors(detect: FleetDetect, *, agent: bool) -> list[Behavior]:
    """The defaults for a fleet with ``detect``'s allowlists; ``agent``: it runs the Defender agent."""
    out = list(CLOUD_BEHAVIORS)
    if detect.source_ip_cidrs:
        out.append(
            Behavior(
                name="SourceIpOutsideAllowlist",
                metric="aws:source-ip-address",
                operator="not-in-cidr-set",
                value=detect.source_ip_cidrs,
            )
        )
    if not agent:
        return out
    out += [_listening("tcp", detect.listening_tcp_ports), _listening("udp", detect.listening_udp_ports)]
    out += AGENT_BEHAVIORS
    if detect.destination_ip_cidrs:
        out.append(
            Behavior(
                name="DestinationIpOutsideAllowlist",
                metric="aws:destination-ip-addresses",
                operator="not-in-cidr-set",
                value=detect.destination_ip_cidrs,
            )
        )
    return out


def rules_behaviors(detect: FleetDetect, *, agent: bool) -> list[Behavior]:
    """The fleet's Rules Detect profile: its ``behaviors`` (or the defaults) and ``extra_behaviors``."""
    base = list(detect.behaviors) if detect.behaviors is not None else default_behaviors(detect, agent=agent)
    return base + list(detect.extra_behaviors)


def ml_behavior_name(metric: str) -> str:
    """``aws:num-messages-sent`` -> ``MlNumMessagesSent``."""
    return "Ml" + pascal(metric.removeprefix("aws:").replace(":", "-"))


def ml_behaviors(defender: Defender, fleet: str, *, agent: bool) -> list[Behavior]:
    """One ML behaviour per ML-capable metric the fleet reports, and per ``number`` custom metric its
    rules use (ML Detect accepts no other custom metric type)."""
    out = [
        Behavior(name=ml_behavior_name(m.name), metric=m.name)
        for m in dd.METRICS.values()
        if m.ml and (m.side == "cloud" or agent)
    ]
    if agent:
        used = {b.metric for b in rules_behaviors(defender.detect_of(fleet), agent=agent)}
        out += [
            Behavior(name=ml_behavior_name(m.name), metric=m.name)
            for m in defender.custom_metrics
            if m.type == "number" and m.name in used
        ]
    return out
