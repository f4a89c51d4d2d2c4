"""``JinaLocalCrossEncoder``: the core as a LangChain ``BaseCrossEncoder``.

For people who already use ``CrossEncoderReranker(model=...)``: swap the model in one line.
"""

from __future__ import annotations

from langchain_core.cross_encoders import BaseCrossEncoder
from pydantic import Field

from langchain_jina_local._settings import ModelSettings


class JinaLocalCrossEncoder(ModelSettings, BaseCrossEncoder):
    """Sigmoid relevance of (query, document) pairs, as Python floats, with Jina's ``compute_score``."""

    max_length: int | None = Field(default=None, ge=1, description="Pair length limit; None: the model's.")
    batch_size: int | None = Field(default=None, ge=1, description="Pairs per batch; None uses a token budget.")

    def score(self, text_pairs: list[tuple[str, str]]) -> list[float]:
        pairs = [list(pair) for pair in text_pairs]
        scores = self.core.compute_score(pairs, max_length=self.max_length, batch_size=self.batch_size)
        return scores if isinstance(scores, list) else [scores]
