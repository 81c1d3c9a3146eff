"""What the AWS IoT Greengrass V2 nucleus boots from: its ``config.yaml`` (``--init-config``).

Two documents, with the keys the nucleus and its plugins read (their sources, at the commits
docs/factory-cli.md cites):

- a **provisioned core** (``core_config``): ``system`` holds ``certificateFilePath``,
  ``privateKeyPath``, ``rootCaPath``, ``rootpath`` and ``thingName``; the nucleus's configuration
  holds ``awsRegion``, ``iotRoleAlias``, ``iotDataEndpoint`` and ``iotCredEndpoint``
  (aws-greengrass-nucleus ``DeviceConfiguration.java``), and ``mqtt.port`` when the data endpoint
  is not on 8883. A key in a PKCS#11 token is named by a ``pkcs11:object=<label>;type=private`` URI
  (aws-greengrass-pkcs11-provider ``Pkcs11URI.java``) and the provider's own configuration
  ``aws.greengrass.crypto.Pkcs11Provider``: ``name``, ``library``, ``slot``, ``userPin`` (its README);
- **provisioning on first boot** (``first_boot_config``): the configuration of the
  ``aws.greengrass.FleetProvisioningByClaim`` plugin (aws-greengrass-fleet-provisioning-by-claim
  ``FleetProvisioningByClaimPlugin.java``: ``rootPath``, ``awsRegion``, ``iotDataEndpoint``,
  ``iotCredentialEndpoint``, ``iotRoleAlias``, ``provisioningTemplate``, ``claimCertificatePath``,
  ``claimCertificatePrivateKeyPath``, ``rootCaPath``, ``templateParameters``, ``mqttPort`` and
  ``deviceId``). ``deviceId`` is the MQTT client ID the plugin connects with; without it the plugin
  uses a random UUID, which the fleet's claim policy (client IDs under its prefix only) refuses, so
  it is always written, inside the prefix.

The YAML is written by ``to_yaml`` (block mappings, every string double-quoted as JSON quotes it):
the factory station needs no YAML library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.errors import UsageError

NUCLEUS = "aws.greengrass.Nucleus"
PKCS11_PROVIDER = "aws.greengrass.crypto.Pkcs11Provider"
FLEET_PROVISIONING_PLUGIN = "aws.greengrass.FleetProvisioningByClaim"
DEFAULT_ROOT = "/greengrass/v2"
DEFAULT_MQTT_PORT = 8883
#: Where the bundle's files go under the nucleus root on the device.
CERTIFICATE_FILE = "certificate.pem"
ROOT_CA_FILE = "root-ca.pem"
PRIVATE_KEY_FILE = "private.key"
CLAIM_CERTIFICATE_FILE = "claim-certs/claim.pem"
CLAIM_KEY_FILE = "claim-certs/claim.key"
#: AWS IoT client IDs: at most 128 bytes (AWS IoT Core quotas).
CLIENT_ID_MAX = 128
_CLIENT_ID_CHARS = re.compile(r"[A-Za-z0-9:_.\-]+")


@dataclass(frozen=True)
class Endpoints:
    region: str
    data_endpoint: str
    data_port: int
    credentials_endpoint: str
    role_alias: str


@dataclass(frozen=True)
class FileKey:
    """The key as a file on the device (the nucleus reads it unencrypted)."""

    path: str


@dataclass(frozen=True)
class Pkcs11Key:
    """The key in a PKCS#11 token, reached through the nucleus's PKCS#11 provider plugin."""

    library: str
    slot: int
    user_pin: str
    label: str

    @property
    def uri(self) -> str:
        return f"pkcs11:object={self.label};type=private"


def device_path(root: str, relative: str) -> str:
    return f"{root.rstrip('/')}/{relative}"


def check_root(root: str) -> str:
    if not root.startswith("/") or "\n" in root:
        raise UsageError(
            f"--greengrass-root {root!r} is not an absolute path", f"pass the nucleus root, e.g. {DEFAULT_ROOT}"
        )
    return root.rstrip("/") or "/"


def _nucleus(endpoints: Endpoints, version: str | None) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "awsRegion": endpoints.region,
        "iotRoleAlias": endpoints.role_alias,
        "iotDataEndpoint": endpoints.data_endpoint,
        "iotCredEndpoint": endpoints.credentials_endpoint,
    }
    if endpoints.data_port != DEFAULT_MQTT_PORT:
        configuration["mqtt"] = {"port": endpoints.data_port}
    nucleus: dict[str, Any] = {"componentType": "NUCLEUS"}
    if version:
        nucleus["version"] = version
    nucleus["configuration"] = configuration
    return nucleus


def core_config(
    *, thing: str, root: str, endpoints: Endpoints, key: FileKey | Pkcs11Key, nucleus_version: str | None = None
) -> dict[str, Any]:
    """The config.yaml of a core device provisioned on the station."""
    services: dict[str, Any] = {NUCLEUS: _nucleus(endpoints, nucleus_version)}
    if isinstance(key, Pkcs11Key):
        services[PKCS11_PROVIDER] = {
            "configuration": {
                "name": "iot-provision",
                "library": key.library,
                "slot": key.slot,
                "userPin": key.user_pin,
            }
        }
    return {
        "system": {
            "certificateFilePath": device_path(root, CERTIFICATE_FILE),
            "privateKeyPath": key.uri if isinstance(key, Pkcs11Key) else key.path,
            "rootCaPath": device_path(root, ROOT_CA_FILE),
            "rootpath": root,
            "thingName": thing,
        },
        "services": services,
    }


def device_id(prefix: str, serial: str) -> str:
    """The plugin's MQTT client ID: inside the claim policy's client-ID prefix, one per device."""
    client_id = f"{prefix}{serial}"
    if not _CLIENT_ID_CHARS.fullmatch(serial) or len(client_id.encode()) > CLIENT_ID_MAX:
        raise UsageError(
            f"serial {serial!r} cannot form the client ID {client_id!r} (letters, digits, ':_.-', at most "
            f"{CLIENT_ID_MAX} bytes with the prefix)",
            "fix the serial in the manifest",
        )
    return client_id


def first_boot_config(
    *,
    root: str,
    endpoints: Endpoints,
    template: str,
    client_id: str,
    parameters: Mapping[str, str],
    nucleus_version: str | None = None,
) -> dict[str, Any]:
    """The config.yaml that provisions the core on its first boot with the fleet's claim."""
    plugin: dict[str, Any] = {
        "rootPath": root,
        "awsRegion": endpoints.region,
        "iotDataEndpoint": endpoints.data_endpoint,
        "iotCredentialEndpoint": endpoints.credentials_endpoint,
        "iotRoleAlias": endpoints.role_alias,
        "provisioningTemplate": template,
        "claimCertificatePath": device_path(root, CLAIM_CERTIFICATE_FILE),
        "claimCertificatePrivateKeyPath": device_path(root, CLAIM_KEY_FILE),
        "rootCaPath": device_path(root, ROOT_CA_FILE),
        "templateParameters": dict(parameters),
        "deviceId": client_id,
    }
    if endpoints.data_port != DEFAULT_MQTT_PORT:
        plugin["mqttPort"] = endpoints.data_port
    return {
        "services": {
            NUCLEUS: _nucleus(endpoints, nucleus_version),
            FLEET_PROVISIONING_PLUGIN: {"configuration": plugin},
        }
    }


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a YAML double-quoted scalar


def to_yaml(document: Mapping[str, Any], indent: int = 0) -> str:
    """Block-style YAML of nested mappings of strings, integers and booleans."""
    lines: list[str] = []
    pad = "  " * indent
    for key, value in document.items():
        if isinstance(value, Mapping):
            if value:
                lines.append(f"{pad}{_scalar(key)}:")
                lines.append(to_yaml(value, indent + 1))
            else:
                lines.append(f"{pad}{_scalar(key)}: {{}}")
        else:
            lines.append(f"{pad}{_scalar(key)}: {_scalar(value)}")
    text = "\n".join(lines)
    return text + "\n" if indent == 0 else text
