"""Where to provision: read from the deployment outputs file (AWS or the local double alike)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.errors import ProvisioningError


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

    def fleet(self, name: str) -> Fleet:
        if name not in self.fleets:
            raise ProvisioningError(f"fleet {name!r} is not in the outputs file", f"known: {', '.join(self.fleets)}")
        return self.fleets[name]


def _pascal(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("-") if p)


def load(
    outputs_file: Path,
    *,
    stack: str | None = None,
    endpoint: str | None = None,
    port: int | None = None,
    ca_file: Path | None = None,
) -> Target:
    try:
        outputs: dict[str, Any] = json.loads(outputs_file.read_text())
    except OSError as exc:
        raise ProvisioningError(
            f"cannot read {outputs_file}: {exc.strerror}", "pass --outputs with cdk deploy's file"
        ) from None
    except json.JSONDecodeError as exc:
        raise ProvisioningError(
            f"{outputs_file} is not JSON (line {exc.lineno})", "pass cdk deploy's --outputs-file"
        ) from None
    stacks = {k: v for k, v in outputs.items() if isinstance(v, dict) and "FleetNames" in v}
    if stack is not None:
        stacks = {k: v for k, v in stacks.items() if k == stack}
    if len(stacks) != 1:
        raise ProvisioningError(
            f"expected one fleet provisioning stack in {outputs_file}, found {', '.join(stacks) or 'none'}",
            "pass --stack NAME",
        )
    (values,) = stacks.values()
    fleets = {}
    for name in values["FleetNames"].split(","):
        key = f"Fleet{_pascal(name)}"
        fleets[name] = Fleet(
            name=name,
            template=values[f"{key}TemplateName"],
            serial_parameter=values[f"{key}SerialParameter"],
            thing_name_template=values[f"{key}ThingNameTemplate"],
            patterns=json.loads(values[f"{key}ParameterPatterns"]),
            defaults=json.loads(values.get(f"{key}ParameterDefaults", "{}")),
            publish_namespaces=tuple(json.loads(values.get(f"{key}PublishNamespaces", "[]"))),
            claim_prefix=values.get(f"{key}ClaimClientIdPrefix"),
            claim_certificate_id=values.get(f"{key}ClaimCertificateId"),
        )
    double = outputs.get("IotDouble", {})
    resolved_endpoint = endpoint or double.get("Endpoint")
    resolved_ca = ca_file or (Path(double["CaFile"]) if "CaFile" in double else None)
    if not resolved_endpoint:
        raise ProvisioningError(
            "no MQTT endpoint", "pass --endpoint (aws iot describe-endpoint --endpoint-type iot:Data-ATS)"
        )
    if resolved_ca is None or not resolved_ca.exists():
        raise ProvisioningError(f"root CA file {resolved_ca} not found", "pass --ca-file AmazonRootCA1.pem")
    return Target(
        endpoint=resolved_endpoint,
        port=port or int(double.get("Port", 8883)),
        ca_file=resolved_ca,
        region=double.get("Region"),
        control_plane_url=double.get("ControlPlaneUrl"),
        fleets=fleets,
    )
