"""The ASGI app: Jina's ``POST /v1/rerank`` (a valid Cohere v1 answer too), Cohere's ``POST /v2/rerank``,
``GET /v1/models``, ``GET /health`` and Prometheus ``/metrics``, over one or more local models.

``create_app`` only assembles: routes live in ``routes_*``, request rules in ``scoring``, errors in
``errors``, the body limit and the last-resort 500 in ``guard``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import BaseRoute, Route

from jina_local_rerank.reranker import Reranker
from jina_local_rerank.server.context import ServerContext
from jina_local_rerank.server.errors import install_error_handlers
from jina_local_rerank.server.guard import RequestGuard
from jina_local_rerank.server.metrics import ServerMetrics
from jina_local_rerank.server.models import ModelTable, served_names
from jina_local_rerank.server.routes_cohere import router as cohere_router
from jina_local_rerank.server.routes_jina import router as jina_router
from jina_local_rerank.server.routes_ops import router as ops_router
from jina_local_rerank.server.scoring import BatcherFactory, Scorer
from jina_local_rerank.server.settings import ServerLimits

API_KEY_ENV = "JINA_LOCAL_RERANK_API_KEY"

__all__ = ["API_KEY_ENV", "ServerLimits", "create_app", "served_names"]


def create_app(
    models: Mapping[str, Reranker] | Sequence[Reranker | str],
    *,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    batcher_factory: BatcherFactory | None = None,
) -> FastAPI:
    """The ASGI app. ``models`` maps served names to rerankers (several names of one reranker are
    aliases), or lists rerankers / model ids (served under ``served_names``).

    ``api_key`` (or ``JINA_LOCAL_RERANK_API_KEY``) turns on bearer-token auth for the API routes.
    ``batcher_factory`` replaces the per-model ``DynamicBatcher`` (Ray Serve plugs in ``@serve.batch``).
    """
    table = ModelTable(models)
    limits = limits or ServerLimits()
    metrics = ServerMetrics()
    scorer = Scorer(table, limits, metrics, batcher_factory)
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await scorer.start()
        yield
        await scorer.stop()

    app = FastAPI(title="jina-local-rerank", lifespan=lifespan)
    app.state.context = ServerContext(table=table, limits=limits, metrics=metrics, scorer=scorer, api_key=key)
    app.state.limits = limits
    routers = [jina_router, cohere_router, ops_router]
    for router in routers:
        app.include_router(router)
    install_error_handlers(app)
    # Metrics label requests by these routes' templates (the app's own docs routes included).
    labelled: list[BaseRoute] = [route for route in app.router.routes if isinstance(route, Route)]
    labelled += [route for router in routers for route in router.routes]
    app.add_middleware(
        RequestGuard,
        routes=labelled,
        metrics=metrics,
        max_body_bytes=limits.max_body_bytes,
        read_timeout_s=limits.read_timeout_s,
    )
    return app
