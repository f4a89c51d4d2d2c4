"""Dynamic batching: concurrent requests wait a few milliseconds and share the model's batches.

The queue is bounded: when it is full a request is refused at once (the app answers 503 with
Retry-After) instead of piling up memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from jina_local_rerank.reranker import DocumentScores, Reranker

logger = logging.getLogger(__name__)


class Overloaded(Exception):
    """The queue of waiting requests is full."""


class RequestBatcher(Protocol):
    """What the app needs from a model's batcher (``DynamicBatcher`` here; Ray Serve's ``@serve.batch``)."""

    @property
    def depth(self) -> int: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, query: str, documents: list[str]) -> DocumentScores: ...


@dataclass
class _Job:
    query: str
    documents: list[str]
    future: asyncio.Future[DocumentScores] = field(repr=False)


class DynamicBatcher:
    """One worker per model: collects jobs for up to ``max_wait_ms`` and scores them in one call."""

    def __init__(
        self, reranker: Reranker, *, max_wait_ms: float = 5.0, max_batch_documents: int = 256, max_queue: int = 64
    ) -> None:
        self.reranker = reranker
        self.max_wait = max_wait_ms / 1000
        self.max_batch_documents = max_batch_documents
        self.max_queue = max_queue
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def submit(self, query: str, documents: list[str]) -> DocumentScores:
        if self._queue is None:
            raise RuntimeError("The batcher is not running (start() was not called).")
        job = _Job(query, documents, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise Overloaded(f"{self.max_queue} requests are already waiting") from None
        return await job.future

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            jobs = [await self._queue.get()]
            documents = len(jobs[0].documents)
            deadline = time.monotonic() + self.max_wait
            while documents < self.max_batch_documents:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
                jobs.append(job)
                documents += len(job.documents)
            await self._score(jobs)

    async def _score(self, jobs: list[_Job]) -> None:
        try:
            results = await asyncio.to_thread(self.reranker.score_many, [(j.query, j.documents) for j in jobs])
        except Exception as exc:  # noqa: BLE001 - any scoring failure is handed back to its request
            if len(jobs) == 1:
                if not jobs[0].future.done():
                    jobs[0].future.set_exception(exc)
                return
            # Attribute a failure to the request that caused it: score each alone.
            for job in jobs:
                await self._score([job])
            return
        for job, result in zip(jobs, results):
            if not job.future.done():
                job.future.set_result(result)
