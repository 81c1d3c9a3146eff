"""AWS IoT Device Defender facts as data: audit checks, Detect metrics, mitigation actions.

Source: the project's AWS IoT fact sheet, section 6 (AWS docs, CloudFormation schemas, botocore).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

ValueKind = Literal["count", "cidrs", "ports", "number", "numbers", "strings"]
Side = Literal["cloud", "device"]

#: ``durationSeconds`` values Device Defender accepts.
DURATIONS = (300, 600, 900, 1800, 3600)
NUMERIC_OPERATORS = ("less-than", "less-than-equals", "greater-than", "greater-than-equals")
CIDR_OPERATORS = ("in-cidr-set", "not-in-cidr-set")
PORT_OPERATORS = ("in-port-set", "not-in-port-set")
SET_OPERATORS = ("in-set", "not-in-set")
STATISTICS = ("Average", "p0", "p0.1", "p0.01", "p1", "p10", "p50", "p90", "p99", "p99.9", "p99.99", "p100")
#: ML Detect confidence (``MachineLearningDetectionConfig.ConfidenceLevel``).
ConfidenceLevel = Literal["LOW", "MEDIUM", "HIGH"]
CONFIDENCE_LEVELS: tuple[ConfidenceLevel, ...] = get_args(ConfidenceLevel)
#: ``MetricDimension.Operator``.
DimensionOperator = Literal["IN", "NOT_IN"]
DIMENSION_OPERATORS: tuple[DimensionOperator, ...] = get_args(DimensionOperator)
#: Names of behaviors, custom metrics, dimensions and scheduled audits (CloudFormation's pattern).
NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
NAME_RULE = "must be 1-128 characters of a-z A-Z 0-9 : _ -"
#: Custom metric names may not take the prefix of AWS's own metrics.
AWS_METRIC_PREFIX = "aws:"
#: The only documented key of ``AlertTargets``.
ALERT_TARGET_TYPE = "SNS"
DATAPOINTS_MIN, DATAPOINTS_MAX = 1, 10
SECURITY_PROFILES_PER_TARGET_MAX = 5
BEHAVIORS_PER_PROFILE_MAX = 100
SCHEDULED_AUDITS_MAX = 5


@dataclass(frozen=True)
class Metric:
    name: str
    side: Side
    operators: tuple[str, ...]
    value: ValueKind
    duration: bool  # takes durationSeconds
    ml: bool  # usable in ML Detect
    dimension: bool  # accepts a TOPIC_FILTER dimension


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("aws:message-byte-size", "cloud", NUMERIC_OPERATORS, "count", False, True, True),
        Metric("aws:num-messages-sent", "cloud", NUMERIC_OPERATORS, "count", True, True, True),
        Metric("aws:num-messages-received", "cloud", NUMERIC_OPERATORS, "count", True, True, True),
        Metric("aws:num-authorization-failures", "cloud", NUMERIC_OPERATORS, "count", True, True, True),
        Metric("aws:source-ip-address", "cloud", CIDR_OPERATORS, "cidrs", False, False, True),
        Metric("aws:num-connection-attempts", "cloud", NUMERIC_OPERATORS, "count", True, True, False),
        Metric("aws:num-disconnects", "cloud", NUMERIC_OPERATORS, "count", True, True, False),
        Metric("aws:all-bytes-out", "device", NUMERIC_OPERATORS, "count", True, True, False),
        Metric("aws:all-bytes-in", "device", NUMERIC_OPERATORS, "count", True, True, False),
        Metric("aws:all-packets-out", "device", NUMERIC_OPERATORS, "count", True, True, False),
        Metric("aws:all-packets-in", "device", NUMERIC_OPERATORS, "count", True, True, False),
        Metric("aws:num-listening-tcp-ports", "device", NUMERIC_OPERATORS, "count", True, True, False),
        Metric("aws:num-listening-udp-ports", "device", NUMERIC_OPERATORS, "count", True, True, False),
        Metric("aws:num-established-tcp-connections", "device", NUMERIC_OPERATORS, "count", False, True, False),
        Metric("aws:destination-ip-addresses", "device", CIDR_OPERATORS, "cidrs", False, False, False),
        Metric("aws:listening-tcp-ports", "device", PORT_OPERATORS, "ports", False, False, False),
        Metric("aws:listening-udp-ports", "device", PORT_OPERATORS, "ports", False, False, False),
    )
}

CustomMetricType = Literal["number", "number-list", "string-list", "ip-address-list"]
CUSTOM_METRIC_TYPES: tuple[CustomMetricType, ...] = get_args(CustomMetricType)
#: Operators and value field of a behavior on a custom metric, by the metric's type.
CUSTOM_METRIC_RULES: dict[str, tuple[tuple[str, ...], ValueKind]] = {
    "number": (NUMERIC_OPERATORS, "number"),
    "number-list": (SET_OPERATORS, "numbers"),
    "string-list": (SET_OPERATORS, "strings"),
    "ip-address-list": (CIDR_OPERATORS, "cidrs"),
}


@dataclass(frozen=True)
class AuditCheck:
    api_name: str
    cfn_property: str  # key under AccountAuditConfiguration.AuditCheckConfigurations
    severity: Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"]
    #: Accepted in AWS::IoT::ScheduledAudit.TargetCheckNames (the 14 documented classic names;
    #: CloudFormation rejected the others when tried, aws-cdk PR #31776).
    schedulable: bool
    mitigations: tuple[str, ...] = ()


AUDIT_CHECKS: dict[str, AuditCheck] = {
    c.api_name: c
    for c in (
        AuditCheck(
            "AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK",
            "AuthenticatedCognitoRoleOverlyPermissiveCheck",
            "CRITICAL",
            True,
        ),
        AuditCheck(
            "UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK",
            "UnauthenticatedCognitoRoleOverlyPermissiveCheck",
            "CRITICAL",
            True,
        ),
        AuditCheck(
            "CA_CERTIFICATE_EXPIRING_CHECK", "CaCertificateExpiringCheck", "MEDIUM", True, ("UPDATE_CA_CERTIFICATE",)
        ),
        AuditCheck(
            "CA_CERTIFICATE_KEY_QUALITY_CHECK",
            "CaCertificateKeyQualityCheck",
            "CRITICAL",
            True,
            ("UPDATE_CA_CERTIFICATE",),
        ),
        AuditCheck("CONFLICTING_CLIENT_IDS_CHECK", "ConflictingClientIdsCheck", "HIGH", True),
        AuditCheck(
            "DEVICE_CERTIFICATE_EXPIRING_CHECK",
            "DeviceCertificateExpiringCheck",
            "MEDIUM",
            True,
            ("UPDATE_DEVICE_CERTIFICATE", "ADD_THINGS_TO_THING_GROUP"),
        ),
        AuditCheck(
            "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK",
            "DeviceCertificateKeyQualityCheck",
            "CRITICAL",
            True,
            ("UPDATE_DEVICE_CERTIFICATE", "ADD_THINGS_TO_THING_GROUP"),
        ),
        AuditCheck(
            "DEVICE_CERTIFICATE_SHARED_CHECK",
            "DeviceCertificateSharedCheck",
            "CRITICAL",
            True,
            ("UPDATE_DEVICE_CERTIFICATE", "ADD_THINGS_TO_THING_GROUP"),
        ),
        AuditCheck("DEVICE_CERTIFICATE_AGE_CHECK", "DeviceCertificateAgeCheck", "LOW", False),
        AuditCheck(
            "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK",
            "IntermediateCaRevokedForActiveDeviceCertificatesCheck",
            "CRITICAL",
            False,
            ("UPDATE_DEVICE_CERTIFICATE", "ADD_THINGS_TO_THING_GROUP"),
        ),
        AuditCheck(
            "IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
            "IotPolicyOverlyPermissiveCheck",
            "CRITICAL",
            True,
            ("REPLACE_DEFAULT_POLICY_VERSION",),
        ),
        AuditCheck(
            "IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK",
            "IoTPolicyPotentialMisConfigurationCheck",
            "MEDIUM",
            False,
            ("REPLACE_DEFAULT_POLICY_VERSION",),
        ),
        AuditCheck("IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK", "IotRoleAliasOverlyPermissiveCheck", "CRITICAL", True),
        AuditCheck(
            "IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK",
            "IotRoleAliasAllowsAccessToUnusedServicesCheck",
            "MEDIUM",
            True,
        ),
        AuditCheck("LOGGING_DISABLED_CHECK", "LoggingDisabledCheck", "LOW", True, ("ENABLE_IOT_LOGGING",)),
        AuditCheck(
            "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK",
            "RevokedCaCertificateStillActiveCheck",
            "CRITICAL",
            True,
            ("UPDATE_CA_CERTIFICATE",),
        ),
        AuditCheck(
            "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK",
            "RevokedDeviceCertificateStillActiveCheck",
            "MEDIUM",
            True,
            ("UPDATE_DEVICE_CERTIFICATE", "ADD_THINGS_TO_THING_GROUP"),
        ),
    )
}

#: ``AWS::IoT::ScheduledAudit`` Frequency, DayOfWeek and DayOfMonth.
AuditFrequency = Literal["DAILY", "WEEKLY", "BIWEEKLY", "MONTHLY"]
AUDIT_FREQUENCIES: tuple[AuditFrequency, ...] = get_args(AuditFrequency)
#: Frequencies that need a day of the week, and the one that needs a day of the month.
WEEKDAY_FREQUENCIES: tuple[AuditFrequency, ...] = ("WEEKLY", "BIWEEKLY")
MONTHDAY_FREQUENCY: AuditFrequency = "MONTHLY"
DayOfWeek = Literal["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
DAYS_OF_WEEK: tuple[DayOfWeek, ...] = get_args(DayOfWeek)
DAY_OF_MONTH = re.compile(r"[1-9]|[12][0-9]|3[01]|LAST")

SCHEDULABLE_CHECKS = tuple(name for name, c in AUDIT_CHECKS.items() if c.schedulable)
CRITICAL_CHECKS = tuple(name for name, c in AUDIT_CHECKS.items() if c.severity == "CRITICAL")

#: Mitigation action types and the CloudFormation ``ActionParams`` key of each.
MITIGATION_ACTION_PARAMS = {
    "UPDATE_DEVICE_CERTIFICATE": "UpdateDeviceCertificateParams",
    "UPDATE_CA_CERTIFICATE": "UpdateCACertificateParams",
    "ADD_THINGS_TO_THING_GROUP": "AddThingsToThingGroupParams",
    "REPLACE_DEFAULT_POLICY_VERSION": "ReplaceDefaultPolicyVersionParams",
    "ENABLE_IOT_LOGGING": "EnableIoTLoggingParams",
    "PUBLISH_FINDING_TO_SNS": "PublishFindingToSnsParams",
}
#: Levels at which AWS IoT logs something (``DISABLED`` is the off switch, not a level to pick).
LogLevel = Literal["ERROR", "WARN", "INFO", "DEBUG"]
LOG_LEVELS: tuple[LogLevel, ...] = get_args(LogLevel)

#: CloudWatch (namespace AWS/IoT) metric names used by the alarms.
CLOUDWATCH_NAMESPACE = "AWS/IoT"
