"""One exit-status contract for every command line of the project (docs/cli.md)."""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitStatus(IntEnum):
    """What a command's exit status means, the same for all four CLIs."""

    #: Everything asked for was done (no finding at or above the gate, every device provisioned).
    OK = 0
    #: The command ran, and its result is negative: findings at or above the gate, some devices
    #: failed, a check failed, a question answered "deny".
    FAILED = 1
    #: Usage, input or configuration error: bad arguments, a bad manifest, config or cdk.out.
    #: Nothing was changed.
    USAGE = 2
    #: The target or the environment is unreachable or unusable: endpoint down, wrong CA,
    #: credentials missing, key store or token unavailable, clock off. Nothing more was tried.
    UNAVAILABLE = 3
    #: Interrupted by SIGINT or SIGTERM; finished work is kept (128 + SIGINT).
    INTERRUPTED = 130
