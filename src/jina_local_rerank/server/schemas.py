"""Request and response bodies of Jina's ``/v1/rerank`` (also Cohere v1) and Cohere's ``/v2/rerank``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TextDocument(BaseModel):
    """``{"text": ...}``; any other fields are kept and echoed back with the result."""

    model_config = ConfigDict(extra="allow")

    text: str


class JinaRerankRequest(BaseModel):
    """Jina's ``MixedRankInput`` for text (and Cohere v1's request, which is a subset)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    query: str | TextDocument
    documents: list[str | TextDocument]
    top_n: int | None = Field(default=None, gt=0)
    return_documents: bool = True

    def query_text(self) -> str:
        return self.query if isinstance(self.query, str) else self.query.text

    def document_texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


class CohereV2RerankRequest(BaseModel):
    """Cohere's v2 request (``documents`` are plain strings there)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    query: str
    documents: list[str]
    top_n: int | None = Field(default=None, gt=0)
    priority: int | None = Field(default=None, description="Accepted for compatibility; requests are served in order.")


class Usage(BaseModel):
    total_tokens: int
    prompt_tokens: int


class RerankHit(BaseModel):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None


class JinaRerankResponse(BaseModel):
    """Jina's ``RankingOutput``; with ``id`` and ``meta`` also a valid Cohere v1 response."""

    id: str
    model: str
    usage: Usage
    results: list[RerankHit]
    meta: dict[str, Any]


class CohereV2Hit(BaseModel):
    index: int
    relevance_score: float


class CohereV2RerankResponse(BaseModel):
    id: str
    results: list[CohereV2Hit]
    meta: dict[str, Any]
