"""Defaults of the Jina rerankers we know by name, so users get the right limits without knowing them."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_MODEL = "jinaai/jina-reranker-v2-base-multilingual"
MODEL_ENV = "JINA_LOCAL_RERANK_MODEL"


def default_model() -> str:
    """The model used when none is named: ``$JINA_LOCAL_RERANK_MODEL`` (a hub id or a folder), else v2.

    One variable points every entry point (``Reranker()``, the adapters, the CLI, the notebooks) at a
    local copy or another model, which is what an offline machine needs.
    """
    return os.environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL


@dataclass(frozen=True)
class ModelSpec:
    """Limits of one published model."""

    model_id: str
    context_length: int  # longest pair the model was trained for; compute_score's default max_length
    rerank_max_length: int  # default window size (query + document part) of rerank
    rerank_max_query_length: int = 512
    languages: str = "en"


KNOWN_MODELS: dict[str, ModelSpec] = {
    spec.model_id: spec
    for spec in (
        ModelSpec(DEFAULT_MODEL, context_length=1024, rerank_max_length=1024, languages="100+ languages"),
        ModelSpec("jinaai/jina-reranker-v1-turbo-en", context_length=8192, rerank_max_length=1024),
        ModelSpec("jinaai/jina-reranker-v1-tiny-en", context_length=8192, rerank_max_length=1024),
        # Listwise: rerank_max_length is the per-document limit (max_doc_length), not a window.
        ModelSpec("jinaai/jina-reranker-v3", context_length=131072, rerank_max_length=2048, languages="multilingual"),
    )
}


def lookup(model: str) -> ModelSpec | None:
    """The spec of a hub id (``jinaai/...`` or the bare name Jina's API uses), else ``None``."""
    if model in KNOWN_MODELS:
        return KNOWN_MODELS[model]
    return KNOWN_MODELS.get(f"jinaai/{model}")
