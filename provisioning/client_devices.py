"""Greengrass client devices: the client device auth component's ``deviceGroups`` for a core fleet.

Pure data, no CDK: the factory CLI (``iot-provision greengrass-components``) writes it into a
``aws greengrassv2 create-deployment --cli-input-json`` document. Keys and semantics are those of
aws-greengrass-client-device-auth (docs/greengrass.md cites the files):

- ``deviceGroups``: ``formatVersion`` (``2021-03-05``), ``definitions`` (group name ->
  ``selectionRule``, ``policyName``) and ``policies`` (policy name -> statement name ->
  ``statementDescription``, ``operations``, ``resources``);
- a selection rule ``thingName: <start>*`` matches thing names starting with ``<start>``; the
  thing name of a session is the MQTT client ID, accepted only when the client's certificate is
  attached to that thing;
- ``${iot:Connection.Thing.ThingName}`` is the one policy variable the component resolves in
  resources (version 2.5.0 and later; earlier versions match it literally, so nothing is granted);
- resources match with ``*`` as a glob spanning levels and ``#``/``+`` as literal characters.

So each fleet's devices may connect only as their own thing name and publish or subscribe only
below their own thing-name level of the fleet's topic namespaces, the same ``/*`` resources
their AWS IoT policy has: ``dt/sensors/sensor-1/*`` does not match ``dt/sensors/sensor-10/x``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provisioning.errors import UsageError

AUTH_COMPONENT = "aws.greengrass.clientdevices.Auth"
MOQUETTE_COMPONENT = "aws.greengrass.clientdevices.mqtt.Moquette"
#: The first client device auth release that resolves policy variables (its source's tags).
AUTH_MIN_VERSION = (2, 5, 0)
#: Release tags of the components' source repositories; whether a region's catalogue has them is
#: not verified, so both are options (--auth-version, --moquette-version).
DEFAULT_AUTH_VERSION = "2.5.2"
DEFAULT_MOQUETTE_VERSION = "2.3.7"
FORMAT_VERSION = "2021-03-05"
THING_NAME_VARIABLE = "${iot:Connection.Thing.ThingName}"
PLACEHOLDER = "{thing_name}"
#: What a selection rule's thing name may hold besides a trailing '*' (its grammar's THINGNAME;
#: ':' is escaped as '\:').
_SELECTOR_TEXT = re.compile(r"[A-Za-z0-9_:-]+")
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class ClientFleet:
    """A device fleet whose things connect to the cores: its thing-name start and its namespaces."""

    name: str
    thing_name_template: str
    publish_namespaces: tuple[str, ...]
    subscribe_namespaces: tuple[str, ...]

    @property
    def name_start(self) -> str:
        """The fixed text before the template's first ``{parameter}``."""
        return self.thing_name_template.split("{", 1)[0]


def _selector(fleet: ClientFleet) -> str:
    start = fleet.name_start
    if not start or not _SELECTOR_TEXT.fullmatch(start):
        raise UsageError(
            f"client device fleet {fleet.name}: its thing names ({fleet.thing_name_template}) have no fixed start "
            "of letters, digits and _ - :, so no selection rule can hold only its devices",
            "give the fleet's thing_name a fixed start such as 'sensor-{SerialNumber}'",
        )
    return "thingName: " + start.replace(":", "\\:") + "*"


def _own(fleet: ClientFleet, namespace: str, kind: str) -> str:
    if namespace.split("/").count(PLACEHOLDER) != 1 or namespace.count("{") != 1 or any(c in namespace for c in "*#+$"):
        raise UsageError(
            f"client device fleet {fleet.name}: {kind} namespace {namespace!r} must hold {PLACEHOLDER} as one whole "
            "level and no wildcard",
            "fix the fleet's topics in the config and redeploy",
        )
    return f"{namespace.replace(PLACEHOLDER, THING_NAME_VARIABLE)}/*"


def _check_disjoint(fleets: Sequence[ClientFleet]) -> None:
    for a in fleets:
        for b in fleets:
            if a is not b and b.name_start.startswith(a.name_start):
                raise UsageError(
                    f"client device fleets {a.name} and {b.name}: thing names starting {b.name_start!r} also start "
                    f"{a.name_start!r}, so {b.name}'s devices would get {a.name}'s permissions too",
                    "give each client device fleet a thing-name start that is not the start of another's",
                )


def device_groups(fleets: Sequence[ClientFleet]) -> dict[str, Any]:
    """The ``deviceGroups`` object: one group and one policy per client device fleet."""
    if not fleets:
        raise UsageError("the core fleet declares no client device fleets", "list them under greengrass.client_devices")
    _check_disjoint(fleets)
    definitions: dict[str, Any] = {}
    policies: dict[str, Any] = {}
    for fleet in fleets:
        policy = f"{fleet.name}-policy"
        definitions[fleet.name] = {"selectionRule": _selector(fleet), "policyName": policy}
        statements: dict[str, Any] = {
            "connect": {
                "statementDescription": "connect only with the client ID that is the device's own thing name",
                "operations": ["mqtt:connect"],
                "resources": [f"mqtt:clientId:{THING_NAME_VARIABLE}"],
            }
        }
        publish = [f"mqtt:topic:{_own(fleet, n, 'publish')}" for n in fleet.publish_namespaces]
        subscribe = [f"mqtt:topicfilter:{_own(fleet, n, 'subscribe')}" for n in fleet.subscribe_namespaces]
        if publish:
            statements["publish"] = {
                "statementDescription": "publish below the device's own thing-name level of the fleet's namespaces",
                "operations": ["mqtt:publish"],
                "resources": publish,
            }
        if subscribe:
            statements["subscribe"] = {
                "statementDescription": "subscribe below the device's own thing-name level of the fleet's namespaces",
                "operations": ["mqtt:subscribe"],
                "resources": subscribe,
            }
        policies[policy] = statements
    return {"formatVersion": FORMAT_VERSION, "definitions": definitions, "policies": policies}


def check_auth_version(version: str) -> str:
    match = _VERSION.fullmatch(version)
    if not match or tuple(int(g) for g in match.groups()) < AUTH_MIN_VERSION:
        minimum = ".".join(map(str, AUTH_MIN_VERSION))
        raise UsageError(
            f"--auth-version {version!r}: the policies name {THING_NAME_VARIABLE}, which client device auth resolves "
            f"from {minimum} on (earlier versions grant nothing with them)",
            f"pass a version {minimum} or later",
        )
    return version


def deployment(
    fleets: Sequence[ClientFleet],
    *,
    target_arn: str,
    deployment_name: str,
    auth_version: str = DEFAULT_AUTH_VERSION,
    moquette_version: str | None = DEFAULT_MOQUETTE_VERSION,
) -> dict[str, Any]:
    """A CreateDeployment request (``--cli-input-json``): client device auth merged with the groups,
    and the Moquette broker with its defaults (``moquette_version=None`` leaves the broker out)."""
    components: dict[str, Any] = {
        AUTH_COMPONENT: {
            "componentVersion": check_auth_version(auth_version),
            "configurationUpdate": {"merge": json.dumps({"deviceGroups": device_groups(fleets)}, sort_keys=True)},
        }
    }
    if moquette_version is not None:
        components[MOQUETTE_COMPONENT] = {"componentVersion": moquette_version}
    return {"targetArn": target_arn, "deploymentName": deployment_name, "components": components}
