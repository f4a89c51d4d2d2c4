"""FastAPI app: Jina's ``POST /v1/rerank`` (a valid Cohere v1 answer too), Cohere's ``POST /v2/rerank``,
``GET /v1/models``, ``GET /health`` and Prometheus ``/metrics``, over one or more local models."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from jina_local_rerank.reranker import DocumentScores, Reranker
from jina_local_rerank.server.batcher import DynamicBatcher, Overloaded, RequestBatcher
from jina_local_rerank.server.schemas import (
    CohereV2Hit,
    CohereV2RerankRequest,
    CohereV2RerankResponse,
    JinaRerankRequest,
    JinaRerankResponse,
    RerankHit,
    Usage,
)

API_KEY_ENV = "JINA_LOCAL_RERANK_API_KEY"


@dataclass(frozen=True)
class ServerLimits:
    """What one request may ask for; beyond it the answer is 413 with a message."""

    max_body_bytes: int = 10 * 1024 * 1024
    max_documents: int = 1000
    max_document_chars: int = 200_000
    max_query_chars: int = 20_000
    max_queue: int = 64
    max_wait_ms: float = 5.0
    max_batch_documents: int = 256


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` before they are buffered, declared length or not."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        response = JSONResponse(
            {"detail": f"Request body is larger than the limit of {self.max_bytes} bytes."}, status_code=413
        )
        await response(scope, receive, send)


def served_names(reranker: Reranker) -> list[str]:
    """A model answers to its id and to its last path part (``jina-reranker-v2-base-multilingual``)."""
    names = [reranker.model_name]
    short = PurePath(reranker.model_name).name
    if short and short not in names:
        names.append(short)
    return names


def _as_models(models: Mapping[str, Reranker] | Sequence[Reranker | str]) -> dict[str, Reranker]:
    if isinstance(models, Mapping):
        return dict(models)
    table: dict[str, Reranker] = {}
    for item in models:
        reranker = item if isinstance(item, Reranker) else Reranker(item)
        for name in served_names(reranker):
            table.setdefault(name, reranker)
    return table


def dynamic_batcher(reranker: Reranker, limits: ServerLimits) -> RequestBatcher:
    """The default batcher of each model: ``DynamicBatcher`` with the limits' wait, batch and queue sizes."""
    return DynamicBatcher(
        reranker,
        max_wait_ms=limits.max_wait_ms,
        max_batch_documents=limits.max_batch_documents,
        max_queue=limits.max_queue,
    )


def create_app(
    models: Mapping[str, Reranker] | Sequence[Reranker | str],
    *,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    batcher_factory: Callable[[Reranker, ServerLimits], RequestBatcher] = dynamic_batcher,
) -> FastAPI:
    """The ASGI app. ``models`` maps served names to rerankers (or lists rerankers / model ids).

    ``api_key`` (or ``JINA_LOCAL_RERANK_API_KEY``) turns on bearer-token auth for the API routes.
    ``batcher_factory`` makes each model's request batcher (Ray Serve passes one built on ``@serve.batch``).
    """
    table = _as_models(models)
    if not table:
        raise ValueError("create_app needs at least one model.")
    limits = limits or ServerLimits()
    api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    batchers = {id(r): batcher_factory(r, limits) for r in table.values()}
    registry = CollectorRegistry()
    requests_total = Counter(
        "jina_local_rerank_requests", "Rerank API requests", ["endpoint", "status"], registry=registry
    )
    latency = Histogram("jina_local_rerank_request_seconds", "Request latency", ["endpoint"], registry=registry)
    documents_total = Counter("jina_local_rerank_documents", "Documents scored", ["model"], registry=registry)
    queue_depth = Gauge("jina_local_rerank_queue_depth", "Requests waiting for the model", ["model"], registry=registry)
    for name, reranker in table.items():
        batcher = batchers[id(reranker)]
        queue_depth.labels(model=name).set_function(lambda b=batcher: b.depth)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for reranker in {id(r): r for r in table.values()}.values():
            reranker.load()
        for batcher in batchers.values():
            batcher.start()
        yield
        for batcher in batchers.values():
            await batcher.stop()

    app = FastAPI(title="jina-local-rerank", lifespan=lifespan)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        if request.url.path.endswith("/rerank"):
            requests_total.labels(endpoint=request.url.path, status=str(response.status_code)).inc()
            latency.labels(endpoint=request.url.path).observe(time.perf_counter() - started)
        return response

    def authorize(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        if header != f"Bearer {api_key}":
            raise HTTPException(
                401,
                "Missing or wrong API key: send 'Authorization: Bearer <key>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def pick(model: str | None) -> tuple[str, Reranker]:
        if model is None:
            distinct = {id(r) for r in table.values()}
            if len(distinct) == 1:
                name = next(iter(table))
                return name, table[name]
            raise HTTPException(422, f"'model' is required; served models: {sorted(table)}.")
        if model not in table:
            raise HTTPException(404, f"Model {model!r} is not served here; served models: {sorted(table)}.")
        return model, table[model]

    def check_sizes(query: str, documents: list[str]) -> None:
        if len(documents) > limits.max_documents:
            raise HTTPException(413, f"{len(documents)} documents exceed the limit of {limits.max_documents}.")
        if len(query) > limits.max_query_chars:
            raise HTTPException(413, f"The query has {len(query)} characters; the limit is {limits.max_query_chars}.")
        for position, text in enumerate(documents):
            if len(text) > limits.max_document_chars:
                raise HTTPException(
                    413,
                    f"documents[{position}] has {len(text)} characters; the limit is {limits.max_document_chars}.",
                )

    async def score(name: str, reranker: Reranker, query: str, documents: list[str]) -> DocumentScores:
        check_sizes(query, documents)
        try:
            result = await batchers[id(reranker)].submit(query, documents)
        except Overloaded as exc:
            raise HTTPException(503, f"Server busy: {exc}. Retry shortly.", headers={"Retry-After": "1"}) from None
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        documents_total.labels(model=name).inc(len(documents))
        return result

    def ranked(result: DocumentScores, top_n: int | None) -> list[int]:
        order = sorted(range(len(result.scores)), key=lambda i: (-result.scores[i], i))
        return order[:top_n] if top_n is not None else order

    @app.post(
        "/v1/rerank",
        response_model=JinaRerankResponse,
        response_model_exclude_none=True,
        dependencies=[Depends(authorize)],
    )
    async def rerank_v1(body: JinaRerankRequest) -> JinaRerankResponse:
        name, reranker = pick(body.model)
        result = await score(name, reranker, body.query_text(), body.document_texts())
        hits = []
        for index in ranked(result, body.top_n):
            document = None
            if body.return_documents:
                item = body.documents[index]
                document = {"text": item} if isinstance(item, str) else item.model_dump()
            hits.append(RerankHit(index=index, relevance_score=result.scores[index], document=document))
        tokens = result.total_tokens
        return JinaRerankResponse(
            id=str(uuid.uuid4()),
            model=name,
            usage=Usage(total_tokens=tokens, prompt_tokens=tokens),
            results=hits,
            meta={"api_version": {"version": "1"}, "billed_units": {"search_units": 1, "input_tokens": tokens}},
        )

    @app.post("/v2/rerank", response_model=CohereV2RerankResponse, dependencies=[Depends(authorize)])
    async def rerank_v2(body: CohereV2RerankRequest) -> CohereV2RerankResponse:
        name, reranker = pick(body.model)
        result = await score(name, reranker, body.query, body.documents)
        return CohereV2RerankResponse(
            id=str(uuid.uuid4()),
            results=[CohereV2Hit(index=i, relevance_score=result.scores[i]) for i in ranked(result, body.top_n)],
            meta={
                "api_version": {"version": "2"},
                "billed_units": {"search_units": 1, "input_tokens": result.total_tokens},
            },
        )

    @app.get("/v1/models", dependencies=[Depends(authorize)])
    async def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "owned_by": "jina-local-rerank"} for name in table],
        }

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": sorted(table)}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
