"""The ``defender:`` section of the fleet config as typed, immutable models.

Enumerations and name rules come from ``iot_semantics.defender`` (AWS's values, one home); rules
that relate a behaviour to its metric, or a fleet's tuning to its features, are in
``config.defender.checks``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from iot_semantics import defender as dd
from iot_semantics.names import CERTIFICATE_ID


def _defender_name(v: str) -> str:
    if not dd.NAME.fullmatch(v):
        raise ValueError(dd.NAME_RULE)
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
    datapoints_to_alarm: Annotated[int, Field(ge=dd.DATAPOINTS_MIN, le=dd.DATAPOINTS_MAX)] = 1
    datapoints_to_clear: Annotated[int, Field(ge=dd.DATAPOINTS_MIN, le=dd.DATAPOINTS_MAX)] = 1
    dimension: str | None = None
    dimension_operator: dd.DimensionOperator = "IN"
    suppress_alerts: bool = False


class MlDetect(_Model):
    enabled: bool = False
    confidence: dd.ConfidenceLevel = "HIGH"


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
            check_cidr(cidr)
        return v


def check_cidr(cidr: str) -> None:
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
    frequency: dd.AuditFrequency
    day_of_week: dd.DayOfWeek | None = None
    day_of_month: str | None = None
    #: Default: every check CloudFormation accepts in a scheduled audit.
    checks: tuple[str, ...] | None = None

    @field_validator("day_of_month")
    @classmethod
    def _dom(cls, v: str | None) -> str | None:
        if v is not None and not dd.DAY_OF_MONTH.fullmatch(v):
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
    level: dd.LogLevel = "ERROR"


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
            if not CERTIFICATE_ID.fullmatch(cid):
                raise ValueError(f"{cid!r} is not a certificate ID (64 lower-case hex characters)")
        return v


class CustomMetric(_Model):
    name: str
    type: dd.CustomMetricType
    display_name: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not dd.NAME.fullmatch(v) or v.startswith(dd.AWS_METRIC_PREFIX):
            raise ValueError(f"{dd.NAME_RULE} and not start with {dd.AWS_METRIC_PREFIX}")
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
    mitigation_log_level: dd.LogLevel = "INFO"

    @field_validator("fleets")
    @classmethod
    def _fleets(cls, v: Mapping[str, FleetDetect]) -> Mapping[str, FleetDetect]:
        return MappingProxyType(dict(v))

    def detect_of(self, fleet_name: str) -> FleetDetect:
        return self.fleets.get(fleet_name, FleetDetect())
