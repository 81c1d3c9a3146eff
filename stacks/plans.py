"""Pure planners: the frozen config turned into the frozen specs the constructs take.

The stacks only compose: every derivation from the config (names, parameter patterns, which
behaviours a profile holds, which alarms exist) happens here, in functions of frozen inputs that
can be tested without a synth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from config import Fleet, FleetConfig
from config.defender import Behavior
from config.defender.catalogue import ml_behaviors, rules_behaviors
from config.patterns import max_width, parse_name_template
from constructs_lib.audit import AuditScheduleDef
from constructs_lib.fleet_provisioning import ClaimSpec, CoreSpec, FleetSpec
from constructs_lib.provisioning_template import TemplateParameter, ThingSpec
from constructs_lib.registry import ThingGroupSpec, ThingTypeSpec
from constructs_lib.security_profile import BehaviorDef
from constructs_lib.token_exchange_role import CREDENTIALS_THING_NAME, ArtifactGrant
from contracts.outputs import KIND_DEVICE, KIND_GREENGRASS_CORE, FleetOutput, fleet_key, pascal
from iot_semantics import defender as dd
from iot_semantics import limits
from iot_semantics.policies import THING_NAME_PLACEHOLDER

# Fleet provisioning -------------------------------------------------------------------------------


def claim_certificate_parameter(config: FleetConfig, fleet_name: str) -> str:
    """SSM parameter holding the ID of the claim certificate the stack made for ``fleet_name``."""
    return f"/{config.name_prefix}/{config.stage}/fleets/{fleet_name}/claim-certificate-id"


def allowlist_parameter(config: FleetConfig, what: str) -> str:
    """SSM parameter holding the allowlist's ``table-name`` or ``key-arn`` (read by the Defender stack)."""
    return f"/{config.name_prefix}/{config.stage}/allowlist/{what}"


def fleet_construct_id(fleet_name: str) -> str:
    return f"Fleet{pascal(fleet_name)}"


def thing_types(config: FleetConfig) -> list[ThingTypeSpec]:
    return [
        ThingTypeSpec(config.thing_type_name(t.name), t.description, t.searchable_attributes)
        for t in config.thing_types
    ]


def thing_groups(config: FleetConfig) -> list[ThingGroupSpec]:
    return [
        ThingGroupSpec(
            config.thing_group_name(g.name), g.description, config.thing_group_name(g.parent) if g.parent else None
        )
        for g in config.thing_groups
    ]


def _claim(config: FleetConfig, fleet: Fleet) -> ClaimSpec | None:
    if not fleet.provisioning.by_claim:
        return None
    return ClaimSpec(
        policy_name=config.claim_policy_name_of(fleet),
        client_id_prefix=config.claim_prefix_of(fleet),
        csr_pem=fleet.provisioning.claim_csr_pem or None,
        certificate_id_parameter=claim_certificate_parameter(config, fleet.name),
    )


def thing_name_max_length(fleet: Fleet) -> int:
    """The longest thing name the fleet's parameter patterns allow (128 when a pattern is unbounded)."""
    total = 0
    for text, is_param in parse_name_template(fleet.thing_name).parts:
        if not is_param:
            total += len(text)
            continue
        param = fleet.parameters.get(text)
        width = max_width(param.pattern) if param else None
        if width is None:
            return limits.THING_NAME_MAX
        total += width
    return min(total, limits.THING_NAME_MAX)


def _core(config: FleetConfig, fleet: Fleet) -> CoreSpec | None:
    gg = fleet.greengrass
    if fleet.kind != KIND_GREENGRASS_CORE or gg is None:
        return None
    return CoreSpec(
        access=config.core_access_of(fleet),
        core_thing_group_name=config.core_thing_group_of(fleet),
        credential_duration_seconds=gg.credential_duration_seconds,
        max_session_duration_seconds=gg.max_session_duration_seconds,
        artifacts=tuple(
            ArtifactGrant(a.bucket, a.prefix.replace(THING_NAME_PLACEHOLDER, CREDENTIALS_THING_NAME))
            for a in gg.artifacts
        ),
        thing_name_max_length=thing_name_max_length(fleet),
        log_stream_pattern=(
            gg.log_stream_pattern.replace(THING_NAME_PLACEHOLDER, CREDENTIALS_THING_NAME)
            if gg.log_stream_pattern
            else None
        ),
        client_device_fleets=gg.client_devices.fleets if gg.client_devices else (),
    )


def fleet_spec(config: FleetConfig, fleet: Fleet) -> FleetSpec:
    params = fleet.parameters
    return FleetSpec(
        name=fleet.name,
        description=fleet.description,
        template_name=config.template_name_of(fleet),
        device_policy_name=config.device_policy_name_of(fleet),
        access=config.device_access_of(fleet),
        thing=ThingSpec(
            name=fleet.thing_name,
            thing_type_name=config.thing_type_name(fleet.thing_type),
            thing_group_names=tuple(config.thing_group_name(g) for g in fleet.thing_groups),
            attributes=dict(fleet.attributes),
        ),
        parameters={k: TemplateParameter(p.default) for k, p in params.items()},
        parameter_patterns={k: p.pattern for k, p in params.items()},
        parameter_defaults={k: p.default for k, p in params.items() if p.default is not None},
        serial_parameter=fleet.serial_parameter,
        thing_name_prefix=parse_name_template(fleet.thing_name).literal_prefix,
        device_configuration=dict(fleet.device_configuration),
        enabled=fleet.provisioning.enabled,
        claim=_claim(config, fleet),
        core=_core(config, fleet),
        trusted_parameters=tuple(k for k, p in params.items() if p.trusted),
    )


def fleet_outputs(spec: FleetSpec) -> dict[str, str]:
    """The fleet's outputs the factory CLI reads (``contracts.outputs``), but the claim certificate ID."""
    out = {
        FleetOutput.TEMPLATE_NAME: spec.template_name,
        FleetOutput.KIND: KIND_DEVICE if spec.core is None else KIND_GREENGRASS_CORE,
        FleetOutput.THING_NAME_TEMPLATE: spec.thing.name,
        FleetOutput.SERIAL_PARAMETER: spec.serial_parameter,
        FleetOutput.PARAMETER_PATTERNS: json.dumps(dict(spec.parameter_patterns), sort_keys=True),
        FleetOutput.PARAMETER_DEFAULTS: json.dumps(dict(spec.parameter_defaults), sort_keys=True),
        FleetOutput.PUBLISH_NAMESPACES: json.dumps(list(spec.access.publish_namespaces)),
        FleetOutput.SUBSCRIBE_NAMESPACES: json.dumps(list(spec.access.subscribe_namespaces)),
    }
    if spec.core is None:
        out[FleetOutput.DEVICE_POLICY_NAME] = spec.device_policy_name
    else:
        out[FleetOutput.ROLE_ALIAS_NAME] = spec.core.access.role_alias_name
        out[FleetOutput.CORE_THING_GROUP] = spec.core.core_thing_group_name
        if spec.core.client_device_fleets:
            out[FleetOutput.CLIENT_DEVICE_FLEETS] = json.dumps(list(spec.core.client_device_fleets))
    if spec.claim is not None:
        out[FleetOutput.CLAIM_POLICY_NAME] = spec.claim.policy_name
        out[FleetOutput.CLAIM_CLIENT_ID_PREFIX] = spec.claim.client_id_prefix
    return {fleet_key(spec.name, output): value for output, value in out.items()}


@dataclass(frozen=True)
class TunnelOperatorPlan:
    principals: tuple[str, ...]
    thing_group_names: tuple[str, ...]
    services: tuple[str, ...]
    scope_value: str
    max_lifetime_minutes: int
    external_id: str | None
    require_mfa: bool


def tunnel_operator_plan(config: FleetConfig) -> TunnelOperatorPlan | None:
    t = config.tunneling
    if not t.enabled:
        return None
    return TunnelOperatorPlan(
        principals=t.operator_principals,
        thing_group_names=tuple(config.thing_group_name(g) for g in t.thing_groups),
        services=t.services,
        scope_value=config.qualified("tunnels"),
        max_lifetime_minutes=t.max_lifetime_minutes,
        external_id=t.external_id,
        require_mfa=t.require_mfa,
    )


# Device Defender ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectionPlan:
    """One security profile of a fleet (Rules or ML Detect) and the alarm on its violations."""

    construct_id: str
    alarm_id: str
    profile_name: str
    description: str
    thing_group_names: tuple[str, ...]
    behaviors: tuple[BehaviorDef, ...]


def behavior_def(b: Behavior, custom_types: Mapping[str, str], *, ml_confidence: str | None = None) -> BehaviorDef:
    metric = dd.METRICS.get(b.metric)
    kind = metric.value if metric else dd.CUSTOM_METRIC_RULES[custom_types[b.metric]][1]
    value = list(b.value) if isinstance(b.value, tuple) else b.value
    ml = ml_confidence is not None
    return BehaviorDef(
        name=b.name,
        metric=b.metric,
        operator=None if ml else b.operator,
        value=None if ml else value,
        value_kind=kind,
        duration=None if ml else b.duration,
        statistic=None if ml else b.statistic,
        datapoints_to_alarm=b.datapoints_to_alarm,
        datapoints_to_clear=b.datapoints_to_clear,
        dimension_name=b.dimension,
        dimension_operator=b.dimension_operator,
        suppress_alerts=b.suppress_alerts,
        ml_confidence=ml_confidence,
    )


def detection_plans(config: FleetConfig) -> list[DetectionPlan]:
    """Per fleet a Rules Detect profile, and an ML Detect one where the fleet switches it on."""
    d = config.defender
    custom_types = {m.name: m.type for m in d.custom_metrics}
    plans: list[DetectionPlan] = []
    for fleet in config.fleets:
        detect, agent = d.detect_of(fleet.name), fleet.features.defender_metrics
        variants = [("rules", "Rules", [behavior_def(b, custom_types) for b in rules_behaviors(detect, agent=agent)])]
        if detect.ml_detect.enabled:
            conf = detect.ml_detect.confidence
            ml = [behavior_def(b, custom_types, ml_confidence=conf) for b in ml_behaviors(d, fleet.name, agent=agent)]
            variants.append(("ml", "ML", ml))
        for kind, label, behaviors in variants:
            name = config.qualified(f"{fleet.name}-{kind}")
            plans.append(
                DetectionPlan(
                    construct_id=f"{fleet_construct_id(fleet.name)}{kind.capitalize()}Profile",
                    alarm_id=f"Violations{pascal(fleet.name)}{kind.capitalize()}",
                    profile_name=name,
                    description=f"{label} Detect for fleet {fleet.name}",
                    thing_group_names=tuple(config.thing_group_name(g) for g in fleet.thing_groups),
                    behaviors=tuple(behaviors),
                )
            )
    return plans


def audit_schedules(config: FleetConfig) -> list[AuditScheduleDef]:
    return [
        AuditScheduleDef(
            config.qualified(s.name), s.frequency, s.day_of_week, s.day_of_month, s.checks or dd.SCHEDULABLE_CHECKS
        )
        for s in config.defender.audit.schedules
    ]


def register_thing_alarm_templates(config: FleetConfig) -> dict[str, str]:
    """Alarm key -> template name, one RegisterThing-failures alarm per fleet."""
    return {pascal(f.name): config.template_name_of(f) for f in config.fleets}
