"""The factory CLI's one exception: every failure says its cause and how to fix it."""

from __future__ import annotations


class ProvisioningError(Exception):
    """``cause`` is what went wrong, ``fix`` what the operator should do."""

    def __init__(self, cause: str, fix: str = "", *, transient: bool = False) -> None:
        super().__init__(cause if not fix else f"{cause} — {fix}")
        self.cause = cause
        self.fix = fix
        #: A retry can succeed (the batch retries with backoff).
        self.transient = transient
