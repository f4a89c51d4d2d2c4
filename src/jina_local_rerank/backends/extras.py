"""Import an optional dependency, or fail with the pip command that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from jina_local_rerank.errors import JinaLocalRerankError


class MissingExtraError(JinaLocalRerankError, ImportError):
    """An optional dependency of the chosen backend is not installed."""


def require(module: str, extra: str) -> ModuleType:
    """``import module``; if that fails, say which extra of this package brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"The {extra!r} backend needs the {module.split('.')[0]!r} package, which could not be imported "
            f'({exc}). Install it with: pip install "jina-local-rerank[{extra}]"'
        ) from exc
