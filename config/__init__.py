"""The fleet described as data: ``load()`` returns a validated, immutable ``FleetConfig``."""

from config.errors import ConfigError, ConfigIssue
from config.loader import DEFAULT_CONFIG, load
from config.models import Fleet, FleetConfig

__all__ = ["DEFAULT_CONFIG", "ConfigError", "ConfigIssue", "Fleet", "FleetConfig", "load"]
