"""Exceptions that name the problem and the fix, raised instead of errors from deep inside the stack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class JinaLocalRerankError(Exception):
    """Base class of this package's own errors."""


class ModelNotAvailableError(JinaLocalRerankError, OSError):
    """The model is neither a local folder, nor cached, nor downloadable right now.

    The message ends with how to point at a local copy instead. Python callers pass a folder to
    ``Reranker``, a shell user passes ``--model``, an adapter user sets ``model=``: each entry point
    re-words that advice with :meth:`in_terms_of` so it speaks the caller's language.
    """

    DEFAULT_TERMS = "Reranker('{path}')"

    def __init__(self, reason: str, *, model: str | None = None, suggest_local_folder: bool = False) -> None:
        self.reason = reason
        self.model = model
        self.suggest_local_folder = suggest_local_folder and model is not None
        super().__init__(self.explain(self.DEFAULT_TERMS))

    def explain(self, terms: str) -> str:
        """The message, advising a local folder as ``terms`` (``{path}`` stands for the folder)."""
        if not self.suggest_local_folder or self.model is None:
            return self.reason
        path = f"/path/to/{self.model.rstrip('/').split('/')[-1]}"
        return (
            f"{self.reason}\n  * pass the path of a local folder that holds the checkpoint: {terms.format(path=path)}."
        )

    def in_terms_of(self, terms: str) -> ModelNotAvailableError:
        """The same error, advising a local folder the way this caller passes one (e.g. ``"--model {path}"``)."""
        worded = ModelNotAvailableError(self.reason, model=self.model, suggest_local_folder=self.suggest_local_folder)
        worded.args = (self.explain(terms),)
        return worded


class CheckpointMismatchError(JinaLocalRerankError, ValueError):
    """A checkpoint's tensors do not fit the architecture its config describes."""


class InvalidArgumentError(JinaLocalRerankError, ValueError):
    """An argument's value or type is not allowed; the message names the argument and what it takes.

    Raised before any model work, by the core and by every adapter (``jina_local_rerank.text.validation``).
    """


@contextmanager
def local_model_advice(terms: str) -> Iterator[None]:
    """Re-word a ``ModelNotAvailableError`` raised inside to advise a local folder as ``terms``.

    Adapters wrap their calls into the core with it: ``with local_model_advice("MyRanker(model='{path}')")``.
    """
    try:
        yield
    except ModelNotAvailableError as exc:
        raise exc.in_terms_of(terms) from exc
