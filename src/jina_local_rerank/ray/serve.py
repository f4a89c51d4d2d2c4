"""Ray Serve: the server's own FastAPI app in every replica, with ``@serve.batch`` batching requests.

``serve run jina_local_rerank.ray:app model=PATH_OR_ID [num_replicas=N] [max_batch_size=B] [api_key=KEY]``
serves ``/v1/rerank``, ``/v2/rerank``, ``/v1/models`` and ``/health`` exactly as ``jina-local-rerank
serve`` does (same schemas, limits and error codes): each replica builds the app with ``create_app``
and hands it a batcher that gathers concurrent requests into one ``score_many`` call.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve import Application
from ray.serve.deployment import Deployment

from jina_local_rerank.reranker import Reranker
from jina_local_rerank.results import DocumentScores
from jina_local_rerank.server import ServerLimits, create_app
from jina_local_rerank.server.batcher import Overloaded

DEFAULT_MAX_BATCH_SIZE = 16
DEFAULT_BATCH_WAIT_S = 0.005


class ServeBatcher:
    """The app's request batcher on Serve: ``@serve.batch`` gathers requests; a full queue answers 503.

    A failing batch is scored again request by request, so an error reaches only the request that caused it.
    """

    def __init__(self, reranker: Reranker, max_batch_size: int, batch_wait_timeout_s: float, max_queue: int) -> None:
        self.reranker = reranker
        self.max_queue = max_queue
        self._waiting = 0

        @serve.batch(max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s)
        async def score_batch(requests: list[tuple[str, list[str]]]) -> list[DocumentScores | Exception]:
            try:
                scored: list[DocumentScores] = await asyncio.to_thread(reranker.score_many, requests)
                return list(scored)
            except Exception:
                if len(requests) == 1:
                    raise
            results: list[DocumentScores | Exception] = []
            for request in requests:
                try:
                    results.extend(await asyncio.to_thread(reranker.score_many, [request]))
                except Exception as exc:  # noqa: BLE001 - handed back to its request
                    results.append(exc)
            return results

        self._score_batch = score_batch

    @property
    def depth(self) -> int:
        return self._waiting

    def start(self) -> None:
        """Nothing to start: Serve runs the batching loop."""

    async def stop(self) -> None:
        """Nothing to stop: Serve owns the batching loop."""

    async def submit(self, query: str, documents: list[str]) -> DocumentScores:
        if self._waiting >= self.max_queue:
            raise Overloaded(f"{self.max_queue} requests are already waiting")
        self._waiting += 1
        try:
            result = await self._score_batch((query, documents))
        finally:
            self._waiting -= 1
        if isinstance(result, Exception):
            raise result
        return result


def deployment(
    model: str,
    *,
    served_name: str | None = None,
    num_replicas: int = 1,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    batch_wait_timeout_s: float = DEFAULT_BATCH_WAIT_S,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    device: str | None = None,
    dtype: str | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    deployment_name: str = "JinaLocalRerank",
) -> Deployment:
    """The Serve deployment of the rerank API for ``model``; ``.bind()`` it into your application.

    Each replica loads the model once (``num_cpus`` CPUs, that many torch threads, ``num_gpus`` GPUs) and
    answers as ``jina-local-rerank serve``. ``served_name``: the name requests use (default: the model id
    and its last path part).
    """
    limits = limits or ServerLimits()

    @serve.ingress()
    class RerankReplica:
        def __init__(self) -> None:
            import torch

            if not num_gpus:
                torch.set_num_threads(max(1, math.floor(num_cpus)))
            self.reranker = Reranker(model, device=device, dtype=dtype)

        def __serve_build_asgi_app__(self) -> FastAPI:
            models: Any = {served_name: self.reranker} if served_name else [self.reranker]
            return create_app(
                models,
                api_key=api_key,
                limits=limits,
                batcher_factory=lambda reranker, limits: ServeBatcher(
                    reranker, max_batch_size, batch_wait_timeout_s, limits.max_queue
                ),
            )

    return serve.deployment(
        name=deployment_name,
        num_replicas=num_replicas,
        # Room for a full queue plus a batch in flight: the app answers 503 past its own queue limit.
        max_ongoing_requests=limits.max_queue + max_batch_size,
        ray_actor_options={"num_cpus": num_cpus, "num_gpus": num_gpus},
    )(RerankReplica)


class ServeAppArgs(BaseModel):
    """``serve run jina_local_rerank.ray:app key=value ...``: every value arrives as text and is checked here."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    served_name: str | None = None
    num_replicas: int = Field(default=1, ge=1)
    max_batch_size: int = Field(default=DEFAULT_MAX_BATCH_SIZE, ge=1)
    batch_wait_timeout_s: float = Field(default=DEFAULT_BATCH_WAIT_S, ge=0)
    api_key: str | None = None
    device: str | None = None
    dtype: str | None = None
    num_cpus: float = Field(default=1, gt=0)
    num_gpus: float = Field(default=0, ge=0)
    max_documents: int = Field(default=ServerLimits.max_documents, ge=1)
    max_queue: int = Field(default=ServerLimits.max_queue, ge=1)


def app(args: dict[str, Any] | ServeAppArgs) -> Application:
    """The application builder behind ``serve run jina_local_rerank.ray:app model=...`` (or a config file)."""
    args = args if isinstance(args, ServeAppArgs) else ServeAppArgs.model_validate(args)
    return deployment(
        args.model,
        served_name=args.served_name,
        num_replicas=args.num_replicas,
        max_batch_size=args.max_batch_size,
        batch_wait_timeout_s=args.batch_wait_timeout_s,
        api_key=args.api_key,
        limits=ServerLimits(max_documents=args.max_documents, max_queue=args.max_queue),
        device=args.device,
        dtype=args.dtype,
        num_cpus=args.num_cpus,
        num_gpus=args.num_gpus,
    ).bind()
