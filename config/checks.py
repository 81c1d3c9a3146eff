"""Rules that relate fields to each other; each returns ConfigIssues with their field paths."""

from __future__ import annotations

import re
from collections.abc import Iterator

from config.defender import checks as defender_checks
from config.errors import ConfigIssue
from config.models import Fleet, FleetConfig
from config.patterns import PLACEHOLDER, max_width, parse_name_template
from iot_semantics import limits, names
from iot_semantics.arns import WORST_CASE_IOT_ARN_PREFIX
from iot_semantics.policies import claim_policy_document, core_policy_document, device_policy_document


def check(config: FleetConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    issues += _thing_types(config)
    issues += _thing_groups(config)
    seen_fleets: set[str] = set()
    seen_templates: dict[str, str] = {}
    for i, fleet in enumerate(config.fleets):
        path = f"fleets[{i}]"
        if fleet.name in seen_fleets:
            issues.append(ConfigIssue(f"{path}.name", fleet.name, "another fleet already has this name"))
        seen_fleets.add(fleet.name)
        template = config.template_name_of(fleet)
        if not names.TEMPLATE_NAME.fullmatch(template):
            issues.append(
                ConfigIssue(
                    f"{path}.name",
                    fleet.name,
                    f"the provisioning template name {template!r} (<name_prefix>-<stage>-<fleet>) breaks "
                    "^[0-9A-Za-z_-]{1,36}$; shorten the fleet name or set template_name",
                )
            )
        if template in seen_templates:
            issues.append(
                ConfigIssue(f"{path}.template_name", template, f"fleet {seen_templates[template]!r} uses it already")
            )
        seen_templates[template] = fleet.name
        issues += _fleet(config, fleet, path)
    issues += _tunneling(config)
    issues += defender_checks.check(config)
    return issues


def _tunneling(config: FleetConfig) -> Iterator[ConfigIssue]:
    t = config.tunneling
    groups = {g.name for g in config.thing_groups}
    if not t.enabled:
        return
    if not t.thing_groups:
        yield ConfigIssue(
            "tunneling.thing_groups", [], "list the thing groups whose things operators may open tunnels to"
        )
    for j, group in enumerate(t.thing_groups):
        if group not in groups:
            yield ConfigIssue(f"tunneling.thing_groups[{j}]", group, "is not a thing group declared under thing_groups")
            continue
        for i, fleet in enumerate(config.fleets):
            if group in fleet.thing_groups and not fleet.features.tunnel_notify:
                yield ConfigIssue(
                    f"fleets[{i}].features.tunnel_notify",
                    False,
                    f"tunneling reaches this fleet's things (group {group!r}) but they do not subscribe to their "
                    "tunnels/notify topic; set features.tunnel_notify: true",
                )


def _thing_types(config: FleetConfig) -> Iterator[ConfigIssue]:
    seen: set[str] = set()
    for i, tt in enumerate(config.thing_types):
        path = f"thing_types[{i}]"
        if tt.name in seen:
            yield ConfigIssue(f"{path}.name", tt.name, "another thing type already has this name")
        seen.add(tt.name)
        if len(config.thing_type_name(tt.name)) > 128:
            yield ConfigIssue(f"{path}.name", tt.name, "with <name_prefix>-<stage>- it exceeds 128 characters")
        if len(tt.searchable_attributes) > limits.SEARCHABLE_ATTRIBUTES_MAX:
            yield ConfigIssue(
                f"{path}.searchable_attributes",
                list(tt.searchable_attributes),
                f"a thing type has at most {limits.SEARCHABLE_ATTRIBUTES_MAX} searchable attributes",
            )
        if len(tt.attributes) > limits.THING_ATTRIBUTES_WITH_TYPE_MAX:
            yield ConfigIssue(
                f"{path}.attributes",
                f"{len(tt.attributes)} attributes",
                f"a thing with a type has at most {limits.THING_ATTRIBUTES_WITH_TYPE_MAX} attributes",
            )
        for j, attr in enumerate(tt.searchable_attributes):
            if tt.attributes and attr not in tt.attributes:
                yield ConfigIssue(
                    f"{path}.searchable_attributes[{j}]", attr, "is not listed under this thing type's attributes"
                )


def _thing_groups(config: FleetConfig) -> Iterator[ConfigIssue]:
    by_name = {g.name: g for g in config.thing_groups}
    seen: set[str] = set()
    for i, group in enumerate(config.thing_groups):
        path = f"thing_groups[{i}]"
        if group.name in seen:
            yield ConfigIssue(f"{path}.name", group.name, "another thing group already has this name")
        seen.add(group.name)
        if len(config.thing_group_name(group.name)) > 128:
            yield ConfigIssue(f"{path}.name", group.name, "with <name_prefix>-<stage>- it exceeds 128 characters")
        if group.parent is None:
            continue
        if group.parent not in by_name:
            yield ConfigIssue(f"{path}.parent", group.parent, "is not a thing group declared under thing_groups")
            continue
        depth, node, visited = 1, group, {group.name}
        while node.parent is not None and node.parent in by_name:
            if node.parent in visited:
                yield ConfigIssue(f"{path}.parent", group.parent, "forms a cycle of parent groups")
                break
            visited.add(node.parent)
            node = by_name[node.parent]
            depth += 1
        else:
            if depth > limits.THING_GROUP_DEPTH_MAX:
                yield ConfigIssue(
                    f"{path}.parent",
                    group.parent,
                    f"makes the hierarchy {depth} levels deep; AWS IoT allows {limits.THING_GROUP_DEPTH_MAX}",
                )


def _ancestors(config: FleetConfig, name: str) -> set[str]:
    by_name = {g.name: g for g in config.thing_groups}
    out: set[str] = set()
    node = by_name.get(name)
    while node is not None and node.parent is not None and node.parent not in out:
        out.add(node.parent)
        node = by_name.get(node.parent)
    return out


def _fleet(config: FleetConfig, fleet: Fleet, path: str) -> Iterator[ConfigIssue]:
    types = {t.name: t for t in config.thing_types}
    groups = {g.name for g in config.thing_groups}
    thing_type = types.get(fleet.thing_type)
    if thing_type is None:
        yield ConfigIssue(
            f"{path}.thing_type",
            fleet.thing_type,
            f"is not a thing type declared under thing_types (declared: {', '.join(sorted(types))})",
        )
    if len(fleet.thing_groups) > limits.THING_GROUPS_PER_THING_MAX:
        yield ConfigIssue(
            f"{path}.thing_groups",
            list(fleet.thing_groups),
            f"a thing can be in at most {limits.THING_GROUPS_PER_THING_MAX} thing groups",
        )
    for j, group in enumerate(fleet.thing_groups):
        if group not in groups:
            yield ConfigIssue(f"{path}.thing_groups[{j}]", group, "is not a thing group declared under thing_groups")
        elif _ancestors(config, group) & set(fleet.thing_groups):
            yield ConfigIssue(
                f"{path}.thing_groups[{j}]",
                group,
                "its parent group is listed too; a thing cannot be in two groups of the same hierarchy",
            )

    params = fleet.parameters
    if fleet.serial_parameter not in params:
        yield ConfigIssue(
            f"{path}.serial_parameter",
            fleet.serial_parameter,
            f"is not one of this fleet's parameters ({', '.join(params)})",
        )
    for name, param in params.items():
        if param.default is not None and not re.fullmatch(param.pattern, param.default):
            yield ConfigIssue(f"{path}.parameters.{name}.default", param.default, f"does not match {param.pattern}")

    yield from _thing_name(fleet, path)
    yield from _attributes(config, fleet, path)
    yield from _placeholders(fleet, "device_configuration", dict(fleet.device_configuration), path)
    yield from _provisioning(config, fleet, path)
    yield from _greengrass(config, fleet, path)
    yield from _authorization(config, fleet, path)
    yield from _policy_sizes(config, fleet, path)


def _greengrass(config: FleetConfig, fleet: Fleet, path: str) -> Iterator[ConfigIssue]:
    gg = fleet.greengrass
    if fleet.kind == "greengrass-core" and gg is None:
        yield ConfigIssue(f"{path}.greengrass", None, "a greengrass-core fleet needs a greengrass section")
        return
    if gg is None:
        if fleet.features.greengrass_discovery and not any(
            f.greengrass and f.greengrass.client_devices and fleet.name in f.greengrass.client_devices.fleets
            for f in config.fleets
        ):
            yield ConfigIssue(
                f"{path}.features.greengrass_discovery",
                True,
                "no Greengrass core fleet lists this fleet under greengrass.client_devices.fleets",
            )
        return
    field = f"{path}.greengrass"
    if fleet.kind != "greengrass-core":
        yield ConfigIssue(f"{path}.kind", fleet.kind, "a fleet with a greengrass section must be kind: greengrass-core")
    if gg.core_thing_group not in fleet.thing_groups:
        yield ConfigIssue(
            f"{field}.core_thing_group",
            gg.core_thing_group,
            f"must be one of this fleet's thing_groups ({', '.join(fleet.thing_groups) or 'none'}) so every "
            "core joins it",
        )
    if gg.credential_duration_seconds > gg.max_session_duration_seconds:
        yield ConfigIssue(
            f"{field}.credential_duration_seconds",
            gg.credential_duration_seconds,
            f"exceeds max_session_duration_seconds ({gg.max_session_duration_seconds}); the credentials provider "
            "cannot issue credentials longer than the role's maximum session",
        )
    alias = config.role_alias_name_of(fleet)
    if not re.fullmatch(r"[\w=,@-]{1,128}", alias):
        yield ConfigIssue(
            f"{field}.role_alias", alias, "role alias names are 1-128 characters of letters, digits, = , @ - _"
        )
    if fleet.features.greengrass_discovery:
        yield ConfigIssue(
            f"{path}.features.greengrass_discovery", True, "is for client devices; a core fleet does not discover cores"
        )
    seen: set[tuple[str, str]] = set()
    for j, art in enumerate(gg.artifacts):
        key = (art.bucket, art.prefix)
        if key in seen:
            yield ConfigIssue(f"{field}.artifacts[{j}]", f"{art.bucket}/{art.prefix}", "is listed twice")
        seen.add(key)
    yield from _client_devices(config, fleet, field)
    longest = "x" * _thing_name_width(fleet)
    size = limits.non_whitespace_length(
        core_policy_document(config.core_access_of(fleet), longest, WORST_CASE_IOT_ARN_PREFIX)
    )
    if size > limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE:
        yield ConfigIssue(
            f"{path}.topics",
            f"{len(fleet.topics.publish)} publish and {len(fleet.topics.subscribe)} subscribe namespaces",
            f"make each core's policy {size} non-whitespace characters for the longest thing name in the longest "
            f"region; AWS IoT accepts {limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE}: use fewer namespaces or "
            "tighten the thing name's parameter patterns",
        )


def _client_devices(config: FleetConfig, fleet: Fleet, field: str) -> Iterator[ConfigIssue]:
    gg = fleet.greengrass
    if gg is None or gg.client_devices is None:
        return
    for j, name in enumerate(gg.client_devices.fleets):
        client = config.fleet_named(name)
        where = f"{field}.client_devices.fleets[{j}]"
        if client is None:
            yield ConfigIssue(where, name, "is not a fleet of this config")
        elif client.kind != "device":
            yield ConfigIssue(where, name, "client devices are device fleets, not Greengrass core fleets")
        elif not parse_name_template(client.thing_name).literal_prefix:
            yield ConfigIssue(
                where, name, "its thing names start with a parameter; give them fixed leading text to scope the core"
            )


def _thing_name_width(fleet: Fleet) -> int:
    total = 0
    for text, is_param in parse_name_template(fleet.thing_name).parts:
        param = fleet.parameters.get(text) if is_param else None
        width = len(text) if not is_param else (max_width(param.pattern) if param else None)
        if width is None:
            return limits.THING_NAME_MAX
        total += width
    return min(total, limits.THING_NAME_MAX)


def _authorization(config: FleetConfig, fleet: Fleet, path: str) -> Iterator[ConfigIssue]:
    """Attributes that authorization depends on come only from trusted values (never the device)."""
    required = fleet.authorization.required_attributes
    if not required:
        return
    field = f"{path}.authorization.required_attributes"
    if fleet.kind == "greengrass-core":
        yield ConfigIssue(
            field,
            ", ".join(required),
            "Greengrass does not support thing policy variables for core devices; attribute conditions "
            "apply only to device fleets",
        )
        return
    for name, allowed in required.items():
        value = fleet.attributes.get(name)
        if value is None:
            yield ConfigIssue(
                f"{field}.{name}",
                list(allowed),
                f"the template sets no attribute {name!r} (fleets[].attributes), so no device could connect",
            )
            continue
        untrusted = [
            ref for ref in PLACEHOLDER.findall(value) if ref in fleet.parameters and not fleet.parameters[ref].trusted
        ]
        for ref in untrusted:
            yield ConfigIssue(
                f"{path}.parameters.{ref}.trusted",
                False,
                f"attribute {name!r} ({value!r}) decides authorization but {{{ref}}} is a value the device chooses "
                "in RegisterThing; set trusted: true so the pre-provisioning hook takes it from the allowlist "
                "entry (or the parameter's default) instead",
            )
        literal = not PLACEHOLDER.findall(value)
        if literal and value not in allowed:
            yield ConfigIssue(
                f"{field}.{name}", list(allowed), f"the template always sets {name}={value!r}, which is not allowed"
            )


def _thing_name(fleet: Fleet, path: str) -> Iterator[ConfigIssue]:
    field = f"{path}.thing_name"
    try:
        template = parse_name_template(fleet.thing_name)
    except ValueError as exc:
        yield ConfigIssue(field, fleet.thing_name, str(exc))
        return
    if not template.parameters:
        yield ConfigIssue(
            field, fleet.thing_name, "must contain at least one {Parameter} so every device gets its own name"
        )
    longest = 0
    for text, is_param in template.parts:
        if not is_param:
            if not names.THING_NAME.fullmatch(text):
                yield ConfigIssue(field, fleet.thing_name, f"literal text {text!r} may hold only a-z A-Z 0-9 : _ -")
            longest += len(text)
            continue
        param = fleet.parameters.get(text)
        if param is None:
            yield ConfigIssue(
                field,
                fleet.thing_name,
                f"{{{text}}} is not one of this fleet's parameters ({', '.join(fleet.parameters)})",
            )
            return
        longest += max_width(param.pattern) or 0
    if longest > limits.THING_NAME_MAX:
        yield ConfigIssue(
            field,
            fleet.thing_name,
            f"can reach {longest} characters given the parameter patterns; thing names are at most "
            f"{limits.THING_NAME_MAX} (tighten the patterns' {{m,n}} bounds or shorten the text)",
        )


def _placeholders(fleet: Fleet, section: str, values: dict[str, str], path: str) -> Iterator[ConfigIssue]:
    for key, value in values.items():
        for ref in PLACEHOLDER.findall(value):
            if ref not in fleet.parameters:
                yield ConfigIssue(
                    f"{path}.{section}.{key}",
                    value,
                    f"{{{ref}}} is not one of this fleet's parameters ({', '.join(fleet.parameters)})",
                )


def _attributes(config: FleetConfig, fleet: Fleet, path: str) -> Iterator[ConfigIssue]:
    types = {t.name: t for t in config.thing_types}
    thing_type = types.get(fleet.thing_type)
    declared = thing_type.attributes if thing_type else ()
    for key, value in fleet.attributes.items():
        if declared and key not in declared:
            yield ConfigIssue(
                f"{path}.attributes.{key}",
                value,
                f"attribute {key!r} is not declared by thing type {fleet.thing_type!r} ({', '.join(declared)})",
            )
        literal = PLACEHOLDER.sub("", value)
        if not names.ATTRIBUTE_VALUE.fullmatch(literal) or len(value) > limits.ATTRIBUTE_VALUE_MAX:
            yield ConfigIssue(
                f"{path}.attributes.{key}",
                value,
                "attribute values are at most 800 characters of a-z A-Z 0-9 _ . , @ / : # = [ ] -",
            )
    yield from _placeholders(fleet, "attributes", dict(fleet.attributes), path)
    if len(fleet.attributes) > limits.THING_ATTRIBUTES_WITH_TYPE_MAX:
        yield ConfigIssue(f"{path}.attributes", len(fleet.attributes), "a thing has at most 50 attributes")


def _provisioning(config: FleetConfig, fleet: Fleet, path: str) -> Iterator[ConfigIssue]:
    prov = fleet.provisioning
    field = f"{path}.provisioning"
    if not (prov.by_claim or prov.trusted_user):
        yield ConfigIssue(field, "by_claim: false, trusted_user: false", "switch on by_claim, trusted_user or both")
    if prov.claim_csr_file and not prov.by_claim:
        yield ConfigIssue(f"{field}.claim_csr_file", prov.claim_csr_file, "is set but by_claim is false")
    if not prov.by_claim:
        return
    prefix = config.claim_prefix_of(fleet)
    if all(names.THING_NAME.fullmatch(ch) for ch in prefix):
        thing_prefix = parse_name_template(fleet.thing_name).literal_prefix
        if not thing_prefix or thing_prefix.startswith(prefix) or prefix.startswith(thing_prefix):
            yield ConfigIssue(
                f"{field}.claim_client_id_prefix",
                prefix,
                "a device's thing name could start with this prefix, so a claim connection could take over "
                "that device's client ID; include a character thing names cannot hold (such as '.') or make "
                "thing_name start with different fixed text",
            )


def _policy_sizes(config: FleetConfig, fleet: Fleet, path: str) -> Iterator[ConfigIssue]:
    """The fleet's IoT policies fit AWS IoT's quota in every region (rendered with the longest ARNs)."""
    limit = limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE
    device = 0
    if fleet.kind == "device":  # a core fleet's per-core policy is sized in _greengrass
        device = limits.non_whitespace_length(
            device_policy_document(config.device_access_of(fleet), WORST_CASE_IOT_ARN_PREFIX)
        )
    if device > limit:
        topics = fleet.topics
        yield ConfigIssue(
            f"{path}.topics",
            f"{len(topics.publish)} publish and {len(topics.subscribe)} subscribe namespaces",
            f"make the fleet's device policy {device} non-whitespace characters in the longest region; AWS IoT "
            f"accepts {limit}: use fewer or shorter namespaces, or switch off features the devices do not use",
        )
    if fleet.provisioning.by_claim:
        claim = limits.non_whitespace_length(
            claim_policy_document(
                template_name=config.template_name_of(fleet),
                client_id_prefix=config.claim_prefix_of(fleet),
                arn_prefix=WORST_CASE_IOT_ARN_PREFIX,
            )
        )
        if claim > limit:
            yield ConfigIssue(
                f"{path}.provisioning",
                config.claim_prefix_of(fleet),
                f"make the claim policy {claim} non-whitespace characters; AWS IoT accepts {limit}: shorten "
                "claim_client_id_prefix or the template name",
            )
