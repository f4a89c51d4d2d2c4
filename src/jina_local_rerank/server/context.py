"""What every route needs, held on ``app.state.context`` (no closures over the app)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from jina_local_rerank.server.errors import Unauthorized
from jina_local_rerank.server.metrics import ServerMetrics
from jina_local_rerank.server.models import ModelTable
from jina_local_rerank.server.scoring import Scorer
from jina_local_rerank.server.settings import ServerLimits


@dataclass(frozen=True)
class ServerContext:
    table: ModelTable
    limits: ServerLimits
    metrics: ServerMetrics
    scorer: Scorer
    api_key: str | None


def context_of(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context


def require_api_key(request: Request) -> None:
    """Bearer-token auth when an API key is set, compared in constant time."""
    expected = context_of(request).api_key
    if expected is None:
        return
    sent = request.headers.get("authorization", "").encode("latin-1")
    if not hmac.compare_digest(sent, f"Bearer {expected}".encode()):
        raise Unauthorized
