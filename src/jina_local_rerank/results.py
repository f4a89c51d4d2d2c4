"""The result type every adapter and the server build on."""

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
