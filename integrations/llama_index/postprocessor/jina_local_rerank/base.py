"""``JinaLocalRerank``: a LlamaIndex ``BaseNodePostprocessor`` over ``jina_local_rerank.Reranker``.

Framework glue only: LlamaIndex nodes in, the core's ``rerank`` (windows, batching, scores), new
``NodeWithScore`` objects out, with LlamaIndex's instrumentation events and callback.
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from jina_local_rerank import Reranker, default_model, local_model_advice, setting_text, shared_reranker, validation
from jina_local_rerank.options import DEFAULT_TOP_N, OPTION_HELP

dispatcher = get_dispatcher(__name__)

RETRIEVAL_SCORE_KEY = "retrieval_score"

# Option names of other rerankers that people pass by habit, and what this class calls them.
RENAMED_OPTIONS = {"top_k": "top_n", "model_name": "model", "similarity_top_k": "top_n"}


class JinaLocalRerank(BaseNodePostprocessor):
    """Rerank retrieved nodes with a Jina reranker running on this machine.

    ``index.as_query_engine(similarity_top_k=20, node_postprocessors=[JinaLocalRerank(top_n=3)])``.
    Long nodes are split into windows and scored by their best window, not truncated. Postprocessors
    with the same model settings share one loaded model, which loads on first use; with ``cache_size``
    they also share its score cache, so a chat that reranks the same nodes again runs no forward.
    Node scores are sigmoids in [0, 1] for v1/v2 and cosines in [-1, 1] for jina-reranker-v3
    (listwise: nodes are cut to ``max_length`` tokens, 2048 by default, and ``overlap`` does not apply).

    Unknown options are refused (``top_k=5`` names ``top_n``), never silently ignored; every
    option is checked at construction with ``jina_local_rerank.text.validation``.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default_factory=default_model, description=OPTION_HELP["model"])
    top_n: int = Field(default=DEFAULT_TOP_N, ge=1, description="Number of nodes to return, best first.")
    device: str | None = Field(default=None, description=OPTION_HELP["device"])
    dtype: str | None = Field(default=None, description=OPTION_HELP["dtype"])
    max_length: int | None = Field(default=None, ge=1, description=OPTION_HELP["max_length"])
    max_query_length: int | None = Field(default=None, ge=1, description=OPTION_HELP["max_query_length"])
    overlap: int | None = Field(default=None, ge=0, description=OPTION_HELP["overlap"])
    batch_size: int | None = Field(default=None, ge=1, description=OPTION_HELP["batch_size"])
    keep_retrieval_score: bool = Field(
        default=False, description="Keep the retriever's score in the node's metadata under 'retrieval_score'."
    )
    local_files_only: bool | None = Field(default=None, description=OPTION_HELP["local_files_only"])
    backend: str = Field(default="torch", description=OPTION_HELP["backend"])
    cache_size: int | None = Field(default=None, ge=0, description=OPTION_HELP["cache_size"])

    _reranker: Reranker = PrivateAttr()

    def __init__(self, *, reranker: Reranker | None = None, **data: Any) -> None:
        validation.reject_unknown_options(type(self).__name__, data, type(self).model_fields, RENAMED_OPTIONS)
        if reranker is not None and not isinstance(reranker, Reranker):
            raise TypeError(f"reranker must be a jina_local_rerank.Reranker, got {type(reranker).__name__}.")
        if reranker is not None:
            data.setdefault("model", reranker.model_name)
            data.setdefault("device", str(reranker.device))
            data.setdefault("dtype", reranker.precision or str(reranker.dtype))
            data.setdefault("backend", reranker.backend)
            data.setdefault("cache_size", reranker.cache.capacity if reranker.cache is not None else None)
        super().__init__(**data)
        validation.check_rerank_options(
            max_length=self.max_length,
            max_query_length=self.max_query_length,
            overlap=self.overlap,
            batch_size=self.batch_size,
        )
        self._reranker = reranker or shared_reranker(
            self.model,
            device=self.device,
            dtype=self.dtype,
            local_files_only=self.local_files_only,
            backend=self.backend,
            cache_size=self.cache_size,
        )

    @field_validator("dtype", "device", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return setting_text(value)

    @field_validator("top_n", mode="before")
    @classmethod
    def _top_n(cls, value: Any) -> Any:
        return validation.check_positive_int("top_n", value, allow_none=False)

    @field_validator("max_length", "max_query_length", "batch_size", mode="before")
    @classmethod
    def _positive(cls, value: Any, info: ValidationInfo) -> Any:
        return validation.check_positive_int(str(info.field_name), value)

    @field_validator("overlap", "cache_size", mode="before")
    @classmethod
    def _non_negative(cls, value: Any, info: ValidationInfo) -> Any:
        return validation.check_non_negative_int(str(info.field_name), value, allow_none=True)

    @classmethod
    def class_name(cls) -> str:
        return "JinaLocalRerank"

    @property
    def reranker(self) -> Reranker:
        return self._reranker

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._require_query(query_bundle)
        dispatcher.event(ReRankStartEvent(query=query, nodes=nodes, top_n=self.top_n, model_name=self.model))
        with self.callback_manager.event(CBEventType.RERANKING, payload=self._start_payload(nodes, query)) as event:
            reranked = self._rerank(nodes, query.query_str)
            event.on_end(payload={EventPayload.NODES: reranked})
        dispatcher.event(ReRankEndEvent(nodes=reranked))
        return reranked

    @dispatcher.span
    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._require_query(query_bundle)
        dispatcher.event(ReRankStartEvent(query=query, nodes=nodes, top_n=self.top_n, model_name=self.model))
        with self.callback_manager.event(CBEventType.RERANKING, payload=self._start_payload(nodes, query)) as event:
            # Inference runs in a worker thread so the event loop keeps serving other tasks.
            reranked = await asyncio.to_thread(self._rerank, nodes, query.query_str)
            event.on_end(payload={EventPayload.NODES: reranked})
        dispatcher.event(ReRankEndEvent(nodes=reranked))
        return reranked

    @staticmethod
    def _require_query(query_bundle: QueryBundle | None) -> QueryBundle:
        if query_bundle is None:
            raise ValueError("JinaLocalRerank needs a query: pass query_bundle=QueryBundle(...) or query_str=...")
        return query_bundle

    def _start_payload(self, nodes: list[NodeWithScore], query: QueryBundle) -> dict[str, Any]:
        return {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: self.model,
            EventPayload.QUERY_STR: query.query_str,
            EventPayload.TOP_K: self.top_n,
        }

    def _rerank(self, nodes: list[NodeWithScore], query: str) -> list[NodeWithScore]:
        texts = [item.node.get_content(metadata_mode=MetadataMode.EMBED) for item in nodes]
        with local_model_advice("JinaLocalRerank(model='{path}')"):
            results = self._reranker.rerank(
                query,
                texts,
                top_n=self.top_n,
                max_query_length=self.max_query_length,
                max_length=self.max_length,
                overlap=self.overlap,
                batch_size=self.batch_size,
            )
        return [NodeWithScore(node=self._output_node(nodes[r.index]), score=r.relevance_score) for r in results]

    def _output_node(self, item: NodeWithScore) -> Any:
        """The caller's node, or a copy carrying the retrieval score (the caller's node is never changed)."""
        if not self.keep_retrieval_score:
            return item.node
        node = item.node
        return node.model_copy(
            update={
                "metadata": {**node.metadata, RETRIEVAL_SCORE_KEY: item.score},
                "excluded_embed_metadata_keys": [*node.excluded_embed_metadata_keys, RETRIEVAL_SCORE_KEY],
                "excluded_llm_metadata_keys": [*node.excluded_llm_metadata_keys, RETRIEVAL_SCORE_KEY],
            }
        )
