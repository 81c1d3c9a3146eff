"""Typed, immutable models of the fleet configuration (``config/fleet.yaml``).

Shape and per-field rules live here; rules that relate fields to each other (a fleet naming an
unknown thing type, a thing name that can exceed 128 characters) live in ``config.checks``.
Every rule's message says what is allowed, so a bad value can be fixed from the message alone.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from config import patterns
from config.defender.models import Defender
from iot_semantics import names, regions
from iot_semantics.policies import DeviceTopicAccess


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


def _freeze(value: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(value))


def _match(value: str, rx: re.Pattern[str], rule: str) -> str:
    if not rx.fullmatch(value):
        raise ValueError(rule)
    return value


NAME_PREFIX = re.compile(r"[a-z][a-z0-9-]{0,19}")
STAGE = re.compile(r"[a-z][a-z0-9]{0,9}")
FLEET_NAME = re.compile(r"[a-z][a-z0-9-]{0,23}")
PARAMETER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
ACCOUNT = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]{1,512}|user/[\w+=,.@/-]{1,512})")
TAG_KEY = re.compile(r"[\w.:/=+@ -]{1,128}")
DEVICE_CONFIG_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
CLIENT_ID_PREFIX = re.compile(r"[A-Za-z0-9:_.-]{1,64}")


class Environment(_Model):
    """Where the stacks deploy; omit to use the CLI's credentials (``CDK_DEFAULT_*``)."""

    account: str | None = None
    region: str | None = None

    @field_validator("account")
    @classmethod
    def _account(cls, v: str | None) -> str | None:
        return None if v is None else _match(v, ACCOUNT, "must be a 12-digit AWS account ID (quote it in YAML)")

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is None:
            return None
        _match(v, REGION, "must be an AWS region name such as eu-west-1")
        if v not in regions.REGIONS:
            close = difflib.get_close_matches(v, sorted(regions.REGIONS), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"is not an AWS region; {hint}(the known regions are listed in iot_semantics/regions.py)")
        return v


class ThingType(_Model):
    name: str
    description: str = ""
    attributes: tuple[str, ...] = ()
    searchable_attributes: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _match(v, names.THING_TYPE_NAME, "must be 1-128 characters of a-z A-Z 0-9 : _ -")

    @field_validator("description")
    @classmethod
    def _description(cls, v: str) -> str:
        if len(v) > 2028 or not v.isprintable():
            raise ValueError("must be at most 2028 printable characters")
        return v

    @field_validator("attributes", "searchable_attributes")
    @classmethod
    def _attributes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            _match(
                item,
                names.ATTRIBUTE_NAME,
                f"attribute {item!r} must be 1-128 characters of a-z A-Z 0-9 _ . , @ / : # -",
            )
        if len(set(v)) != len(v):
            raise ValueError("lists an attribute twice")
        return v


class ThingGroup(_Model):
    name: str
    description: str = ""
    parent: str | None = None

    @field_validator("name", "parent")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is None:
            return v
        return _match(v, names.THING_GROUP_NAME, "must be 1-128 characters of a-z A-Z 0-9 : _ -")

    @field_validator("description")
    @classmethod
    def _description(cls, v: str) -> str:
        if len(v) > 2028 or not v.isprintable():
            raise ValueError("must be at most 2028 printable characters")
        return v


class Parameter(_Model):
    """A provisioning template parameter the device sends in RegisterThing."""

    pattern: str
    description: str = ""
    default: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        patterns.check_bounded_anchored(v)
        return v


def _namespace(value: str) -> str:
    patterns.check_topic_namespace(value)
    return value


Namespace = Annotated[str, AfterValidator(_namespace)]


class Topics(_Model):
    """The device's own MQTT namespaces; each holds ``{thing_name}`` as one whole level."""

    publish: tuple[Namespace, ...] = ()
    subscribe: tuple[Namespace, ...] = ()

    @field_validator("publish", "subscribe")
    @classmethod
    def _namespaces(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("lists a namespace twice")
        return v


class Features(_Model):
    """Switches for the reserved topics a device may use."""

    shadow: bool = True
    jobs: bool = True
    defender_metrics: bool = False
    defender_metrics_format: Literal["json", "cbor"] = "json"
    tunnel_notify: bool = False


class Provisioning(_Model):
    by_claim: bool = True
    trusted_user: bool = False
    claim_client_id_prefix: str | None = None
    claim_csr_file: str | None = None
    #: The claim CSR itself (PEM); the loader fills it from ``claim_csr_file``.
    claim_csr_pem: str | None = None
    enabled: bool = True

    @field_validator("claim_client_id_prefix")
    @classmethod
    def _prefix(cls, v: str | None) -> str | None:
        if v is None:
            return v
        return _match(v, CLIENT_ID_PREFIX, "must be 1-64 characters of A-Z a-z 0-9 : _ . - (no wildcards)")


class Fleet(_Model):
    name: str
    thing_type: str
    thing_groups: tuple[str, ...] = ()
    thing_name: str
    parameters: Annotated[Mapping[str, Parameter], Field(min_length=1)]
    serial_parameter: str
    attributes: Mapping[str, str] = Field(default_factory=lambda: MappingProxyType({}))
    topics: Topics = Topics()
    features: Features = Features()
    provisioning: Provisioning = Provisioning()
    device_configuration: Mapping[str, str] = Field(default_factory=lambda: MappingProxyType({}))
    template_name: str | None = None
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _match(v, FLEET_NAME, "must start with a-z and be 1-24 characters of a-z 0-9 -")

    @field_validator("template_name")
    @classmethod
    def _template_name(cls, v: str | None) -> str | None:
        if v is None:
            return v
        return _match(v, names.TEMPLATE_NAME, "must match ^[0-9A-Za-z_-]{1,36}$ (provisioning template name)")

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, v: Mapping[str, Parameter]) -> Mapping[str, object]:
        for key in v:
            if key.startswith("AWS::"):
                raise ValueError(f"parameter {key!r}: names starting with AWS:: are reserved for AWS IoT")
            _match(
                key, PARAMETER_NAME, f"parameter name {key!r} must start with a letter and be 1-64 letters or digits"
            )
        return _freeze(v)

    @field_validator("attributes")
    @classmethod
    def _attrs(cls, v: Mapping[str, str]) -> Mapping[str, object]:
        for key in v:
            _match(
                key,
                names.ATTRIBUTE_NAME,
                f"attribute name {key!r} must be 1-128 characters of a-z A-Z 0-9 _ . , @ / : # -",
            )
        return _freeze(v)

    @field_validator("device_configuration")
    @classmethod
    def _devconf(cls, v: Mapping[str, str]) -> Mapping[str, object]:
        for key in v:
            _match(key, DEVICE_CONFIG_KEY, f"key {key!r} must be 1-64 characters of A-Z a-z 0-9 _ . -")
        return _freeze(v)

    @field_validator("description")
    @classmethod
    def _description(cls, v: str) -> str:
        if len(v) > 500 or not v.isprintable():
            raise ValueError("must be at most 500 printable characters (template description limit)")
        return v


class Factory(_Model):
    """Who may provision as a trusted user (assume the factory operator role)."""

    operator_principals: tuple[str, ...] = ()
    external_id: str | None = None

    @field_validator("operator_principals")
    @classmethod
    def _principals(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for arn in v:
            _match(arn, PRINCIPAL_ARN, f"{arn!r} must be an IAM role, user or account-root ARN")
        return v

    @field_validator("external_id")
    @classmethod
    def _external_id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[\w+=,.@:/-]{2,1224}", v):
            raise ValueError("must be 2-1224 characters of letters, digits and + = , . @ : / -")
        return v


class FleetConfig(_Model):
    """The whole fleet, as declared in one YAML file."""

    name_prefix: str
    stage: str
    environment: Environment = Environment()
    tags: Mapping[str, str] = Field(default_factory=lambda: MappingProxyType({}))
    retain_data: bool = True
    thing_types: Annotated[tuple[ThingType, ...], Field(min_length=1)]
    thing_groups: tuple[ThingGroup, ...] = ()
    factory: Factory = Factory()
    fleets: Annotated[tuple[Fleet, ...], Field(min_length=1)]
    defender: Defender = Field(default_factory=Defender)  # a default instance would be deep-copied (mappingproxy)

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return _match(v, NAME_PREFIX, "must start with a-z and be 1-20 characters of a-z 0-9 -")

    @field_validator("stage")
    @classmethod
    def _stage(cls, v: str) -> str:
        return _match(v, STAGE, "must start with a-z and be 1-10 characters of a-z 0-9")

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: Mapping[str, str]) -> Mapping[str, object]:
        for key, value in v.items():
            _match(key, TAG_KEY, f"tag key {key!r} must be 1-128 characters")
            if key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r}: the aws: prefix is reserved")
            if len(value) > 256:
                raise ValueError(f"tag {key!r}: values are at most 256 characters")
        return _freeze(v)

    # Names of the resources the stacks create -------------------------------------------------

    def qualified(self, name: str) -> str:
        """Account-unique name of a resource: ``<prefix>-<stage>-<name>``."""
        return f"{self.name_prefix}-{self.stage}-{name}"

    def template_name_of(self, fleet: Fleet) -> str:
        return fleet.template_name or self.qualified(fleet.name)

    def device_policy_name_of(self, fleet: Fleet) -> str:
        return self.qualified(f"{fleet.name}-device")

    def device_access_of(self, fleet: Fleet) -> DeviceTopicAccess:
        """What the fleet's device policy grants: its namespaces and the reserved topics it switches on."""
        features = fleet.features
        return DeviceTopicAccess(
            thing_type_name=self.thing_type_name(fleet.thing_type),
            publish_namespaces=fleet.topics.publish,
            subscribe_namespaces=fleet.topics.subscribe,
            shadow=features.shadow,
            jobs=features.jobs,
            defender_metrics_format=features.defender_metrics_format if features.defender_metrics else None,
            tunnel_notify=features.tunnel_notify,
        )

    def claim_policy_name_of(self, fleet: Fleet) -> str:
        return self.qualified(f"{fleet.name}-claim")

    def claim_prefix_of(self, fleet: Fleet) -> str:
        """Client-ID prefix of claim connections; by default it holds '.', which no thing name can."""
        return fleet.provisioning.claim_client_id_prefix or f"claim.{self.qualified(fleet.name)}."

    def thing_type_name(self, name: str) -> str:
        return self.qualified(name)

    def thing_group_name(self, name: str) -> str:
        return self.qualified(name)

    def quarantine_group_name(self) -> str:
        return self.qualified("quarantine")
