"""Request and response bodies of Jina's ``/v1/rerank`` (also Cohere v1) and Cohere's ``/v2/rerank``.

Numbers and booleans are strict, as in Jina's API: ``"top_n": "2"`` or ``"top_n": true`` is a 422,
not silently coerced. Text fields go through ``clean_text``, so a lone surrogate becomes U+FFFD.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with every character UTF-8 cannot encode (lone surrogates) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text)
    return text


Text = Annotated[StrictStr, AfterValidator(clean_text)]
PositiveInt = Annotated[StrictInt, Field(gt=0)]


class TextDocument(BaseModel):
    """``{"text": ...}``; any other fields are kept and echoed back with the result."""

    model_config = ConfigDict(extra="allow")

    text: Text


class JinaRerankRequest(BaseModel):
    """Jina's ``MixedRankInput`` for text (and Cohere v1's request, which is a subset)."""

    model_config = ConfigDict(extra="forbid")

    model: StrictStr | None = None
    query: Text | TextDocument
    documents: list[Text | TextDocument]
    top_n: PositiveInt | None = None
    return_documents: StrictBool = True

    def query_text(self) -> str:
        return self.query if isinstance(self.query, str) else self.query.text

    def document_texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]

    def echoed_document(self, index: int) -> dict[str, Any]:
        """What ``results[].document`` shows: ``{"text": ...}`` plus the caller's own fields."""
        item = self.documents[index]
        return {"text": item} if isinstance(item, str) else item.model_dump()


class CohereV2RerankRequest(BaseModel):
    """Cohere's v2 request (``documents`` are plain strings there)."""

    model_config = ConfigDict(extra="forbid")

    model: StrictStr | None = None
    query: Text
    documents: list[Text]
    top_n: PositiveInt | None = None
    max_tokens_per_doc: PositiveInt | None = Field(
        default=None, description="Accepted for compatibility; long documents are windowed, never truncated."
    )
    priority: StrictInt | None = Field(default=None, description="Accepted for compatibility; served in order.")


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


def request_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that reads its body itself (strict JSON first, then ``model``)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:  # the request models are not recursive: one level of $defs suffices
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}
