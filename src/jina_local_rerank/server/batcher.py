"""Dynamic batching: concurrent requests wait a few milliseconds and share the model's batches.

The queue is bounded: when it is full a request is refused at once (the app answers 503 with
Retry-After) instead of piling up memory. A request whose caller stops waiting (client gone,
deadline passed) is cancelled; cancelled work still in the queue is dropped, never computed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from jina_local_rerank.reranker import Reranker
from jina_local_rerank.results import DocumentScores

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

    @property
    def abandoned(self) -> bool:
        return self.future.done()


class DynamicBatcher:
    """One worker per model: collects jobs for up to ``max_wait_ms`` and scores them in one call.

    ``on_drop`` is told the number of documents of every job dropped unscored because its caller left,
    ``on_scored`` the number of documents of every job the model scored (answered or not).
    """

    def __init__(
        self,
        reranker: Reranker,
        *,
        max_wait_ms: float = 5.0,
        max_batch_documents: int = 256,
        max_queue: int = 64,
        on_drop: Callable[[int], None] | None = None,
        on_scored: Callable[[int], None] | None = None,
    ) -> None:
        self.reranker = reranker
        self.max_wait = max_wait_ms / 1000
        self.max_batch_documents = max_batch_documents
        self.max_queue = max_queue
        self.on_drop = on_drop
        self.on_scored = on_scored
        self._pending: collections.deque[_Job] = collections.deque()
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        """Requests waiting for the model (cancelled ones not counted)."""
        return sum(not job.abandoned for job in self._pending)

    def start(self) -> None:
        self._arrived = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for job in self._pending:
            job.future.cancel()
        self._pending.clear()

    async def submit(self, query: str, documents: list[str]) -> DocumentScores:
        """Queue one request and wait for its scores; cancelling the caller cancels the job."""
        if self._arrived is None:
            raise RuntimeError("The batcher is not running (start() was not called).")
        self._discard_abandoned()
        if len(self._pending) >= self.max_queue:
            raise Overloaded(f"{self.max_queue} requests are already waiting")
        job = _Job(query, documents, asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self._arrived.set()
        # Awaiting the future directly: if this task is cancelled, the future is cancelled with it.
        return await job.future

    def _discard_abandoned(self) -> None:
        kept = [job for job in self._pending if not job.abandoned]
        for job in self._pending:
            if job.abandoned and self.on_drop is not None:
                self.on_drop(len(job.documents))
        self._pending = collections.deque(kept)

    def _next_job(self) -> _Job | None:
        while self._pending:
            job = self._pending.popleft()
            if not job.abandoned:
                return job
            if self.on_drop is not None:
                self.on_drop(len(job.documents))
        return None

    async def _wait_for_job(self, timeout: float | None) -> _Job | None:
        assert self._arrived is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self._next_job()
            if job is not None:
                return job
            self._arrived.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return None

    async def _run(self) -> None:
        while True:
            first = await self._wait_for_job(None)
            assert first is not None
            jobs = [first]
            documents = len(first.documents)
            deadline = time.monotonic() + self.max_wait
            while documents < self.max_batch_documents:
                job = await self._wait_for_job(deadline - time.monotonic()) if deadline > time.monotonic() else None
                if job is None:
                    break
                jobs.append(job)
                documents += len(job.documents)
            await self._score([job for job in jobs if not job.abandoned])

    async def _score(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
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
            if self.on_scored is not None:
                self.on_scored(len(job.documents))
            if not job.future.done():
                job.future.set_result(result)
