"""Jina's ``POST /v1/rerank`` (its answer is also a valid Cohere v1 answer)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from jina_local_rerank.ranking import rank_order
from jina_local_rerank.server.body import read_request
from jina_local_rerank.server.context import context_of, require_api_key
from jina_local_rerank.server.schemas import (
    JinaRerankRequest,
    JinaRerankResponse,
    RerankHit,
    Usage,
    request_body_schema,
)

router = APIRouter(dependencies=[Depends(require_api_key)])


@router.post(
    "/v1/rerank",
    response_model=JinaRerankResponse,
    response_model_exclude_none=True,
    openapi_extra=request_body_schema(JinaRerankRequest),
)
async def rerank_v1(request: Request) -> JinaRerankResponse:
    context = context_of(request)
    body = await read_request(request, JinaRerankRequest)
    model = context.table.pick(body.model)
    result = await context.scorer.score(request, model, body.query_text(), body.document_texts())
    hits = [
        RerankHit(
            index=index,
            relevance_score=result.scores[index],
            document=body.echoed_document(index) if body.return_documents else None,
        )
        for index in rank_order(result.scores, body.top_n)
    ]
    tokens = result.total_tokens
    return JinaRerankResponse(
        id=str(uuid.uuid4()),
        model=model.name,
        usage=Usage(total_tokens=tokens, prompt_tokens=tokens),
        results=hits,
        meta={"api_version": {"version": "1"}, "billed_units": {"search_units": 1, "input_tokens": tokens}},
    )
