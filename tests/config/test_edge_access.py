"""Greengrass core fleets, tunneling and registry-based authorization in the config: each bad value is
refused with the field, the value and what to do."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import config as fleet_config
from tests.conftest import example_data, write_config

Mutation = Callable[[dict[str, Any]], None]
SENSORS, GATEWAYS, CORES = 0, 1, 2


def _error(tmp_path: Path, mutate: Mutation) -> str:
    data = copy.deepcopy(example_data())
    mutate(data)
    with pytest.raises(fleet_config.ConfigError) as info:
        fleet_config.load(write_config(tmp_path, data))
    return str(info.value)


def test_example_switches_each_part_on() -> None:
    config = fleet_config.load()
    cores = config.fleet_named("cores")
    assert cores is not None
    assert cores.kind == "greengrass-core"
    assert cores.greengrass is not None
    assert config.role_alias_name_of(cores) == "acme-dev-cores-tes"
    assert config.core_thing_group_of(cores) == "acme-dev-plant-a-cores"
    gateways = config.fleet_named("gateways")
    assert gateways is not None
    assert gateways.features.tunnel_notify
    assert dict(gateways.authorization.required_attributes) == {"site": ("pla01", "pla02")}
    assert gateways.parameters["SiteCode"].trusted
    assert config.tunneling.enabled
    assert config.tunneling.thing_groups == ("plant-a-gateways",)


def test_auth_attribute_from_a_device_chosen_parameter_is_refused(tmp_path: Path) -> None:
    def untrusted(d: dict[str, Any]) -> None:
        d["fleets"][GATEWAYS]["parameters"]["SiteCode"]["trusted"] = False

    text = _error(tmp_path, untrusted)
    assert "fleets[1].parameters.SiteCode.trusted" in text
    assert "decides authorization" in text
    assert "set trusted: true" in text


def test_auth_attribute_the_template_never_sets_is_refused(tmp_path: Path) -> None:
    def no_attribute(d: dict[str, Any]) -> None:
        d["fleets"][GATEWAYS]["authorization"]["required_attributes"] = {"model": ["GW-2"], "zone": ["z1"]}

    text = _error(tmp_path, no_attribute)
    assert "required_attributes.zone" in text
    assert "sets no attribute 'zone'" in text
    assert "required_attributes.model" not in text  # a literal the template always sets, and allowed


def test_auth_literal_value_outside_the_allowed_ones_is_refused(tmp_path: Path) -> None:
    def wrong(d: dict[str, Any]) -> None:
        d["fleets"][GATEWAYS]["authorization"]["required_attributes"] = {"model": ["GW-3"]}

    assert "always sets model='GW-2'" in _error(tmp_path, wrong)


def test_attribute_conditions_on_a_core_fleet_are_refused(tmp_path: Path) -> None:
    def on_core(d: dict[str, Any]) -> None:
        d["fleets"][CORES]["authorization"] = {"required_attributes": {"site": ["pla01"]}}

    assert "does not support thing policy variables for core devices" in _error(tmp_path, on_core)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["fleets"][CORES]["greengrass"].update(credential_duration_seconds=7200), "exceeds max_session"),
        (lambda d: d["fleets"][CORES]["greengrass"].update(credential_duration_seconds=600), "900-43200"),
        (lambda d: d["fleets"][CORES]["greengrass"].update(core_thing_group="plant-a"), "one of this fleet's"),
        (lambda d: d["fleets"][CORES].pop("greengrass"), "needs a greengrass section"),
        (lambda d: d["fleets"][CORES].update(kind="device"), "must be kind: greengrass-core"),
        (
            lambda d: d["fleets"][CORES]["greengrass"]["artifacts"].append({"bucket": "b-1", "prefix": "x/*"}),
            "no wildcards",
        ),
        (
            lambda d: d["fleets"][CORES]["greengrass"]["artifacts"].append(
                {"bucket": "bkt", "prefix": "d-{thing_name}"}
            ),
            "one whole path segment",
        ),
        (lambda d: d["fleets"][CORES]["greengrass"]["artifacts"].append({"bucket": "*"}), "S3 bucket name"),
        (lambda d: d["fleets"][CORES]["greengrass"]["client_devices"].update(fleets=["nope"]), "is not a fleet"),
        (lambda d: d["fleets"][CORES]["greengrass"]["client_devices"].update(fleets=["cores"]), "device fleets"),
        (lambda d: d["fleets"][CORES]["greengrass"].pop("client_devices"), "no Greengrass core fleet lists"),
    ],
    ids=[
        "credential over session",
        "credential too short",
        "core group not the fleet's",
        "core fleet without section",
        "section on a device fleet",
        "artifact wildcard",
        "thing name inside a segment",
        "bucket wildcard",
        "unknown client fleet",
        "core as client",
        "discovery without a core",
    ],
)
def test_bad_greengrass_values(tmp_path: Path, mutate: Mutation, expected: str) -> None:
    assert expected in _error(tmp_path, mutate)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["tunneling"].update(thing_groups=["nowhere"]), "tunneling.thing_groups[0]"),
        (lambda d: d["tunneling"].update(thing_groups=[]), "list the thing groups"),
        (lambda d: d["tunneling"].update(services=["SSH*"]), "no wildcards"),
        (lambda d: d["tunneling"].update(max_lifetime_minutes=721), "1-720 minutes"),
        (lambda d: d["fleets"][GATEWAYS]["features"].update(tunnel_notify=False), "set features.tunnel_notify"),
        (lambda d: d["tunneling"].update(operator_principals=["bob"]), "IAM role, user or account-root ARN"),
    ],
    ids=["undeclared group", "no group", "service wildcard", "lifetime", "fleet not listening", "principal"],
)
def test_bad_tunneling_values(tmp_path: Path, mutate: Mutation, expected: str) -> None:
    assert expected in _error(tmp_path, mutate)


def test_tunneling_off_needs_nothing(tmp_path: Path) -> None:
    data = copy.deepcopy(example_data())
    data["tunneling"] = {"enabled": False}
    data["fleets"][GATEWAYS]["features"]["tunnel_notify"] = False
    assert not fleet_config.load(write_config(tmp_path, data)).tunneling.enabled
