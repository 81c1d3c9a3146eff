"""The one exception of the cloud-assembly reader."""

from __future__ import annotations


class AssemblyError(Exception):
    """cdk.out (or a template) is missing, unreadable or malformed; the message names the file and the fix."""
