"""Exceptions that name the problem and the fix, raised instead of errors from deep inside the stack."""

from __future__ import annotations


class JinaLocalRerankError(Exception):
    """Base class of this package's own errors."""


class ModelNotAvailableError(JinaLocalRerankError, OSError):
    """The model is neither a local folder, nor cached, nor downloadable right now."""


class CheckpointMismatchError(JinaLocalRerankError, ValueError):
    """A checkpoint's tensors do not fit the architecture its config describes."""
