"""Rules that relate the ``defender:`` section to the fleets and to the metric table.

A behaviour is checked against its metric (``iot_semantics.defender.METRICS``, or a declared
custom metric): operator, value kind, duration, statistic and dimension. A fleet's tuning is
checked against the fleet: device-side options need the Device Defender agent, profiles need a
thing group to target, and AWS IoT's quotas hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from config.defender.catalogue import AGENT_OPTIONS, rules_behaviors
from config.defender.models import Behavior, Defender, FleetDetect, Subscription, check_cidr
from config.errors import ConfigIssue
from config.models import Fleet, FleetConfig
from iot_semantics import defender as dd

_ENDPOINTS = {
    "email": (r"[^@\s]+@[^@\s]+\.[^@\s]+", "an e-mail address"),
    "https": (r"https://[^\s]+", "an https:// URL"),
    "sqs": (r"arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[\w-]{1,80}(\.fifo)?", "an SQS queue ARN"),
}


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
    for i, fleet in enumerate(config.fleets):
        detect = d.detect_of(fleet.name)
        issues += _fleet(d, fleet, detect, i)
        for group in fleet.thing_groups:
            targets[group] = targets.get(group, 0) + (2 if detect.ml_detect.enabled else 1)
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


def _fleet(d: Defender, fleet: Fleet, detect: FleetDetect, index: int) -> list[ConfigIssue]:
    base = f"defender.fleets.{fleet.name}"
    agent = fleet.features.defender_metrics
    issues: list[ConfigIssue] = []
    if not fleet.thing_groups:
        issues.append(
            ConfigIssue(
                f"fleets[{index}].thing_groups",
                [],
                "Device Defender profiles target the fleet's thing groups: give the fleet a thing group "
                "(or set defender.enabled: false)",
            )
        )
    if not agent:
        issues += [
            ConfigIssue(
                f"{base}.{option}",
                list(getattr(detect, option)),
                f"has no effect: fleet {fleet.name} runs no Device Defender agent, which reports this metric; "
                "remove it or switch on features.defender_metrics",
            )
            for option in AGENT_OPTIONS
            if option in detect.model_fields_set
        ]
    explicit = [(f"{base}.behaviors[{i}]", b) for i, b in enumerate(detect.behaviors or ())]
    explicit += [(f"{base}.extra_behaviors[{i}]", b) for i, b in enumerate(detect.extra_behaviors)]
    for path, behavior in explicit:
        issues += list(_behavior(behavior, path, fleet, d))
    names = [b.name for b in rules_behaviors(detect, agent=agent)]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        issues.append(ConfigIssue(f"{base}.extra_behaviors", dup, "two behaviours share this name"))
    if len(names) > dd.BEHAVIORS_PER_PROFILE_MAX:
        issues.append(ConfigIssue(base, len(names), "a security profile has at most 100 behaviours"))
    return issues


def _subscription(s: Subscription, path: str) -> list[ConfigIssue]:
    rx, what = _ENDPOINTS[s.protocol]
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
        if s.frequency in dd.WEEKDAY_FREQUENCIES and s.day_of_week is None:
            issues.append(ConfigIssue(f"{path}.day_of_week", None, f"{s.frequency} audits need a day_of_week"))
        if s.frequency == dd.MONTHDAY_FREQUENCY and s.day_of_month is None:
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


@dataclass(frozen=True)
class _MetricRules:
    """What a behaviour on one metric may say."""

    operators: tuple[str, ...]
    kind: dd.ValueKind
    takes_duration: bool
    side: dd.Side
    takes_dimension: bool


def _metric_rules(b: Behavior, d: Defender) -> _MetricRules | None:
    metric = dd.METRICS.get(b.metric)
    if metric is not None:
        return _MetricRules(metric.operators, metric.value, metric.duration, metric.side, metric.dimension)
    custom = {m.name: m for m in d.custom_metrics}.get(b.metric)
    if custom is None:
        return None
    operators, kind = dd.CUSTOM_METRIC_RULES[custom.type]
    return _MetricRules(operators, kind, takes_duration=False, side="device", takes_dimension=False)


def _behavior(b: Behavior, path: str, fleet: Fleet, d: Defender) -> Iterator[ConfigIssue]:
    rules = _metric_rules(b, d)
    if rules is None:
        known = ", ".join(sorted(dd.METRICS))
        yield ConfigIssue(
            f"{path}.metric",
            b.metric,
            f"is not a Device Defender metric ({known}) nor a custom metric declared under defender.custom_metrics",
        )
        return
    if rules.side == "device" and not fleet.features.defender_metrics:
        yield ConfigIssue(
            f"{path}.metric",
            b.metric,
            f"is reported by the Device Defender agent; switch on features.defender_metrics for fleet {fleet.name}",
        )
    if b.operator is None:
        yield ConfigIssue(f"{path}.operator", None, f"is required; one of {', '.join(rules.operators)}")
    elif b.operator not in rules.operators:
        yield ConfigIssue(
            f"{path}.operator", b.operator, f"does not apply to {b.metric}; use one of {', '.join(rules.operators)}"
        )
    yield from _threshold(b, path, rules)
    yield from _duration(b, path, rules)
    if b.dimension is not None:
        if not rules.takes_dimension:
            yield ConfigIssue(f"{path}.dimension", b.dimension, f"{b.metric} does not accept a topic-filter dimension")
        elif b.dimension not in {x.name for x in d.dimensions}:
            yield ConfigIssue(f"{path}.dimension", b.dimension, "is not declared under defender.dimensions")


def _threshold(b: Behavior, path: str, rules: _MetricRules) -> Iterator[ConfigIssue]:
    """A value of the metric's kind, or a statistic on a numeric metric, not both."""
    if b.statistic is not None:
        if b.statistic not in dd.STATISTICS:
            yield ConfigIssue(f"{path}.statistic", b.statistic, f"must be one of {', '.join(dd.STATISTICS)}")
        if b.value is not None:
            yield ConfigIssue(f"{path}.value", b.value, "give either value or statistic, not both")
        if rules.kind != "count":
            yield ConfigIssue(f"{path}.statistic", b.statistic, "statistical thresholds need a numeric metric")
    elif b.value is None:
        yield ConfigIssue(f"{path}.value", None, "is required (or give a statistic)")
    elif problem := _value_problem(rules.kind, b.value):
        yield ConfigIssue(f"{path}.value", b.value, problem)


def _duration(b: Behavior, path: str, rules: _MetricRules) -> Iterator[ConfigIssue]:
    if b.duration is not None:
        if not rules.takes_duration:
            yield ConfigIssue(f"{path}.duration", b.duration, f"{b.metric} takes no duration")
        elif b.duration not in dd.DURATIONS:
            yield ConfigIssue(
                f"{path}.duration", b.duration, f"must be one of {', '.join(map(str, dd.DURATIONS))} seconds"
            )
    elif rules.takes_duration and (b.statistic is not None or rules.kind == "count"):
        yield ConfigIssue(f"{path}.duration", None, f"{b.metric} needs a duration (300, 600, 900, 1800 or 3600)")


def _value_problem(kind: str, value: object) -> str | None:
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return "must be a whole number >= 0"
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
    elif not isinstance(value, tuple) or not value:
        return f"must be a non-empty list of {kind}"
    else:
        return _list_problem(kind, value)
    return None


def _list_problem(kind: str, value: tuple[object, ...]) -> str | None:
    if kind == "cidrs":
        for cidr in value:
            try:
                check_cidr(str(cidr))
            except ValueError as exc:
                return str(exc)
    elif kind == "ports" and not all(isinstance(p, int) and 0 <= p <= 65535 for p in value):
        return "ports are whole numbers 0-65535"
    elif kind == "numbers" and not all(isinstance(p, int | float) and not isinstance(p, bool) for p in value):
        return "must be a list of numbers"
    elif kind == "strings" and not all(isinstance(p, str) for p in value):
        return "must be a list of strings"
    return None
