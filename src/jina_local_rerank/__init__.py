"""Jina AI's rerankers on your own machine: one scoring core for LlamaIndex, LangChain and Haystack."""

from __future__ import annotations

from jina_local_rerank.convert import convert
from jina_local_rerank.errors import CheckpointMismatchError, JinaLocalRerankError, ModelNotAvailableError
from jina_local_rerank.registry import DEFAULT_MODEL, KNOWN_MODELS, ModelSpec
from jina_local_rerank.reranker import DocumentScores, Reranker, ScoredWindow
from jina_local_rerank.results import RerankResult
from jina_local_rerank.shared import clear_shared_rerankers, shared_reranker

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "CheckpointMismatchError",
    "DocumentScores",
    "JinaLocalRerankError",
    "ModelNotAvailableError",
    "ModelSpec",
    "RerankResult",
    "Reranker",
    "ScoredWindow",
    "__version__",
    "clear_shared_rerankers",
    "convert",
    "shared_reranker",
]
