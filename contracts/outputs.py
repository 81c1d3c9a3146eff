"""The stack-outputs contract: the names the stacks write and the deployment tools read.

``cdk deploy --outputs-file`` writes ``{stack: {output key: value}}``; the local double writes the
same format. The stacks create their ``CfnOutput``s with the keys built here, and the factory CLI
and defender_ops find their stack and values with the same functions, so the two sides cannot
drift apart. Values that hold structure are JSON strings (CloudFormation outputs are strings).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

# Fleet provisioning stack ----------------------------------------------------------------------------

#: Comma-separated fleet names; marks the fleet provisioning stack in an outputs file.
FLEET_NAMES = "FleetNames"
ALLOWLIST_TABLE_NAME = "AllowlistTableName"
FACTORY_OPERATOR_ROLE_ARN = "FactoryOperatorRoleArn"
#: The secure tunneling operator role (present when some fleet switches tunneling on).
TUNNEL_OPERATOR_ROLE_ARN = "TunnelOperatorRoleArn"

# Device Defender stack -------------------------------------------------------------------------------

#: Marks the Device Defender stack in an outputs file.
QUARANTINE_GROUP_NAME = "QuarantineGroupName"
ALERT_TOPIC_ARN = "AlertTopicArn"
MITIGATION_ACTION_PREFIX = "MitigationAction"

#: The local double's own section of its outputs file (endpoint, port, CA file, URLs).
DOUBLE_SECTION = "IotDouble"


def pascal(name: str) -> str:
    """``env-sensors`` -> ``EnvSensors``: how a config name appears in construct IDs and output keys."""
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-") if part)


class FleetOutput(Enum):
    """Per-fleet outputs of the fleet provisioning stack: key ``Fleet<Name><value>``."""

    TEMPLATE_NAME = "TemplateName"
    DEVICE_POLICY_NAME = "DevicePolicyName"
    THING_NAME_TEMPLATE = "ThingNameTemplate"
    SERIAL_PARAMETER = "SerialParameter"
    #: JSON object: parameter name -> regular expression
    PARAMETER_PATTERNS = "ParameterPatterns"
    #: JSON object: parameter name -> default value
    PARAMETER_DEFAULTS = "ParameterDefaults"
    #: JSON list of topic namespaces with ``{thing_name}``
    PUBLISH_NAMESPACES = "PublishNamespaces"
    #: JSON list of topic namespaces with ``{thing_name}`` the devices may subscribe to
    SUBSCRIBE_NAMESPACES = "SubscribeNamespaces"
    CLAIM_POLICY_NAME = "ClaimPolicyName"
    CLAIM_CLIENT_ID_PREFIX = "ClaimClientIdPrefix"
    CLAIM_CERTIFICATE_ID = "ClaimCertificateId"
    #: ``device`` or ``greengrass-core`` (absent in older outputs: ``device``)
    KIND = "Kind"
    #: Greengrass core fleets: the role alias the token exchange role is reached through
    ROLE_ALIAS_NAME = "RoleAliasName"
    TOKEN_EXCHANGE_ROLE_ARN = "TokenExchangeRoleArn"  # noqa: S105 - an output key, not a secret
    #: Greengrass core fleets: the thing group every core of the fleet joins
    CORE_THING_GROUP = "CoreThingGroup"
    #: Greengrass core fleets with client devices: JSON list of the device fleets they serve
    CLIENT_DEVICE_FLEETS = "ClientDeviceFleets"


#: Values of ``FleetOutput.KIND``.
KIND_DEVICE = "device"
KIND_GREENGRASS_CORE = "greengrass-core"


def fleet_key(fleet: str, output: FleetOutput) -> str:
    return f"Fleet{pascal(fleet)}{output.value}"


def mitigation_action_key(action: str) -> str:
    """``QuarantineThings`` -> ``MitigationActionQuarantineThings``."""
    return f"{MITIGATION_ACTION_PREFIX}{action}"


class OutputsError(ValueError):
    """The outputs file does not hold what the contract says; the message names the key and the fix."""


def find_stack(outputs: Mapping[str, Any], marker: str, *, stack: str | None = None, what: str) -> Mapping[str, str]:
    """The one stack section holding ``marker`` (or the one named ``stack``)."""
    candidates = {k: v for k, v in outputs.items() if isinstance(v, Mapping) and marker in v}
    if stack is not None:
        candidates = {k: v for k, v in candidates.items() if k == stack}
    if len(candidates) != 1:
        found = ", ".join(sorted(candidates)) or "none"
        raise OutputsError(f"expected one {what} stack in the outputs file, found {found}; pass --stack NAME")
    (values,) = candidates.values()
    return {str(k): str(v) for k, v in values.items()}


@dataclass(frozen=True)
class FleetOutputs:
    """What the factory CLI needs of one fleet, read from its stack's outputs."""

    name: str
    template_name: str
    serial_parameter: str
    thing_name_template: str
    parameter_patterns: Mapping[str, str]
    parameter_defaults: Mapping[str, str]
    publish_namespaces: tuple[str, ...]
    claim_client_id_prefix: str | None
    claim_certificate_id: str | None
    kind: str = KIND_DEVICE
    role_alias_name: str | None = None
    token_exchange_role_arn: str | None = None
    core_thing_group: str | None = None
    subscribe_namespaces: tuple[str, ...] = ()
    client_device_fleets: tuple[str, ...] = ()


def _json(values: Mapping[str, str], key: str, default: str, kind: type) -> Any:
    try:
        value = json.loads(values.get(key, default))
    except json.JSONDecodeError:
        raise OutputsError(f"output {key} is not JSON; redeploy the stack that wrote it") from None
    if not isinstance(value, kind):
        raise OutputsError(f"output {key} must be a JSON {kind.__name__}; redeploy the stack that wrote it")
    return value


def read_fleets(values: Mapping[str, str]) -> dict[str, FleetOutputs]:
    """Every fleet of a fleet provisioning stack's outputs."""
    fleets: dict[str, FleetOutputs] = {}
    for name in filter(None, (n.strip() for n in values.get(FLEET_NAMES, "").split(","))):

        def need(output: FleetOutput, fleet: str = name) -> str:
            key = fleet_key(fleet, output)
            if key not in values:
                raise OutputsError(f"output {key} (fleet {fleet}) is missing; redeploy the fleet provisioning stack")
            return values[key]

        patterns = _json(values, fleet_key(name, FleetOutput.PARAMETER_PATTERNS), "{}", dict)
        defaults = _json(values, fleet_key(name, FleetOutput.PARAMETER_DEFAULTS), "{}", dict)
        namespaces = _json(values, fleet_key(name, FleetOutput.PUBLISH_NAMESPACES), "[]", list)
        subscribe = _json(values, fleet_key(name, FleetOutput.SUBSCRIBE_NAMESPACES), "[]", list)
        clients = _json(values, fleet_key(name, FleetOutput.CLIENT_DEVICE_FLEETS), "[]", list)
        need(FleetOutput.PARAMETER_PATTERNS)
        fleets[name] = FleetOutputs(
            name=name,
            template_name=need(FleetOutput.TEMPLATE_NAME),
            serial_parameter=need(FleetOutput.SERIAL_PARAMETER),
            thing_name_template=need(FleetOutput.THING_NAME_TEMPLATE),
            parameter_patterns={str(k): str(v) for k, v in patterns.items()},
            parameter_defaults={str(k): str(v) for k, v in defaults.items()},
            publish_namespaces=tuple(str(n) for n in namespaces),
            claim_client_id_prefix=values.get(fleet_key(name, FleetOutput.CLAIM_CLIENT_ID_PREFIX)),
            claim_certificate_id=values.get(fleet_key(name, FleetOutput.CLAIM_CERTIFICATE_ID)),
            kind=values.get(fleet_key(name, FleetOutput.KIND), KIND_DEVICE),
            role_alias_name=values.get(fleet_key(name, FleetOutput.ROLE_ALIAS_NAME)),
            token_exchange_role_arn=values.get(fleet_key(name, FleetOutput.TOKEN_EXCHANGE_ROLE_ARN)),
            core_thing_group=values.get(fleet_key(name, FleetOutput.CORE_THING_GROUP)),
            subscribe_namespaces=tuple(str(n) for n in subscribe),
            client_device_fleets=tuple(str(n) for n in clients),
        )
    return fleets
