"""Where to provision: read from the deployment outputs file (AWS or the local double alike).

The outputs' names are the stacks' contract (``contracts.outputs``); this module only reads them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts import outputs as contract
from provisioning.errors import UsageError
from provisioning.manifest import Schema


@dataclass(frozen=True)
class Fleet:
    name: str
    template: str
    serial_parameter: str
    thing_name_template: str
    patterns: Mapping[str, str]
    defaults: Mapping[str, str]
    publish_namespaces: tuple[str, ...]
    claim_prefix: str | None
    claim_certificate_id: str | None
    #: ``contracts.outputs.KIND_DEVICE`` or ``KIND_GREENGRASS_CORE``
    kind: str = contract.KIND_DEVICE
    role_alias: str | None = None
    core_thing_group: str | None = None
    subscribe_namespaces: tuple[str, ...] = ()
    #: Greengrass core fleets: the device fleets whose things are their client devices.
    client_device_fleets: tuple[str, ...] = ()
    token_exchange_role_arn: str | None = None

    @property
    def is_greengrass_core(self) -> bool:
        return self.kind == contract.KIND_GREENGRASS_CORE

    @property
    def schema(self) -> Schema:
        return Schema(patterns=self.patterns, serial_parameter=self.serial_parameter, defaults=self.defaults)

    def thing_name(self, parameters: Mapping[str, str]) -> str:
        return re.sub(r"\{([^{}]*)\}", lambda m: parameters[m.group(1)], self.thing_name_template)

    def check_topic(self, thing: str) -> str | None:
        """A topic the provisioned device may publish to, to prove its certificate works."""
        if not self.publish_namespaces:
            return None
        return self.publish_namespaces[0].replace("{thing_name}", thing) + "/provisioning-check"


@dataclass(frozen=True)
class Target:
    endpoint: str
    port: int
    ca_file: Path
    region: str | None
    control_plane_url: str | None
    fleets: Mapping[str, Fleet]
    stack: str = ""
    #: The IoT credentials provider endpoint (``iot:CredentialProvider``), when known.
    credentials_endpoint: str | None = None

    def fleet(self, name: str) -> Fleet:
        if name not in self.fleets:
            raise UsageError(
                f"fleet {name!r} is not in the outputs file", f"pass --fleet with one of: {', '.join(self.fleets)}"
            )
        return self.fleets[name]

    def identity(self, fleet: Fleet) -> tuple[str, str]:
        """(description, fingerprint) of this target for ``fleet``: endpoint, stack and template.

        The port is left out on purpose: the local double serves a new port each time it starts.
        """
        text = f"{self.endpoint} stack {self.stack} template {fleet.template}"
        return text, hashlib.sha256(text.encode()).hexdigest()


def read_json(path: Path, what: str, fix: str) -> Any:
    """A JSON file as a user gives it: UTF-8 (BOM accepted); every failure is one ``UsageError``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist", fix) from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a directory, not a file", fix) from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}", fix) from None
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path} is not UTF-8 (byte {exc.start})", fix) from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} {path} is not JSON (line {exc.lineno}: {exc.msg})", fix) from None


def _fleets(values: Mapping[str, str]) -> dict[str, Fleet]:
    return {
        name: Fleet(
            name=name,
            template=f.template_name,
            serial_parameter=f.serial_parameter,
            thing_name_template=f.thing_name_template,
            patterns=f.parameter_patterns,
            defaults=f.parameter_defaults,
            publish_namespaces=f.publish_namespaces,
            claim_prefix=f.claim_client_id_prefix,
            claim_certificate_id=f.claim_certificate_id,
            kind=f.kind,
            role_alias=f.role_alias_name,
            core_thing_group=f.core_thing_group,
            subscribe_namespaces=f.subscribe_namespaces,
            client_device_fleets=f.client_device_fleets,
            token_exchange_role_arn=f.token_exchange_role_arn,
        )
        for name, f in contract.read_fleets(values).items()
    }


_OUTPUTS_FIX = "pass --outputs with the file `cdk deploy --outputs-file` wrote (or the double's outputs.json)"


def _read(outputs_file: Path, stack: str | None) -> tuple[dict[str, Any], dict[str, Fleet], dict[str, Any]]:
    """The outputs file, the fleet provisioning stack's fleets and the double's section (or {})."""
    outputs = read_json(outputs_file, "outputs file", _OUTPUTS_FIX)
    if not isinstance(outputs, dict):
        raise UsageError(f"outputs file {outputs_file} must hold a JSON object of stacks", _OUTPUTS_FIX)
    try:
        values = contract.find_stack(outputs, contract.FLEET_NAMES, stack=stack, what="fleet provisioning")
        fleets = _fleets(values)
    except contract.OutputsError as exc:
        raise UsageError(f"{outputs_file}: {exc}", _OUTPUTS_FIX) from None
    double = outputs.get(contract.DOUBLE_SECTION, {})
    return outputs, fleets, double if isinstance(double, dict) else {}


def load_fleets(outputs_file: Path, *, stack: str | None = None) -> tuple[dict[str, Fleet], str | None]:
    """The fleets of the outputs file and the double's region, when it names one (no endpoint needed)."""
    _, fleets, double = _read(outputs_file, stack)
    region = double.get("Region")
    return fleets, str(region) if region else None


def load(
    outputs_file: Path,
    *,
    stack: str | None = None,
    endpoint: str | None = None,
    port: int | None = None,
    ca_file: Path | None = None,
    credentials_endpoint: str | None = None,
) -> Target:
    outputs, fleets, double = _read(outputs_file, stack)
    (stack_name,) = [
        k
        for k, v in outputs.items()
        if isinstance(v, Mapping) and contract.FLEET_NAMES in v and (stack is None or k == stack)
    ]
    resolved_endpoint = endpoint or double.get("Endpoint")
    resolved_ca = ca_file or (Path(double["CaFile"]) if "CaFile" in double else None)
    if not resolved_endpoint:
        raise UsageError("no MQTT endpoint", "pass --endpoint (aws iot describe-endpoint --endpoint-type iot:Data-ATS)")
    if resolved_ca is None:
        raise UsageError("no root CA file", "pass --ca-file AmazonRootCA1.pem")
    if not resolved_ca.is_file():
        raise UsageError(
            f"root CA file {resolved_ca} not found", "pass --ca-file with the endpoint's root CA (AmazonRootCA1.pem)"
        )
    try:
        resolved_port = port or int(double.get("Port", 8883))
    except ValueError:
        raise UsageError(f"{outputs_file}: IotDouble.Port is not a number", _OUTPUTS_FIX) from None
    return Target(
        endpoint=str(resolved_endpoint),
        port=resolved_port,
        ca_file=resolved_ca,
        region=double.get("Region"),
        control_plane_url=double.get("ControlPlaneUrl"),
        fleets=fleets,
        stack=stack_name,
        credentials_endpoint=credentials_endpoint or double.get("CredentialProviderEndpoint"),
    )
