"""The project's public contracts, dependency-free: CLI exit statuses and the stack outputs.

Every package may import this one (it imports nothing of the project): the stacks write the
outputs named in ``outputs``, the factory CLI and defender_ops read them; the four CLIs share
``exit_status.ExitStatus``.
"""

from contracts import exit_status, outputs

__all__ = ["exit_status", "outputs"]
