"""Exceptions that name the problem and the fix, raised instead of errors from deep inside the stack."""

from __future__ import annotations


class JinaLocalRerankError(Exception):
    """Base class of this package's own errors."""


class ModelNotAvailableError(JinaLocalRerankError, OSError):
    """The model is neither a local folder, nor cached, nor downloadable right now."""


class CheckpointMismatchError(JinaLocalRerankError, ValueError):
    """A checkpoint's tensors do not fit the architecture its config describes."""


class InvalidArgumentError(JinaLocalRerankError, ValueError):
    """An argument's value or type is not allowed; the message names the argument and what it takes.

    Raised before any model work, by the core and by every adapter (``jina_local_rerank.validation``).
    """
