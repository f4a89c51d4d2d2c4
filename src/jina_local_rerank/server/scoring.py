"""From a validated request to scores: limits, token budget, deadline, and abandoning work whose
client left. Both API families (Jina, Cohere) score through ``Scorer.score``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request

from jina_local_rerank.reranker import Reranker
from jina_local_rerank.results import DocumentScores
from jina_local_rerank.server.batcher import DynamicBatcher, Overloaded, RequestBatcher
from jina_local_rerank.server.errors import Busy, ClientGone, DeadlineExceeded, TooLarge
from jina_local_rerank.server.metrics import ServerMetrics
from jina_local_rerank.server.models import ModelTable, ServedModel
from jina_local_rerank.server.settings import ServerLimits

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
BatcherFactory = Callable[[Reranker, ServerLimits], RequestBatcher]


class Scorer:
    """Owns one batcher per served model and the per-request rules around it."""

    def __init__(
        self,
        table: ModelTable,
        limits: ServerLimits,
        metrics: ServerMetrics,
        batcher_factory: BatcherFactory | None = None,
    ) -> None:
        self.table = table
        self.limits = limits
        self.metrics = metrics
        self.batchers: dict[str, RequestBatcher] = {}
        for model in table.models:
            batcher: RequestBatcher
            if batcher_factory is not None:
                batcher = batcher_factory(model.reranker, limits)
            else:
                batcher = DynamicBatcher(
                    model.reranker,
                    max_wait_ms=limits.max_wait_ms,
                    max_batch_documents=limits.max_batch_documents,
                    max_queue=limits.max_queue,
                    on_drop=metrics.dropped.labels(model=model.name).inc,
                    on_scored=metrics.documents.labels(model=model.name).inc,
                )
            self.batchers[model.name] = batcher
            metrics.queue_depth.labels(model=model.name).set_function(_depth_of(batcher))
            if model.reranker.cache is not None:
                metrics.watch_score_cache(model.name, model.reranker.cache)

    async def start(self) -> None:
        for model in self.table.models:
            await asyncio.to_thread(model.reranker.load)
            model.prepare_counter()
        for batcher in self.batchers.values():
            batcher.start()

    async def stop(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()

    def check_document_count(self, body: object) -> None:
        """413 for too many documents, checked on the parsed JSON before the schema validates each one."""
        documents = body.get("documents") if isinstance(body, dict) else None
        if isinstance(documents, list) and len(documents) > self.limits.max_documents:
            raise TooLarge(f"{len(documents)} documents exceed the limit of {self.limits.max_documents}.")

    def check_sizes(self, query: str, documents: list[str]) -> None:
        """413 for requests bigger than the limits, before anything is tokenized."""
        limits = self.limits
        if len(documents) > limits.max_documents:
            raise TooLarge(f"{len(documents)} documents exceed the limit of {limits.max_documents}.")
        if len(query) > limits.max_query_chars:
            raise TooLarge(f"The query has {len(query)} characters; the limit is {limits.max_query_chars}.")
        for position, text in enumerate(documents):
            if len(text) > limits.max_document_chars:
                raise TooLarge(
                    f"documents[{position}] has {len(text)} characters; the limit is {limits.max_document_chars}."
                )

    async def score(self, request: Request, model: ServedModel, query: str, documents: list[str]) -> DocumentScores:
        """Scores in input order, or an ``ApiError`` (413, 503, 504), or ``ClientGone``."""
        self.check_sizes(query, documents)
        deadline = request.scope.get("state", {}).get("arrived", time.monotonic()) + self.limits.request_timeout_s
        work = asyncio.ensure_future(self._count_and_submit(model, query, documents))
        watcher = asyncio.ensure_future(_disconnected(request.receive))
        try:
            done, _ = await asyncio.wait(
                {work, watcher}, timeout=max(0.0, deadline - time.monotonic()), return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            work.cancel()
            raise
        finally:
            watcher.cancel()
        if work in done:
            return work.result()
        work.cancel()  # cancels the queued job too: it is dropped, never computed
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        if watcher in done:
            raise ClientGone
        raise DeadlineExceeded(
            f"The request was not answered within {self.limits.request_timeout_s:g} s; its work was dropped."
        )

    async def _count_and_submit(self, model: ServedModel, query: str, documents: list[str]) -> DocumentScores:
        limit = self.limits.max_request_tokens
        tokens = await asyncio.to_thread(model.count_tokens, query, documents)
        if tokens > limit:
            raise TooLarge(f"The request has about {tokens} tokens; the limit is {limit} tokens per request.")
        try:
            return await self.batchers[model.name].submit(query, documents)
        except Overloaded as exc:
            raise Busy(f"Server busy: {exc}. Retry shortly.") from None


def _depth_of(batcher: RequestBatcher) -> Callable[[], float]:
    return lambda: batcher.depth


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone (``http.disconnect``)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        await asyncio.sleep(0.05)  # only reached if a server repeats body messages; never spin
