"""The one exception of the cloud-assembly reader."""

from __future__ import annotations


class AssemblyError(ValueError):
    """cdk.out (or a template) is missing, unreadable or malformed; the message names the file and the fix.

    A ``ValueError``: callers that treat any bad input value alike catch it without knowing this package.
    """
