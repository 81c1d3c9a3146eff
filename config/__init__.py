"""The fleet described as data: ``load()`` returns a validated, immutable ``FleetConfig``."""

import os

# The config uses no pydantic plugins; skipping their discovery (a scan of every installed
# distribution's entry points) saves start-up time on every synth.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


from config.errors import ConfigError, ConfigIssue
from config.loader import DEFAULT_CONFIG, load
from config.models import Fleet, FleetConfig

__all__ = ["DEFAULT_CONFIG", "ConfigError", "ConfigIssue", "Fleet", "FleetConfig", "load"]
