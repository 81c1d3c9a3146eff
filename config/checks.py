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
from iot_semantics.policies import claim_policy_document, device_policy_document


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
    issues += defender_checks.check(config)
    return issues


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
    yield from _policy_sizes(config, fleet, path)


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
