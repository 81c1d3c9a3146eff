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
from config.patterns import parse_name_template
from iot_semantics import names, regions
from iot_semantics.policies import THING_NAME_PLACEHOLDER, CoreAccess, DeviceTopicAccess


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
    """A provisioning template parameter the device sends in RegisterThing.

    ``trusted``: the value never comes from the device. The pre-provisioning hook returns it as a
    parameter override from the serial's allowlist entry (its ``parameters`` map), or else this
    parameter's ``default``; what the device sent is ignored. Thing attributes that authorization
    depends on (``authorization.required_attributes``) must be built only from trusted parameters.
    """

    pattern: str
    description: str = ""
    default: str | None = None
    trusted: bool = False

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
    #: Greengrass client devices: ``greengrass:Discover`` of the cores they may connect to.
    greengrass_discovery: bool = False


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


S3_BUCKET = re.compile(r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_PREFIX = re.compile(r"[A-Za-z0-9!_.'()/{}-]{0,512}")
ROLE_ALIAS = re.compile(r"[\w=,@-]{1,128}")
#: The credentials provider's credential duration (RoleAlias CredentialDurationSeconds).
CREDENTIAL_DURATION_MIN, CREDENTIAL_DURATION_MAX = 900, 43200
#: An IAM role's MaxSessionDuration.
MAX_SESSION_MIN, MAX_SESSION_MAX = 3600, 43200


class ArtifactLocation(_Model):
    """An S3 location the fleet's cores may read component artifacts from.

    ``prefix`` may hold ``{thing_name}`` as one whole path segment; it becomes
    ``${credentials-iot:ThingName}``, so each core reads only its own objects there.
    """

    bucket: str
    prefix: str = ""

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        return _match(v, S3_BUCKET, "must be an S3 bucket name: 3-63 characters of a-z 0-9 . - (no wildcards)")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        _match(v, S3_PREFIX, "must be an S3 key prefix of letters, digits and ! _ . ' ( ) / - (no wildcards)")
        braces = re.findall(r"\{[^{}]*\}", v)
        if any(b != THING_NAME_PLACEHOLDER for b in braces) or v.count("{") != len(braces):
            raise ValueError(f"may hold only {THING_NAME_PLACEHOLDER} in braces")
        if braces and THING_NAME_PLACEHOLDER not in v.split("/"):
            raise ValueError(
                f"must hold {THING_NAME_PLACEHOLDER} as one whole path segment (e.g. devices/{{thing_name}}/)"
            )
        if v.startswith("/"):
            raise ValueError("S3 keys do not start with '/'")
        return v


class ClientDevices(_Model):
    """Greengrass client devices the fleet's cores serve (client device auth, local MQTT broker)."""

    #: Device fleets whose things may connect to these cores; their thing names scope the core's
    #: VerifyClientDeviceIoTCertificateAssociation.
    fleets: Annotated[tuple[str, ...], Field(min_length=1)]


class Greengrass(_Model):
    """A fleet of AWS IoT Greengrass V2 core devices (``kind: greengrass-core``)."""

    #: The thing group every core of the fleet joins (deployments target it); one of the fleet's groups.
    core_thing_group: str
    #: The role alias the nucleus's ``iotRoleAlias`` names; default ``<prefix>-<stage>-<fleet>-tes``.
    role_alias: str | None = None
    #: Lifetime of the credentials the credentials provider hands out (900-43200 s).
    credential_duration_seconds: int = 3600
    #: The token exchange role's MaxSessionDuration (3600-43200 s); at least the credential duration.
    max_session_duration_seconds: int = 3600
    #: Where component artifacts live; the token exchange role may read only these.
    artifacts: tuple[ArtifactLocation, ...] = ()
    #: The CloudWatch log streams (in /aws/greengrass/ log groups) each core may write, with
    #: {thing_name} for the core's own name, e.g. "/*/thing/{thing_name}" (how the log manager names
    #: its streams is not verified; default: any stream of Greengrass's log groups).
    log_stream_pattern: str | None = None
    client_devices: ClientDevices | None = None

    @field_validator("log_stream_pattern")
    @classmethod
    def _streams(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.fullmatch(r"[A-Za-z0-9_./#*{}-]{1,512}", v) or v.count("{") != v.count(THING_NAME_PLACEHOLDER):
            raise ValueError(f"must be log-stream name text with '*' wildcards and at most {THING_NAME_PLACEHOLDER}")
        if THING_NAME_PLACEHOLDER not in v:
            raise ValueError(f"must hold {THING_NAME_PLACEHOLDER}, so each core writes only its own streams")
        return v

    @field_validator("core_thing_group")
    @classmethod
    def _group(cls, v: str) -> str:
        return _match(v, names.THING_GROUP_NAME, "must be 1-128 characters of a-z A-Z 0-9 : _ -")

    @field_validator("role_alias")
    @classmethod
    def _alias(cls, v: str | None) -> str | None:
        return None if v is None else _match(v, ROLE_ALIAS, "must be 1-128 characters of letters, digits and = , @ - _")

    @field_validator("credential_duration_seconds")
    @classmethod
    def _duration(cls, v: int) -> int:
        if not CREDENTIAL_DURATION_MIN <= v <= CREDENTIAL_DURATION_MAX:
            raise ValueError(f"must be {CREDENTIAL_DURATION_MIN}-{CREDENTIAL_DURATION_MAX} seconds")
        return v

    @field_validator("max_session_duration_seconds")
    @classmethod
    def _session(cls, v: int) -> int:
        if not MAX_SESSION_MIN <= v <= MAX_SESSION_MAX:
            raise ValueError(f"must be {MAX_SESSION_MIN}-{MAX_SESSION_MAX} seconds (IAM MaxSessionDuration)")
        return v


class Authorization(_Model):
    """Registry-based authorization: the device may connect only while its thing's attributes hold
    one of the listed values (``iot:Connection.Thing.Attributes[<name>]`` on iot:Connect)."""

    required_attributes: Mapping[str, tuple[str, ...]] = Field(default_factory=lambda: MappingProxyType({}))

    @field_validator("required_attributes")
    @classmethod
    def _required(cls, v: Mapping[str, tuple[str, ...]]) -> Mapping[str, object]:
        for key, values in v.items():
            _match(
                key,
                names.ATTRIBUTE_NAME,
                f"attribute name {key!r} must be 1-128 characters of a-z A-Z 0-9 _ . , @ / : # -",
            )
            if not values:
                raise ValueError(f"attribute {key!r}: list at least one allowed value")
            for value in values:
                if not value or not names.ATTRIBUTE_VALUE.fullmatch(value) or any(c in value for c in "*?$"):
                    raise ValueError(
                        f"attribute {key!r}: value {value!r} must be non-empty a-z A-Z 0-9 _ . , @ / : # = [ ] - "
                        "(no wildcards)"
                    )
        return _freeze(v)


FleetKind = Literal["device", "greengrass-core"]


class Fleet(_Model):
    name: str
    kind: FleetKind = "device"
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
    greengrass: Greengrass | None = None
    authorization: Authorization = Field(default_factory=Authorization)

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


class _AssumedBy(_Model):
    """Who may assume an operator role: principal ARNs, and an external ID they must present."""

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


class Factory(_AssumedBy):
    """Who may provision as a trusted user (assume the factory operator role)."""


TUNNEL_SERVICE = re.compile(r"[a-zA-Z0-9_-]{1,128}")
#: OpenTunnel's maxLifetimeTimeoutMinutes.
TUNNEL_LIFETIME_MAX_MINUTES = 720


class Tunneling(_AssumedBy):
    """The secure tunneling operator role: who may open tunnels, to which thing groups, for which services."""

    enabled: bool = False
    require_mfa: bool = False
    #: Tunnels may be opened only to things in these groups (declared under thing_groups; their
    #: child groups included, as AWS IoT evaluates iot:ThingGroupArn over the thing's groups).
    thing_groups: tuple[str, ...] = ()
    #: Destination services the operator may name (``SSH``, ...), as the device's agent maps them.
    services: tuple[str, ...] = ("SSH",)
    #: The lifetime operators open tunnels with, and the operator role's session length.
    max_lifetime_minutes: int = 60

    @field_validator("thing_groups")
    @classmethod
    def _groups(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for g in v:
            _match(g, names.THING_GROUP_NAME, f"{g!r} must be 1-128 characters of a-z A-Z 0-9 : _ -")
        if len(set(v)) != len(v):
            raise ValueError("lists a thing group twice")
        return v

    @field_validator("services")
    @classmethod
    def _services(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("list at least one destination service (such as SSH)")
        for svc in v:
            _match(svc, TUNNEL_SERVICE, f"service {svc!r} must be 1-128 characters of a-z A-Z 0-9 _ - (no wildcards)")
        return v

    @field_validator("max_lifetime_minutes")
    @classmethod
    def _lifetime(cls, v: int) -> int:
        if not 1 <= v <= TUNNEL_LIFETIME_MAX_MINUTES:
            raise ValueError(f"must be 1-{TUNNEL_LIFETIME_MAX_MINUTES} minutes (OpenTunnel maxLifetimeTimeoutMinutes)")
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
    tunneling: Tunneling = Tunneling()
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
            required_attributes={k: tuple(v) for k, v in fleet.authorization.required_attributes.items()},
            greengrass_discover_prefix=(
                parse_name_template(fleet.thing_name).literal_prefix if features.greengrass_discovery else None
            ),
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

    # Greengrass core fleets and secure tunneling -------------------------------------------------

    def fleet_named(self, name: str) -> Fleet | None:
        return next((f for f in self.fleets if f.name == name), None)

    def role_alias_name_of(self, fleet: Fleet) -> str:
        gg = fleet.greengrass
        if gg is None:
            raise ValueError(f"fleet {fleet.name!r} is not a Greengrass core fleet")
        return gg.role_alias or self.qualified(f"{fleet.name}-tes")

    def core_access_of(self, fleet: Fleet) -> CoreAccess:
        """What each core of a Greengrass core fleet may use (its own policy names the core)."""
        gg = fleet.greengrass
        if gg is None:
            raise ValueError(f"fleet {fleet.name!r} is not a Greengrass core fleet")
        features = fleet.features
        clients = [self.fleet_named(n) for n in (gg.client_devices.fleets if gg.client_devices else ())]
        return CoreAccess(
            role_alias_name=self.role_alias_name_of(fleet),
            publish_namespaces=fleet.topics.publish,
            subscribe_namespaces=fleet.topics.subscribe,
            shadow=features.shadow,
            jobs=features.jobs,
            defender_metrics_format=features.defender_metrics_format if features.defender_metrics else None,
            tunnel_notify=features.tunnel_notify,
            client_device_prefixes=tuple(
                p for c in clients if c is not None and (p := parse_name_template(c.thing_name).literal_prefix)
            ),
        )

    def core_thing_group_of(self, fleet: Fleet) -> str:
        gg = fleet.greengrass
        if gg is None:
            raise ValueError(f"fleet {fleet.name!r} is not a Greengrass core fleet")
        return self.thing_group_name(gg.core_thing_group)
