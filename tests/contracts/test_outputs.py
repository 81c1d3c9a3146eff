"""The outputs contract: keys the stacks write, values the tools read back."""

from __future__ import annotations

import json

import pytest

from contracts import outputs as o


def _fleet_values(name: str = "env-sensors") -> dict[str, str]:
    return {
        o.FLEET_NAMES: name,
        o.fleet_key(name, o.FleetOutput.TEMPLATE_NAME): "acme-dev-env-sensors",
        o.fleet_key(name, o.FleetOutput.SERIAL_PARAMETER): "SerialNumber",
        o.fleet_key(name, o.FleetOutput.THING_NAME_TEMPLATE): "sensor-{SerialNumber}",
        o.fleet_key(name, o.FleetOutput.PARAMETER_PATTERNS): json.dumps({"SerialNumber": "[A-Z0-9]{8}"}),
        o.fleet_key(name, o.FleetOutput.PARAMETER_DEFAULTS): "{}",
        o.fleet_key(name, o.FleetOutput.PUBLISH_NAMESPACES): json.dumps(["dt/{thing_name}"]),
    }


def test_pascal_joins_dashes_and_underscores() -> None:
    assert o.pascal("env-sensors") == "EnvSensors"
    assert o.pascal("edge_gw") == "EdgeGw"
    assert o.fleet_key("env-sensors", o.FleetOutput.TEMPLATE_NAME) == "FleetEnvSensorsTemplateName"


def test_read_fleets_round_trips_what_a_stack_writes() -> None:
    (fleet,) = o.read_fleets(_fleet_values()).values()
    assert fleet.template_name == "acme-dev-env-sensors"
    assert fleet.parameter_patterns == {"SerialNumber": "[A-Z0-9]{8}"}
    assert fleet.publish_namespaces == ("dt/{thing_name}",)
    assert fleet.claim_certificate_id is None
    assert fleet.kind == o.KIND_DEVICE  # older outputs: a device fleet
    assert fleet.role_alias_name is None


def test_a_greengrass_core_fleet_carries_its_role_alias() -> None:
    values = _fleet_values("cores")
    values[o.fleet_key("cores", o.FleetOutput.KIND)] = o.KIND_GREENGRASS_CORE
    values[o.fleet_key("cores", o.FleetOutput.ROLE_ALIAS_NAME)] = "acme-dev-cores-tes"
    (fleet,) = o.read_fleets(values).values()
    assert (fleet.kind, fleet.role_alias_name) == (o.KIND_GREENGRASS_CORE, "acme-dev-cores-tes")


def test_missing_key_names_the_key_and_fleet() -> None:
    values = _fleet_values()
    del values["FleetEnvSensorsTemplateName"]
    with pytest.raises(o.OutputsError, match=r"FleetEnvSensorsTemplateName \(fleet env-sensors\) is missing"):
        o.read_fleets(values)


def test_a_json_output_of_the_wrong_shape_is_refused() -> None:
    values = _fleet_values()
    values["FleetEnvSensorsParameterPatterns"] = "[]"
    with pytest.raises(o.OutputsError, match="must be a JSON dict"):
        o.read_fleets(values)


def test_find_stack_needs_exactly_one() -> None:
    doc = {"A": {o.FLEET_NAMES: "x"}, "B": {o.FLEET_NAMES: "y"}, "IotDouble": {"Port": "1"}}
    with pytest.raises(o.OutputsError, match="found A, B"):
        o.find_stack(doc, o.FLEET_NAMES, what="fleet provisioning")
    assert o.find_stack(doc, o.FLEET_NAMES, stack="B", what="fleet provisioning") == {o.FLEET_NAMES: "y"}
