"""The review's one root exception.

A target that is not a cloud assembly raises ``cloud_assembly.AssemblyError`` (the reader's own
error, naming the file); everything the review itself refuses derives from ``ReviewError``.
"""

from __future__ import annotations


class ReviewError(Exception):
    """Root of every error the policy review raises; the message names the file and the fix."""


class SuppressionError(ReviewError):
    """The suppressions file is unreadable, or an entry lacks its rule, resource or a real reason."""
