"""Scale out on Ray: ``score_dataset`` (Ray Data batch scoring) and the Ray Serve rerank API.

``pip install "jina-local-rerank[ray]"``. ``serve run jina_local_rerank.ray:app model=PATH_OR_ID`` serves
the same routes as ``jina-local-rerank serve``; ``deployment(...)`` returns the Serve deployment for
your own graphs. The names load on first use, so importing this package costs only Ray itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

try:
    import ray as _ray  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without Ray installed
    raise ImportError(f'jina_local_rerank.ray needs Ray: pip install "jina-local-rerank[ray]" ({exc})') from exc

_EXPORTS = {
    "score_dataset": "jina_local_rerank.ray.data",
    "PairScoringActor": "jina_local_rerank.ray.data",
    "app": "jina_local_rerank.ray.serve",
    "deployment": "jina_local_rerank.ray.serve",
    "ServeAppArgs": "jina_local_rerank.ray.serve",
}

if TYPE_CHECKING:
    from jina_local_rerank.ray.data import PairScoringActor, score_dataset
    from jina_local_rerank.ray.serve import ServeAppArgs, app, deployment

__all__ = ["PairScoringActor", "ServeAppArgs", "app", "deployment", "score_dataset"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jina_local_rerank.ray' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
