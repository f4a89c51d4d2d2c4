"""Jina AI's rerankers on your own machine: one scoring core for LlamaIndex, LangChain and Haystack.

The public names load on first use (PEP 562), so ``import jina_local_rerank`` and the command
line's ``--help`` stay fast: torch and transformers are imported only when a model is needed.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# In Jupyter without ipywidgets, the first import of ``tqdm.auto`` (by us or by transformers and the
# hub client) warns "IProgress not found" and then uses text bars anyway: keep the text bars, drop the noise.
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")

# Public name -> the module that defines it.
_EXPORTS = {
    "convert": "jina_local_rerank.backends.conversion",
    "CheckpointMismatchError": "jina_local_rerank.errors",
    "InvalidArgumentError": "jina_local_rerank.errors",
    "JinaLocalRerankError": "jina_local_rerank.errors",
    "ModelNotAvailableError": "jina_local_rerank.errors",
    "local_model_advice": "jina_local_rerank.errors",
    "DEFAULT_MODEL": "jina_local_rerank.models.registry",
    "KNOWN_MODELS": "jina_local_rerank.models.registry",
    "MODEL_ENV": "jina_local_rerank.models.registry",
    "ModelSpec": "jina_local_rerank.models.registry",
    "default_model": "jina_local_rerank.models.registry",
    "DocumentScores": "jina_local_rerank.results",
    "Reranker": "jina_local_rerank.reranker",
    "ScoredWindow": "jina_local_rerank.results",
    "RerankResult": "jina_local_rerank.results",
    "clear_shared_rerankers": "jina_local_rerank.shared",
    "shared_reranker": "jina_local_rerank.shared",
    "setting_text": "jina_local_rerank.runtime.hardware",
    "MODEL_CARD_DOCUMENTS": "jina_local_rerank.text.examples",
    "MODEL_CARD_QUERY": "jina_local_rerank.text.examples",
}

if TYPE_CHECKING:
    from jina_local_rerank import options as options
    from jina_local_rerank.backends.conversion import convert
    from jina_local_rerank.errors import (
        CheckpointMismatchError,
        InvalidArgumentError,
        JinaLocalRerankError,
        ModelNotAvailableError,
        local_model_advice,
    )
    from jina_local_rerank.models.registry import DEFAULT_MODEL, KNOWN_MODELS, MODEL_ENV, ModelSpec, default_model
    from jina_local_rerank.reranker import Reranker
    from jina_local_rerank.results import DocumentScores, RerankResult, ScoredWindow
    from jina_local_rerank.runtime.hardware import setting_text
    from jina_local_rerank.shared import clear_shared_rerankers, shared_reranker
    from jina_local_rerank.text import validation as validation
    from jina_local_rerank.text.examples import MODEL_CARD_DOCUMENTS, MODEL_CARD_QUERY

__all__ = [
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "MODEL_CARD_DOCUMENTS",
    "MODEL_CARD_QUERY",
    "MODEL_ENV",
    "CheckpointMismatchError",
    "DocumentScores",
    "InvalidArgumentError",
    "JinaLocalRerankError",
    "ModelNotAvailableError",
    "ModelSpec",
    "RerankResult",
    "Reranker",
    "ScoredWindow",
    "__version__",
    "clear_shared_rerankers",
    "convert",
    "default_model",
    "local_model_advice",
    "setting_text",
    "shared_reranker",
]


# Public submodules reachable as attributes (``from jina_local_rerank import validation``).
_MODULES = {"options": "jina_local_rerank.options", "validation": "jina_local_rerank.text.validation"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jina_local_rerank' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
