"""Operations routes: ``GET /v1/models``, ``GET /health`` (open, no paths) and ``GET /metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from jina_local_rerank.server.context import context_of, require_api_key

router = APIRouter()


@router.get("/v1/models", dependencies=[Depends(require_api_key)])
async def list_models(request: Request) -> dict[str, Any]:
    """Each loaded model once, under its served name, with the other names it answers to."""
    return {
        "object": "list",
        "data": [
            {"id": model.name, "object": "model", "owned_by": "jina-local-rerank", "aliases": model.aliases}
            for model in context_of(request).table.models
        ],
    }


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Liveness for load balancers: served model names only, never a filesystem path."""
    return {"status": "ok", "models": context_of(request).table.names}


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry = context_of(request).metrics
    return Response(registry.render(), media_type=registry.content_type)
