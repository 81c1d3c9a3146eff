"""Thing types and static thing groups (with their hierarchy)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_iot as iot
from constructs import Construct

from contracts.outputs import pascal


@dataclass(frozen=True)
class ThingTypeSpec:
    name: str
    description: str = ""
    searchable_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ThingGroupSpec:
    name: str
    description: str = ""
    parent: str | None = None


def _logical(name: str) -> str:
    return pascal(name.replace(":", "-"))


class ThingRegistry(Construct):
    """Declares thing types and groups; ``thing_types``/``thing_groups`` map names to resources."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        thing_types: Sequence[ThingTypeSpec],
        thing_groups: Sequence[ThingGroupSpec],
    ) -> None:
        super().__init__(scope, id_)
        self.thing_types: dict[str, iot.CfnThingType] = {}
        self.thing_groups: dict[str, iot.CfnThingGroup] = {}
        for type_spec in thing_types:
            props = iot.CfnThingType.ThingTypePropertiesProperty(
                thing_type_description=type_spec.description or None,
                searchable_attributes=list(type_spec.searchable_attributes) or None,
            )
            self.thing_types[type_spec.name] = iot.CfnThingType(
                self, f"Type{_logical(type_spec.name)}", thing_type_name=type_spec.name, thing_type_properties=props
            )
        pending = list(thing_groups)
        while pending:  # parents first, so each child can depend on its parent
            progressed = False
            for spec in list(pending):
                if spec.parent is not None and spec.parent not in self.thing_groups:
                    continue
                group = iot.CfnThingGroup(
                    self,
                    f"Group{_logical(spec.name)}",
                    thing_group_name=spec.name,
                    parent_group_name=spec.parent,
                    thing_group_properties=iot.CfnThingGroup.ThingGroupPropertiesProperty(
                        thing_group_description=spec.description or None
                    ),
                )
                if spec.parent is not None:
                    group.add_resource_dependency(self.thing_groups[spec.parent])
                self.thing_groups[spec.name] = group
                pending.remove(spec)
                progressed = True
            if not progressed:
                missing = ", ".join(sorted(f"{s.name}->{s.parent}" for s in pending))
                raise ValueError(f"thing groups with unknown or cyclic parents: {missing}")
