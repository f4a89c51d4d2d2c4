"""The result types every adapter and the server build on: ranked documents and the scores behind them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RerankResult:
    """One reranked document: its position in the input, its score (a Python float) and its text."""

    index: int
    relevance_score: float
    document: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScoredWindow:
    """One window that was scored: which document it came from, its model input, its score."""

    document_index: int
    input_ids: list[int]
    score: float


@dataclass(frozen=True)
class DocumentScores:
    """Per-document scores (best window) in input order, with every window behind them."""

    scores: list[float]
    windows: list[ScoredWindow]

    @property
    def total_tokens(self) -> int:
        """Tokens the model read, special tokens included (what APIs bill as usage)."""
        return sum(len(window.input_ids) for window in self.windows)
