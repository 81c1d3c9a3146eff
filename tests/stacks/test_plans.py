"""The stacks' planners over the frozen config, without a synth; and the outputs contract end to end."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import config as fleet_config
from contracts import outputs
from stacks import plans
from tests.conftest import Synth, example_data, write_config


def load(tmp_path: Path, data: dict[str, Any] | None = None) -> fleet_config.FleetConfig:
    return fleet_config.load(write_config(tmp_path, data or example_data()))


def test_fleet_spec_carries_the_names_and_the_policy_access(tmp_path: Path) -> None:
    config = load(tmp_path)
    sensors, gateways, cores = (plans.fleet_spec(config, f) for f in config.fleets)
    assert sensors.template_name == "acme-dev-sensors"
    assert sensors.device_policy_name == "acme-dev-sensors-device"
    assert sensors.thing.name == "sensor-{SerialNumber}"
    assert sensors.thing.thing_type_name == "acme-dev-env-sensor"
    assert sensors.thing_name_prefix == "sensor-"
    assert sensors.access.defender_metrics_format == "json"
    assert sensors.access.publish_namespaces == ("dt/sensors/{thing_name}",)
    assert gateways.parameter_defaults == {"SiteCode": "pla01"}
    assert sensors.claim is not None
    assert sensors.claim.client_id_prefix == "claim.acme-dev-sensors."
    assert sensors.claim.csr_pem is None, "no CSR in the example: no claim certificate"
    assert sensors.claim.certificate_id_parameter == "/acme/dev/fleets/sensors/claim-certificate-id"
    assert sensors.core is None
    assert gateways.core is None
    assert gateways.trusted_parameters == ("SiteCode",)
    assert dict(gateways.access.required_attributes) == {"site": ("pla01", "pla02")}
    assert cores.core is not None
    assert cores.core.access.role_alias_name == "acme-dev-cores-tes"
    assert cores.core.core_thing_group_name == "acme-dev-plant-a-cores"
    assert cores.core.access.client_device_prefixes == ("sensor-",)
    assert cores.core.thing_name_max_length == len("core-pla01-GC12345678")
    assert [a.prefix for a in cores.core.artifacts] == ["components/", "devices/${credentials-iot:ThingName}/"]


def test_fleet_outputs_read_back_through_the_contract(tmp_path: Path) -> None:
    config = load(tmp_path)
    values: dict[str, str] = {outputs.FLEET_NAMES: ",".join(f.name for f in config.fleets)}
    for fleet in config.fleets:
        values.update(plans.fleet_outputs(plans.fleet_spec(config, fleet)))
    fleets = outputs.read_fleets(values)
    assert fleets["sensors"].template_name == "acme-dev-sensors"
    assert fleets["gateways"].parameter_defaults == {"SiteCode": "pla01"}
    assert fleets["sensors"].claim_client_id_prefix == "claim.acme-dev-sensors."
    assert fleets["sensors"].claim_certificate_id is None
    assert fleets["sensors"].kind == outputs.KIND_DEVICE
    assert fleets["cores"].kind == outputs.KIND_GREENGRASS_CORE
    assert fleets["cores"].role_alias_name == "acme-dev-cores-tes"
    assert fleets["cores"].core_thing_group == "acme-dev-plant-a-cores"
    assert fleets["cores"].client_device_fleets == ("sensors",)
    assert fleets["sensors"].subscribe_namespaces == ("cmd/sensors/{thing_name}",)
    assert fleets["sensors"].client_device_fleets == ()


def test_the_synthesized_outputs_follow_the_contract(synth: Synth) -> None:
    template = synth.templates["fleet_provisioning"]
    values = {k: v["Value"] for k, v in template["Outputs"].items()}
    fleets = outputs.read_fleets({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()})
    assert set(fleets) == {f.name for f in synth.config.fleets}
    assert fleets["sensors"].parameter_patterns == {
        name: p.pattern for name, p in synth.config.fleets[0].parameters.items()
    }
    assert outputs.fleet_key("sensors", outputs.FleetOutput.CLAIM_CERTIFICATE_ID) in values  # the CSR is set
    defender = synth.templates["device_defender"]["Outputs"]
    assert outputs.QUARANTINE_GROUP_NAME in defender
    assert outputs.mitigation_action_key("QuarantineThings") in defender


def test_detection_plans_give_rules_to_every_fleet_and_ml_where_asked(tmp_path: Path) -> None:
    config = load(tmp_path)
    by_id = {p.construct_id: p for p in plans.detection_plans(config)}
    assert set(by_id) == {
        "FleetSensorsRulesProfile",
        "FleetGatewaysRulesProfile",
        "FleetGatewaysMlProfile",
        "FleetCoresRulesProfile",
    }
    ml = by_id["FleetGatewaysMlProfile"]
    assert ml.alarm_id == "ViolationsGatewaysMl"
    assert ml.profile_name == "acme-dev-gateways-ml"
    assert ml.description == "ML Detect for fleet gateways"
    assert ml.thing_group_names == ("acme-dev-plant-a-gateways",)
    assert all(b.ml_confidence == "HIGH" and b.operator is None and b.value is None for b in ml.behaviors)
    rules = by_id["FleetSensorsRulesProfile"]
    battery = next(b for b in rules.behaviors if b.metric == "battery_level")
    assert (battery.operator, battery.value, battery.value_kind) == ("less-than", 10, "number")


def test_audit_schedules_default_to_every_schedulable_check(tmp_path: Path) -> None:
    data = copy.deepcopy(example_data())
    data["defender"]["audit"]["schedules"] = [{"name": "weekly", "frequency": "WEEKLY", "day_of_week": "MON"}]
    (schedule,) = plans.audit_schedules(load(tmp_path, data))
    assert schedule.name == "acme-dev-weekly"
    assert "DEVICE_CERTIFICATE_AGE_CHECK" not in schedule.checks  # CloudFormation rejects it in a schedule
    assert "IOT_POLICY_OVERLY_PERMISSIVE_CHECK" in schedule.checks
