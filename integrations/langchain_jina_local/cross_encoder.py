"""``JinaLocalCrossEncoder``: the core as a LangChain ``BaseCrossEncoder``.

For people who already use ``CrossEncoderReranker(model=...)``: swap the model in one line.
"""

from __future__ import annotations

from typing import Any

from langchain_core.cross_encoders import BaseCrossEncoder
from pydantic import Field, ValidationInfo, field_validator

from jina_local_rerank import local_model_advice, validation
from langchain_jina_local._settings import ModelSettings


class JinaLocalCrossEncoder(ModelSettings, BaseCrossEncoder):
    """Sigmoid relevance of (query, document) pairs, as Python floats, with Jina's ``compute_score``."""

    max_length: int | None = Field(default=None, ge=1, description="Pair length limit; None: the model's.")
    batch_size: int | None = Field(default=None, ge=1, description="Pairs per batch; None uses a token budget.")

    @field_validator("max_length", "batch_size", mode="before")
    @classmethod
    def _positive(cls, value: Any, info: ValidationInfo) -> Any:
        return validation.check_positive_int(str(info.field_name), value)

    def score(self, text_pairs: list[tuple[str, str]]) -> list[float]:
        pairs = validation.check_pairs(text_pairs, name="text_pairs")
        if not pairs:
            return []
        with local_model_advice("JinaLocalCrossEncoder(model='{path}')"):
            scores = self.core.compute_score(pairs, max_length=self.max_length, batch_size=self.batch_size)
        return scores if isinstance(scores, list) else [scores]
