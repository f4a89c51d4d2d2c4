"""Cohere's ``POST /v2/rerank``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from jina_local_rerank.ranking import rank_order
from jina_local_rerank.server.body import parse_json_body
from jina_local_rerank.server.context import context_of, require_api_key
from jina_local_rerank.server.errors import validation_error
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
    data = parse_json_body(await request.body())
    context.scorer.check_document_count(data)
    try:
        body = CohereV2RerankRequest.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None
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
