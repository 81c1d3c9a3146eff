"""The project's public contracts, dependency-free: CLI plumbing, exit statuses and the stack outputs.

Every package may import this one (it imports nothing of the project and nothing outside the
standard library): the stacks write the outputs named in ``outputs``, the factory CLI and
defender_ops read them; the four CLIs share ``exit_status.ExitStatus`` and ``cli``.
"""

from contracts import cli, exit_status, outputs
from contracts.version import __version__

__all__ = ["__version__", "cli", "exit_status", "outputs"]
