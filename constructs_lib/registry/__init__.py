from constructs_lib.registry.infrastructure import ThingGroupSpec, ThingRegistry, ThingTypeSpec

__all__ = ["ThingGroupSpec", "ThingRegistry", "ThingTypeSpec"]
