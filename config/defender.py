"""The ``defender:`` section of the fleet config: detect, audit, alerting, mitigation, logging.

Defaults give every fleet a Rules Detect profile with cloud-side behaviours (and device-side ones
when the fleet runs the Defender agent); everything can be tuned per fleet. Checks here relate
behaviours to the metric table in ``iot_semantics.defender``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from config.errors import ConfigIssue
from iot_semantics import defender as dd

if TYPE_CHECKING:
    from config.models import Fleet, FleetConfig

_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")


def _defender_name(v: str) -> str:
    if not _NAME.fullmatch(v):
        raise ValueError("must be 1-128 characters of a-z A-Z 0-9 : _ -")
    return v


#: Names of behaviors, scheduled audits and dimensions (CloudFormation's pattern for each).
DefenderName = Annotated[str, AfterValidator(_defender_name)]
Number = int | float
Value = Number | tuple[Number | str, ...]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Behavior(_Model):
    """One Rules Detect behaviour (or, on the ML profile, one metric to learn)."""

    name: DefenderName
    metric: str
    operator: str | None = None
    value: Value | None = None
    duration: int | None = None
    statistic: str | None = None
    datapoints_to_alarm: Annotated[int, Field(ge=1, le=10)] = 1
    datapoints_to_clear: Annotated[int, Field(ge=1, le=10)] = 1
    dimension: str | None = None
    dimension_operator: Literal["IN", "NOT_IN"] = "IN"
    suppress_alerts: bool = False


class MlDetect(_Model):
    enabled: bool = False
    confidence: Literal["LOW", "MEDIUM", "HIGH"] = "HIGH"


class FleetDetect(_Model):
    """Per-fleet tuning, under ``defender.fleets.<fleet name>``."""

    #: Replace the default behaviours entirely (None: keep the defaults).
    behaviors: tuple[Behavior, ...] | None = None
    #: Added to the defaults (or to ``behaviors``).
    extra_behaviors: tuple[Behavior, ...] = ()
    source_ip_cidrs: tuple[str, ...] = ()
    destination_ip_cidrs: tuple[str, ...] = ()
    #: Allowed listening ports (device side); empty means "no listening port expected".
    listening_tcp_ports: tuple[Annotated[int, Field(ge=0, le=65535)], ...] = ()
    listening_udp_ports: tuple[Annotated[int, Field(ge=0, le=65535)], ...] = ()
    ml_detect: MlDetect = MlDetect()

    @field_validator("source_ip_cidrs", "destination_ip_cidrs")
    @classmethod
    def _cidrs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in v:
            _check_cidr(cidr)
        return v


def _check_cidr(cidr: str) -> None:
    try:
        ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        raise ValueError(f"{cidr!r} is not a CIDR block such as 203.0.113.0/24 ({exc})") from None


class Subscription(_Model):
    protocol: Literal["email", "https", "sqs"]
    endpoint: str

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not v or len(v) > 2048:
            raise ValueError("must be 1-2048 characters")
        return v


class Alerts(_Model):
    subscriptions: tuple[Subscription, ...] = ()


class AuditSchedule(_Model):
    name: DefenderName
    frequency: Literal["DAILY", "WEEKLY", "BIWEEKLY", "MONTHLY"]
    day_of_week: Literal["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] | None = None
    day_of_month: str | None = None
    #: Default: every check CloudFormation accepts in a scheduled audit.
    checks: tuple[str, ...] | None = None

    @field_validator("day_of_month")
    @classmethod
    def _dom(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[1-9]|[12][0-9]|3[01]|LAST", v):
            raise ValueError("must be 1-31 or LAST")
        return v


DEFAULT_SCHEDULES = (
    AuditSchedule(name="daily", frequency="DAILY"),
    AuditSchedule(name="weekly", frequency="WEEKLY", day_of_week="MON"),
)


class Audit(_Model):
    """The account's audit configuration is one per account: opt in with ``enabled``."""

    enabled: bool = False
    #: False when another stack owns AWS::IoT::AccountAuditConfiguration (schedules still created).
    manage_account_configuration: bool = True
    device_certificate_expiry_days: Annotated[int, Field(ge=1, le=3650)] = 30
    device_certificate_age_days: Annotated[int, Field(ge=30, le=3652)] = 365
    schedules: tuple[AuditSchedule, ...] = DEFAULT_SCHEDULES
    alarm_on_critical_findings: bool = True


class IotLogging(_Model):
    """AWS IoT logging is one per account: opt in with ``enabled``."""

    enabled: bool = False
    level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "ERROR"


class ProvisioningAlarms(_Model):
    register_thing_failures_per_5_min: Annotated[int, Field(ge=1)] = 5
    csr_failures_per_5_min: Annotated[int, Field(ge=1)] = 5
    #: More registrations than this in one hour through one claim certificate raises an alarm.
    registrations_per_hour_per_claim: Annotated[int, Field(ge=1)] = 500
    #: Claim certificates not created by the stack (64 hex characters each).
    claim_certificate_ids: tuple[str, ...] = ()

    @field_validator("claim_certificate_ids")
    @classmethod
    def _ids(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for cid in v:
            if not re.fullmatch(r"[0-9a-f]{64}", cid):
                raise ValueError(f"{cid!r} is not a certificate ID (64 lower-case hex characters)")
        return v


class CustomMetric(_Model):
    name: str
    type: Literal["number", "number-list", "string-list", "ip-address-list"]
    display_name: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.fullmatch(v) or v.startswith("aws:"):
            raise ValueError("must be 1-128 characters of a-z A-Z 0-9 : _ - and not start with aws:")
        return v


class Dimension(_Model):
    name: DefenderName
    topic_filters: Annotated[tuple[str, ...], Field(min_length=1, max_length=5)]


class Defender(_Model):
    enabled: bool = True
    alerts: Alerts = Alerts()
    audit: Audit = Audit()
    logging: IotLogging = IotLogging()
    provisioning_alarms: ProvisioningAlarms = ProvisioningAlarms()
    custom_metrics: tuple[CustomMetric, ...] = ()
    dimensions: tuple[Dimension, ...] = ()
    fleets: Mapping[str, FleetDetect] = Field(default_factory=lambda: MappingProxyType({}))
    #: Log level the ENABLE_IOT_LOGGING mitigation action sets.
    mitigation_log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "INFO"

    @field_validator("fleets")
    @classmethod
    def _fleets(cls, v: Mapping[str, FleetDetect]) -> Mapping[str, FleetDetect]:
        return MappingProxyType(dict(v))

    def detect_of(self, fleet_name: str) -> FleetDetect:
        return self.fleets.get(fleet_name, FleetDetect())


# Defaults -----------------------------------------------------------------------------------------


def default_behaviors(fleet: Fleet, detect: FleetDetect) -> list[Behavior]:
    """Sensible Rules Detect behaviours for a fleet (thresholds per device, 5-minute windows)."""
    out = [
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
            name="MessagesReceived",
            metric="aws:num-messages-received",
            operator="greater-than",
            value=600,
            duration=300,
        ),
        Behavior(
            name="ConnectionAttempts",
            metric="aws:num-connection-attempts",
            operator="greater-than",
            value=10,
            duration=300,
        ),
        Behavior(name="Disconnects", metric="aws:num-disconnects", operator="greater-than", value=10, duration=300),
    ]
    if detect.source_ip_cidrs:
        out.append(
            Behavior(
                name="SourceIpOutsideAllowlist",
                metric="aws:source-ip-address",
                operator="not-in-cidr-set",
                value=detect.source_ip_cidrs,
            )
        )
    if not fleet.features.defender_metrics:
        return out
    for proto, ports in (("tcp", detect.listening_tcp_ports), ("udp", detect.listening_udp_ports)):
        if ports:
            out.append(
                Behavior(
                    name=f"Listening{proto.upper()}PortsOutsideAllowlist",
                    metric=f"aws:listening-{proto}-ports",
                    operator="not-in-port-set",
                    value=ports,
                )
            )
        else:  # no listening port expected at all
            out.append(
                Behavior(
                    name=f"Listening{proto.upper()}Ports",
                    metric=f"aws:num-listening-{proto}-ports",
                    operator="greater-than",
                    value=0,
                    duration=300,
                )
            )
    out += [
        Behavior(
            name="EstablishedConnections",
            metric="aws:num-established-tcp-connections",
            operator="greater-than",
            value=10,
        ),
        Behavior(name="BytesOut", metric="aws:all-bytes-out", operator="greater-than", value=10_000_000, duration=300),
        Behavior(name="PacketsOut", metric="aws:all-packets-out", operator="greater-than", value=50_000, duration=300),
    ]
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


def rules_behaviors(fleet: Fleet, detect: FleetDetect) -> list[Behavior]:
    base = list(detect.behaviors) if detect.behaviors is not None else default_behaviors(fleet, detect)
    return base + list(detect.extra_behaviors)


def ml_behaviors(fleet: Fleet, config: Defender) -> list[Behavior]:
    """One ML behaviour per ML-capable metric the fleet reports, and per ``number`` custom metric its
    rules use (ML Detect accepts no other custom metric type)."""
    out = []
    for metric in dd.METRICS.values():
        if metric.ml and (metric.side == "cloud" or fleet.features.defender_metrics):
            out.append(Behavior(name="Ml" + _pascal(metric.name), metric=metric.name))
    if fleet.features.defender_metrics:
        used = {b.metric for b in rules_behaviors(fleet, config.detect_of(fleet.name))}
        out += [
            Behavior(name="Ml" + _pascal(m.name), metric=m.name)
            for m in config.custom_metrics
            if m.type == "number" and m.name in used
        ]
    return out


def _pascal(metric: str) -> str:
    return "".join(p.capitalize() for p in re.split(r"[:_-]", metric.removeprefix("aws:")) if p)


# Checks -------------------------------------------------------------------------------------------


def check(config: FleetConfig) -> list[ConfigIssue]:
    d = config.defender
    issues: list[ConfigIssue] = []
    fleets = {f.name: f for f in config.fleets}
    for name in d.fleets:
        if name not in fleets:
            issues.append(ConfigIssue(f"defender.fleets.{name}", name, f"is not a fleet ({', '.join(fleets)})"))
    for i, s in enumerate(d.alerts.subscriptions):
        issues += _subscription(s, f"defender.alerts.subscriptions[{i}]")
    issues += _audit(d)
    if not d.enabled:
        return issues
    targets: dict[str, int] = {}
    for fleet in config.fleets:
        detect = d.detect_of(fleet.name)
        base = f"defender.fleets.{fleet.name}"
        if not fleet.thing_groups:
            issues.append(
                ConfigIssue(
                    f"fleets[{config.fleets.index(fleet)}].thing_groups",
                    [],
                    "Device Defender profiles target the fleet's thing groups: give the fleet a thing group "
                    "(or set defender.enabled: false)",
                )
            )
        profiles = 2 if detect.ml_detect.enabled else 1
        for group in fleet.thing_groups:
            targets[group] = targets.get(group, 0) + profiles
        explicit = (
            [(f"{base}.behaviors[{i}]", b) for i, b in enumerate(detect.behaviors)]
            if detect.behaviors is not None
            else []
        )
        explicit += [(f"{base}.extra_behaviors[{i}]", b) for i, b in enumerate(detect.extra_behaviors)]
        for path, behavior in explicit:
            issues += list(_behavior(behavior, path, fleet, d))
        names = [b.name for b in rules_behaviors(fleet, detect)]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            issues.append(ConfigIssue(f"{base}.extra_behaviors", dup, "two behaviours share this name"))
        if len(names) > dd.BEHAVIORS_PER_PROFILE_MAX:
            issues.append(ConfigIssue(base, len(names), "a security profile has at most 100 behaviours"))
    for group, count in targets.items():
        if count > dd.SECURITY_PROFILES_PER_TARGET_MAX:
            issues.append(
                ConfigIssue(
                    "fleets[].thing_groups",
                    group,
                    f"would be the target of {count} security profiles; AWS IoT allows 5 per target",
                )
            )
    return issues


def _subscription(s: Subscription, path: str) -> list[ConfigIssue]:
    rules = {
        "email": (r"[^@\s]+@[^@\s]+\.[^@\s]+", "an e-mail address"),
        "https": (r"https://[^\s]+", "an https:// URL"),
        "sqs": (r"arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[\w-]{1,80}(\.fifo)?", "an SQS queue ARN"),
    }
    rx, what = rules[s.protocol]
    if not re.fullmatch(rx, s.endpoint):
        return [ConfigIssue(f"{path}.endpoint", s.endpoint, f"must be {what} for protocol {s.protocol}")]
    return []


def _audit(d: Defender) -> list[ConfigIssue]:
    issues = []
    if len(d.audit.schedules) > dd.SCHEDULED_AUDITS_MAX:
        issues.append(ConfigIssue("defender.audit.schedules", len(d.audit.schedules), "an account has at most 5"))
    names: set[str] = set()
    for i, s in enumerate(d.audit.schedules):
        path = f"defender.audit.schedules[{i}]"
        if s.name in names:
            issues.append(ConfigIssue(f"{path}.name", s.name, "another schedule has this name"))
        names.add(s.name)
        if s.frequency in ("WEEKLY", "BIWEEKLY") and s.day_of_week is None:
            issues.append(ConfigIssue(f"{path}.day_of_week", None, f"{s.frequency} audits need a day_of_week"))
        if s.frequency == "MONTHLY" and s.day_of_month is None:
            issues.append(ConfigIssue(f"{path}.day_of_month", None, "MONTHLY audits need a day_of_month"))
        for j, check_name in enumerate(s.checks or ()):
            check_def = dd.AUDIT_CHECKS.get(check_name)
            if check_def is None:
                issues.append(ConfigIssue(f"{path}.checks[{j}]", check_name, "is not an audit check name"))
            elif not check_def.schedulable:
                issues.append(
                    ConfigIssue(
                        f"{path}.checks[{j}]",
                        check_name,
                        "CloudFormation rejects this check in a scheduled audit; it is enabled in the account "
                        "audit configuration and runs in on-demand audits",
                    )
                )
    return issues


def _behavior(b: Behavior, path: str, fleet: Fleet, d: Defender) -> Iterator[ConfigIssue]:
    custom = {m.name: m for m in d.custom_metrics}
    metric = dd.METRICS.get(b.metric)
    if metric is None and b.metric not in custom:
        known = ", ".join(sorted(dd.METRICS))
        yield ConfigIssue(
            f"{path}.metric",
            b.metric,
            f"is not a Device Defender metric ({known}) nor a custom metric declared under defender.custom_metrics",
        )
        return
    if metric is not None:
        operators, kind, takes_duration, side = metric.operators, metric.value, metric.duration, metric.side
        supports_dimension = metric.dimension
    else:
        operators, kind = dd.CUSTOM_METRIC_RULES[custom[b.metric].type]
        takes_duration, side, supports_dimension = False, "device", False
    if side == "device" and not fleet.features.defender_metrics:
        yield ConfigIssue(
            f"{path}.metric",
            b.metric,
            f"is reported by the Device Defender agent; switch on features.defender_metrics for fleet {fleet.name}",
        )
    if b.operator is None:
        yield ConfigIssue(f"{path}.operator", None, f"is required; one of {', '.join(operators)}")
    elif b.operator not in operators:
        yield ConfigIssue(
            f"{path}.operator", b.operator, f"does not apply to {b.metric}; use one of {', '.join(operators)}"
        )
    if b.statistic is not None:
        if b.statistic not in dd.STATISTICS:
            yield ConfigIssue(f"{path}.statistic", b.statistic, f"must be one of {', '.join(dd.STATISTICS)}")
        if b.value is not None:
            yield ConfigIssue(f"{path}.value", b.value, "give either value or statistic, not both")
        if kind != "count":
            yield ConfigIssue(f"{path}.statistic", b.statistic, "statistical thresholds need a numeric metric")
    elif b.value is None:
        yield ConfigIssue(f"{path}.value", None, "is required (or give a statistic)")
    else:
        problem = _value_problem(kind, b.value)
        if problem:
            yield ConfigIssue(f"{path}.value", b.value, problem)
    if b.duration is not None:
        if not takes_duration:
            yield ConfigIssue(f"{path}.duration", b.duration, f"{b.metric} takes no duration")
        elif b.duration not in dd.DURATIONS:
            yield ConfigIssue(
                f"{path}.duration", b.duration, f"must be one of {', '.join(map(str, dd.DURATIONS))} seconds"
            )
    elif takes_duration and (b.statistic is not None or kind == "count"):
        yield ConfigIssue(f"{path}.duration", None, f"{b.metric} needs a duration (300, 600, 900, 1800 or 3600)")
    if b.dimension is not None:
        if not supports_dimension:
            yield ConfigIssue(f"{path}.dimension", b.dimension, f"{b.metric} does not accept a topic-filter dimension")
        elif b.dimension not in {x.name for x in d.dimensions}:
            yield ConfigIssue(f"{path}.dimension", b.dimension, "is not declared under defender.dimensions")


def _value_problem(kind: str, value: object) -> str | None:
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return "must be a whole number >= 0"
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
    elif not isinstance(value, tuple) or not value:
        return f"must be a non-empty list of {kind}"
    elif kind == "cidrs":
        for cidr in value:
            try:
                _check_cidr(str(cidr))
            except ValueError as exc:
                return str(exc)
    elif kind == "ports":
        if not all(isinstance(p, int) and 0 <= p <= 65535 for p in value):
            return "ports are whole numbers 0-65535"
    elif kind == "numbers":
        if not all(isinstance(p, int | float) and not isinstance(p, bool) for p in value):
            return "must be a list of numbers"
    elif kind == "strings" and not all(isinstance(p, str) for p in value):
        return "must be a list of strings"
    return None
