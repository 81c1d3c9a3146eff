from constructs_lib.detect_definitions.infrastructure import DetectDefinitions

__all__ = ["DetectDefinitions"]
