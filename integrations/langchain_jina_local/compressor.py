"""``JinaLocalRerank``: a LangChain ``BaseDocumentCompressor`` over ``jina_local_rerank.Reranker``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import Field, ValidationInfo, field_validator

from jina_local_rerank import local_model_advice, validation
from jina_local_rerank.options import DEFAULT_TOP_N, OPTION_HELP
from langchain_jina_local._settings import ModelSettings

SCORE_KEY = "relevance_score"


class JinaLocalRerank(ModelSettings, BaseDocumentCompressor):
    """Rerank any retriever's documents locally, best first, keeping ``top_n``.

    Use it as ``ContextualCompressionRetriever(base_compressor=JinaLocalRerank(top_n=3), ...)``.
    Returned documents are copies with ``metadata["relevance_score"]`` (a float) that keep
    ``page_content``, ``metadata`` and ``id``; long documents are windowed, not truncated.
    Scores are sigmoids in [0, 1] for v1/v2 and cosines in [-1, 1] for jina-reranker-v3 (listwise:
    documents are cut to ``max_length`` tokens, 2048 by default, and ``overlap`` does not apply).

    The metadata dict is copied, not its values (they may be locks or clients that cannot be
    copied), and the caller's documents are never changed.
    """

    top_n: int | None = Field(default=DEFAULT_TOP_N, ge=1, description="Documents to keep, best first; None keeps all.")
    max_length: int | None = Field(default=None, ge=1, description=OPTION_HELP["max_length"])
    max_query_length: int | None = Field(default=None, ge=1, description=OPTION_HELP["max_query_length"])
    overlap: int | None = Field(default=None, ge=0, description=OPTION_HELP["overlap"])
    batch_size: int | None = Field(default=None, ge=1, description=OPTION_HELP["batch_size"])

    @field_validator("top_n", "max_length", "max_query_length", "batch_size", mode="before")
    @classmethod
    def _positive(cls, value: Any, info: ValidationInfo) -> Any:
        return validation.check_positive_int(str(info.field_name), value)

    @field_validator("overlap", mode="before")
    @classmethod
    def _non_negative(cls, value: Any, info: ValidationInfo) -> Any:
        return validation.check_non_negative_int(str(info.field_name), value, allow_none=True)

    def model_post_init(self, context: Any) -> None:
        validation.check_rerank_options(
            max_length=self.max_length,
            max_query_length=self.max_query_length,
            overlap=self.overlap,
            batch_size=self.batch_size,
        )
        super().model_post_init(context)

    def rerank(self, documents: Sequence[str | Document], query: str, top_n: int | None = None) -> list[dict[str, Any]]:
        """``[{"index": i, "relevance_score": s}]`` best first, like the hosted ``JinaRerank.rerank``."""
        validation.check_query(query)
        validation.check_positive_int("top_n", top_n)
        if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
            raise TypeError(f"documents must be a list of str or Document, got {type(documents).__name__}.")
        texts: list[str] = []
        for position, document in enumerate(documents):
            if isinstance(document, Document):
                texts.append(document.page_content)
            elif isinstance(document, str):
                texts.append(document)
            else:
                raise TypeError(f"documents[{position}] must be a str or Document, got {type(document).__name__}.")
        with local_model_advice("JinaLocalRerank(model='{path}')"):
            results = self.core.rerank(
                query,
                texts,
                top_n=top_n if top_n is not None else self.top_n,
                max_query_length=self.max_query_length,
                max_length=self.max_length,
                overlap=self.overlap,
                batch_size=self.batch_size,
            )
        return [{"index": r.index, SCORE_KEY: r.relevance_score} for r in results]

    # No acompress_documents: BaseDocumentCompressor's already runs compress_documents in a worker thread.
    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        documents = list(documents)
        for position, document in enumerate(documents):
            if not isinstance(document, Document):
                raise TypeError(f"documents[{position}] must be a Document, got {type(document).__name__}.")
        return [
            Document(
                page_content=documents[hit["index"]].page_content,
                metadata={**documents[hit["index"]].metadata, SCORE_KEY: hit[SCORE_KEY]},
                id=documents[hit["index"]].id,
            )
            for hit in self.rerank(documents, query)
        ]
