"""What a scoring job is asked to do, in one value both engines read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoringColumns:
    """Which columns hold the pairs, where the score goes, and the optional per-group selection."""

    query: str = "query"
    document: str = "document"
    output: str = "score"
    group: str | None = None
    top_n: int | None = None
    rank: str = "rank"

    @property
    def text_columns(self) -> tuple[str, str]:
        return (self.query, self.document)


@dataclass(frozen=True)
class ModelSettings:
    """How each worker loads and runs the model (``Reranker``'s arguments)."""

    model: str
    device: str | None = None
    dtype: str | None = None
    max_length: int | None = None
    cache_dir: str | None = None
    local_files_only: bool | None = None
    backend: str = "torch"
