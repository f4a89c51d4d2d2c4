"""One loaded model per settings, shared by every adapter instance that asks for the same ones.

Framework objects are created freely (per query engine, per pipeline, after a from_dict round trip);
loading a 278M-parameter model for each of them would waste seconds and gigabytes.
"""

from __future__ import annotations

import os
import threading

import torch

from jina_local_rerank.models.registry import default_model
from jina_local_rerank.reranker import Reranker
from jina_local_rerank.text import validation

_CACHE: dict[tuple[object, ...], Reranker] = {}
_LOCK = threading.Lock()


def shared_reranker(
    model: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool | None = None,
    token: str | bool | None = None,
    trust_remote_code: bool = False,
    backend: str = "torch",
    cache_size: int | None = None,
) -> Reranker:
    """The ``Reranker`` for these settings, created (lazily loaded) on first request and reused after.

    ``cache_size`` is part of the settings: adapters asking for a score cache of the same size share
    the model and its cache (multi-turn chats and retries hit it from any of them); ``0`` is ``None``.
    """
    model = default_model() if model is None else model
    cache_size = validation.check_non_negative_int("cache_size", cache_size, allow_none=True) or None
    key = (
        str(model),
        str(device),
        str(dtype),
        revision,
        str(cache_dir),
        local_files_only,
        token,
        trust_remote_code,
        backend,
        cache_size,
    )
    with _LOCK:
        reranker = _CACHE.get(key)
        if reranker is None:
            reranker = Reranker(
                model,
                device=device,
                dtype=dtype,
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
                token=token,
                trust_remote_code=trust_remote_code,
                lazy=True,
                backend=backend,
                cache_size=cache_size,
            )
            _CACHE[key] = reranker
        return reranker


def clear_shared_rerankers() -> None:
    """Forget every shared model (they are freed once no adapter holds them)."""
    with _LOCK:
        _CACHE.clear()
