from constructs_lib.factory_operator.infrastructure import FactoryOperatorRole

__all__ = ["FactoryOperatorRole"]
