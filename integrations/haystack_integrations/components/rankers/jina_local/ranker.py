"""``JinaLocalRanker``: a Haystack ranker ``@component`` over ``jina_local_rerank.Reranker``.

Framework glue only: Haystack ``Document`` objects and serialization around the core's ``rerank``.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace
from os import PathLike
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.utils import ComponentDevice, Secret, deserialize_secrets_inplace

from jina_local_rerank import (
    InvalidArgumentError,
    Reranker,
    default_model,
    local_model_advice,
    shared_reranker,
    validation,
)


@component
class JinaLocalRanker:
    """Ranks documents by relevance to a query with a Jina reranker running on this machine.

    ``pipe.add_component("ranker", JinaLocalRanker(top_k=3))`` after a retriever. Long documents are
    split into windows and scored by their best window. The model loads in ``warm_up()`` (``run``
    warms up if needed); rankers with the same settings share one loaded model and, with
    ``cache_size``, its score cache (repeated query-document pairs then run no forward).

    A document without text content (``content=None``) is ranked as an empty text (plus its embedded
    meta fields, if any): it is scored and returned, never dropped.

    ``score_threshold`` is on the model's scale: sigmoids in [0, 1] for v1/v2, cosines in [-1, 1] for
    jina-reranker-v3 (listwise: documents are cut to ``max_length`` tokens, 2048 by default;
    ``overlap``, ``None`` meaning 80 for windowed models, does not apply to it).

    Every argument is checked when it is given (constructor or ``run``), before any model work:
    a bad value raises ``jina_local_rerank.InvalidArgumentError`` (a ``ValueError``) naming it.
    ``top_k=None`` in the constructor keeps every document.
    """

    def __init__(
        self,
        model: str | None = None,
        device: ComponentDevice | None = None,
        token: Secret | None = Secret.from_env_var(["HF_API_TOKEN", "HF_TOKEN"], strict=False),  # noqa: B008
        top_k: int | None = 10,
        score_threshold: float | None = None,
        dtype: str | None = None,
        max_length: int | None = None,
        max_query_length: int | None = None,
        overlap: int | None = None,
        batch_size: int | None = None,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        local_files_only: bool | None = None,
        backend: str = "torch",
        cache_size: int | None = None,
    ) -> None:
        model = default_model() if model is None else model
        if not isinstance(model, (str, PathLike)):
            raise InvalidArgumentError(f"model must be a str or path, got {type(model).__name__}.")
        if device is not None and not isinstance(device, ComponentDevice):
            raise InvalidArgumentError(
                f"device must be a haystack ComponentDevice or None, got {type(device).__name__}."
            )
        validation.check_positive_int("top_k", top_k)
        score_threshold = validation.check_score_threshold("score_threshold", score_threshold)
        validation.check_text_option("dtype", dtype, allow_none=True)
        validation.check_rerank_options(
            max_length=max_length, max_query_length=max_query_length, overlap=overlap, batch_size=batch_size
        )
        meta_fields_to_embed = validation.check_str_list("meta_fields_to_embed", meta_fields_to_embed)
        validation.check_text_option("embedding_separator", embedding_separator)
        validation.check_bool("local_files_only", local_files_only, allow_none=True)
        validation.check_non_negative_int("cache_size", cache_size, allow_none=True)
        self.model = str(model)
        self.device = device
        self.token = token
        self.top_k = top_k
        self.score_threshold = score_threshold
        self.dtype = dtype
        self.max_length = max_length
        self.max_query_length = max_query_length
        self.overlap = overlap
        self.batch_size = batch_size
        self.meta_fields_to_embed = meta_fields_to_embed or []
        self.embedding_separator = embedding_separator
        self.local_files_only = local_files_only
        self.backend = backend
        self.cache_size = cache_size
        self._reranker: Reranker | None = None

    def _get_telemetry_data(self) -> dict[str, Any]:
        return {"model": self.model}

    @property
    def reranker(self) -> Reranker | None:
        """The shared ``Reranker`` this component scores with (``None`` until ``warm_up``)."""
        return self._reranker

    def warm_up(self) -> None:
        """Load the model (idempotent)."""
        if self._reranker is not None:
            return
        backend_is_torch = self.backend == "torch"
        reranker = shared_reranker(
            self.model,
            # ONNX Runtime and OpenVINO run on the CPU whatever device Haystack would pick.
            device=ComponentDevice.resolve_device(self.device).to_torch_str() if backend_is_torch else "cpu",
            dtype=self.dtype,
            token=self.token.resolve_value() if self.token else None,
            local_files_only=self.local_files_only,
            backend=self.backend,
            cache_size=self.cache_size,
        )
        with local_model_advice("JinaLocalRanker(model='{path}')"):
            self._reranker = reranker.load()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            model=self.model,
            device=self.device.to_dict() if self.device else None,
            token=self.token.to_dict() if self.token else None,
            top_k=self.top_k,
            score_threshold=self.score_threshold,
            dtype=self.dtype,
            max_length=self.max_length,
            max_query_length=self.max_query_length,
            overlap=self.overlap,
            batch_size=self.batch_size,
            meta_fields_to_embed=self.meta_fields_to_embed,
            embedding_separator=self.embedding_separator,
            local_files_only=self.local_files_only,
            backend=self.backend,
            cache_size=self.cache_size,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JinaLocalRanker:
        data = copy.deepcopy(data)  # deserialization works in place; leave the caller's dict alone
        params = data.get("init_parameters", {})
        if params.get("device") is not None:
            params["device"] = ComponentDevice.from_dict(params["device"])
        deserialize_secrets_inplace(params, keys=["token"])
        return default_from_dict(cls, data)

    def _text(self, document: Document) -> str:
        meta = [str(document.meta[key]) for key in self.meta_fields_to_embed if document.meta.get(key) is not None]
        return self.embedding_separator.join([*meta, document.content or ""])

    @component.output_types(documents=list[Document])
    def run(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
    ) -> dict[str, list[Document]]:
        """Documents best first as copies with ``score`` set, at most ``top_k``, none below the threshold."""
        validation.check_query(query)
        top_k = self.top_k if top_k is None else validation.check_positive_int("top_k", top_k)
        score_threshold = (
            self.score_threshold
            if score_threshold is None
            else validation.check_score_threshold("score_threshold", score_threshold)
        )
        if isinstance(documents, (str, bytes)) or not isinstance(documents, (list, tuple)):
            raise TypeError(f"documents must be a list of haystack Documents, got {type(documents).__name__}.")
        for position, document in enumerate(documents):
            if not isinstance(document, Document):
                raise TypeError(f"documents[{position}] must be a haystack Document, got {type(document).__name__}.")
        if not documents:
            return {"documents": []}
        self.warm_up()
        assert self._reranker is not None
        results = self._reranker.rerank(
            query,
            [self._text(document) for document in documents],
            max_query_length=self.max_query_length,
            max_length=self.max_length,
            overlap=self.overlap,
            batch_size=self.batch_size,
        )
        ranked = [replace(documents[r.index], score=r.relevance_score) for r in results]
        if score_threshold is not None:
            ranked = [d for d in ranked if d.score is not None and d.score >= score_threshold]
        return {"documents": ranked if top_k is None else ranked[:top_k]}

    @component.output_types(documents=list[Document])
    async def run_async(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
    ) -> dict[str, list[Document]]:
        """``run`` in a worker thread, so the event loop keeps serving other components."""
        return await asyncio.to_thread(self.run, query, documents, top_k, score_threshold)
