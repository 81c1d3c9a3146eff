"""The defender: section: bad values give one message each, naming the field, value and rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import config as fleet_config
from config.defender.catalogue import ml_behaviors, rules_behaviors
from tests.conftest import example_data, write_config

Mutation = Callable[[dict[str, Any]], None]


def _behavior(**fields: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        base = {"name": "X", "metric": "aws:num-messages-sent", "operator": "greater-than", "value": 5, "duration": 300}
        base.update(fields)
        data["defender"]["fleets"]["sensors"]["extra_behaviors"] = [base]

    return mutate


def _set(path: list[str | int], value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def _all(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for m in mutations:
            m(data)

    return mutate


def _no_agent(data: dict[str, Any]) -> None:
    data["fleets"][1]["features"]["defender_metrics"] = False
    data["defender"]["fleets"]["gateways"]["extra_behaviors"] = [
        {"name": "Out", "metric": "aws:all-bytes-out", "operator": "greater-than", "value": 1, "duration": 300}
    ]


BEHAVIOR = "defender.fleets.sensors.extra_behaviors[0]"
CASES: list[tuple[str, Mutation, str, str]] = [
    (
        "unknown metric",
        _behavior(metric="aws:cpu-usage"),
        f"{BEHAVIOR}.metric: 'aws:cpu-usage'",
        "is not a Device Defender metric",
    ),
    (
        "wrong operator for metric",
        _behavior(operator="in-cidr-set"),
        f"{BEHAVIOR}.operator: 'in-cidr-set'",
        "does not apply to aws:num-messages-sent; use one of less-than",
    ),
    ("duration 120", _behavior(duration=120), f"{BEHAVIOR}.duration: 120", "must be one of 300, 600, 900, 1800, 3600"),
    (
        "duration on a metric without one",
        _behavior(metric="aws:message-byte-size"),
        f"{BEHAVIOR}.duration: 300",
        "takes no duration",
    ),
    ("missing duration", _behavior(duration=None), f"{BEHAVIOR}.duration: (missing)", "needs a duration"),
    ("negative count", _behavior(value=-1), f"{BEHAVIOR}.value: -1", "whole number >= 0"),
    (
        "bad cidr",
        _behavior(metric="aws:source-ip-address", operator="in-cidr-set", value=["10.0.0.300/8"], duration=None),
        f"{BEHAVIOR}.value",
        "is not a CIDR block",
    ),
    (
        "port out of range",
        _behavior(metric="aws:listening-tcp-ports", operator="in-port-set", value=[70000], duration=None),
        f"{BEHAVIOR}.value",
        "0-65535",
    ),
    ("both value and statistic", _behavior(statistic="p90"), f"{BEHAVIOR}.value: 5", "either value or statistic"),
    ("bad statistic", _behavior(value=None, statistic="p95"), f"{BEHAVIOR}.statistic: 'p95'", "must be one of Average"),
    (
        "datapoints out of range",
        _behavior(datapoints_to_alarm=11),
        f"{BEHAVIOR}.datapoints_to_alarm: 11",
        "less than or equal to 10",
    ),
    (
        "dimension on a metric without",
        _behavior(metric="aws:num-disconnects", dimension="command-topics"),
        f"{BEHAVIOR}.dimension",
        "does not accept a topic-filter dimension",
    ),
    (
        "unknown dimension",
        _behavior(dimension="nope"),
        f"{BEHAVIOR}.dimension: 'nope'",
        "is not declared under defender.dimensions",
    ),
    (
        "custom metric with a wrong operator",
        _behavior(metric="battery_level", operator="in-set", duration=None),
        f"{BEHAVIOR}.operator: 'in-set'",
        "does not apply to battery_level",
    ),
    (
        "device metric without the agent",
        _no_agent,
        "defender.fleets.gateways.extra_behaviors[0].metric: 'aws:all-bytes-out'",
        "switch on features.defender_metrics",
    ),
    ("unknown fleet", _set(["defender", "fleets", "toasters"], {}), "defender.fleets.toasters", "is not a fleet"),
    (
        "bad e-mail",
        _set(["defender", "alerts", "subscriptions"], [{"protocol": "email", "endpoint": "secops"}]),
        "defender.alerts.subscriptions[0].endpoint: 'secops'",
        "must be an e-mail address",
    ),
    (
        "unknown protocol",
        _set(["defender", "alerts", "subscriptions"], [{"protocol": "sms", "endpoint": "+1"}]),
        "defender.alerts.subscriptions[0].protocol: 'sms'",
        "'email', 'https' or 'sqs'",
    ),
    (
        "non-schedulable check",
        _set(
            ["defender", "audit", "schedules"],
            [{"name": "d", "frequency": "DAILY", "checks": ["IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK"]}],
        ),
        "defender.audit.schedules[0].checks[0]",
        "CloudFormation rejects this check in a scheduled audit",
    ),
    (
        "weekly without day",
        _set(["defender", "audit", "schedules"], [{"name": "w", "frequency": "WEEKLY"}]),
        "defender.audit.schedules[0].day_of_week",
        "need a day_of_week",
    ),
    (
        "expiry threshold zero",
        _set(["defender", "audit", "device_certificate_expiry_days"], 0),
        "defender.audit.device_certificate_expiry_days: 0",
        "greater than or equal to 1",
    ),
    (
        "listening ports without the agent",
        _set(["fleets", 0, "features", "defender_metrics"], False),
        "defender.fleets.sensors.listening_tcp_ports: []",
        "has no effect: fleet sensors runs no Device Defender agent",
    ),
    (
        "destination allowlist without the agent",
        _all(
            _set(["fleets", 1, "features", "defender_metrics"], False),
            _set(["defender", "fleets", "gateways", "destination_ip_cidrs"], ["10.0.0.0/8"]),
        ),
        "defender.fleets.gateways.destination_ip_cidrs: ['10.0.0.0/8']",
        "remove it or switch on features.defender_metrics",
    ),
    (
        "bad source cidr",
        _set(["defender", "fleets", "gateways", "source_ip_cidrs"], ["not-an-ip"]),
        "defender.fleets.gateways.source_ip_cidrs",
        "is not a CIDR block",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "where", "rule"), CASES, ids=[c[0] for c in CASES])
def test_bad_defender_value(tmp_path: Path, case: str, mutate: Mutation, where: str, rule: str) -> None:
    data = copy.deepcopy(example_data())
    mutate(data)
    with pytest.raises(fleet_config.ConfigError) as info:
        fleet_config.load(write_config(tmp_path, data))
    text = str(info.value)
    assert where in text, text
    assert rule in text, text
    assert "Traceback" not in text


def test_defaults_give_device_side_behaviours_only_to_agent_fleets(tmp_path: Path) -> None:
    data = copy.deepcopy(example_data())
    data["fleets"][1]["features"]["defender_metrics"] = False
    del data["defender"]["fleets"]["gateways"]["listening_tcp_ports"]  # it would have no effect (refused)
    config = fleet_config.load(write_config(tmp_path, data))
    sensors, gateways, _cores = config.fleets
    assert sensors.features.defender_metrics
    assert not gateways.features.defender_metrics
    sensor_metrics = {b.metric for b in rules_behaviors(config.defender.detect_of("sensors"), agent=True)}
    gateway_metrics = {b.metric for b in rules_behaviors(config.defender.detect_of("gateways"), agent=False)}
    assert "aws:all-bytes-out" in sensor_metrics
    assert "aws:all-bytes-out" not in gateway_metrics
    assert "aws:source-ip-address" in gateway_metrics  # the gateways have a source CIDR allowlist
    assert {b.metric for b in ml_behaviors(config.defender, "gateways", agent=False)} == {
        "aws:message-byte-size",
        "aws:num-messages-sent",
        "aws:num-messages-received",
        "aws:num-authorization-failures",
        "aws:num-connection-attempts",
        "aws:num-disconnects",
    }


def test_empty_listening_port_allowlist_means_no_listening_port(tmp_path: Path) -> None:
    config = fleet_config.load(write_config(tmp_path, example_data()))
    assert config.fleets[0].features.defender_metrics
    behaviors = {b.metric: b for b in rules_behaviors(config.defender.detect_of("sensors"), agent=True)}
    assert behaviors["aws:num-listening-tcp-ports"].operator == "greater-than"
    assert behaviors["aws:num-listening-tcp-ports"].value == 0
