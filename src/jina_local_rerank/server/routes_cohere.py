"""Cohere's ``POST /v2/rerank``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from jina_local_rerank.ranking import rank_order
from jina_local_rerank.server.body import read_request
from jina_local_rerank.server.context import context_of, require_api_key
from jina_local_rerank.server.schemas import (
    CohereV2Hit,
    CohereV2RerankRequest,
    CohereV2RerankResponse,
    request_body_schema,
)

router = APIRouter(dependencies=[Depends(require_api_key)])


@router.post(
    "/v2/rerank", response_model=CohereV2RerankResponse, openapi_extra=request_body_schema(CohereV2RerankRequest)
)
async def rerank_v2(request: Request) -> CohereV2RerankResponse:
    context = context_of(request)
    body = await read_request(request, CohereV2RerankRequest)
    model = context.table.pick(body.model)
    result = await context.scorer.score(request, model, body.query, body.documents)
    return CohereV2RerankResponse(
        id=str(uuid.uuid4()),
        results=[CohereV2Hit(index=i, relevance_score=result.scores[i]) for i in rank_order(result.scores, body.top_n)],
        meta={
            "api_version": {"version": "2"},
            "billed_units": {"search_units": 1, "input_tokens": result.total_tokens},
        },
    )
