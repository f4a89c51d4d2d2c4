"""Score a batch of rows with the core's ``score_many``: rows of one query share its tokenization.

This is the only place the jobs touch the model; the scores are ``Reranker.rerank``'s per-document
scores (long documents windowed, each scored by its best window).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from jina_local_rerank.jobs.spec import ModelSettings, ScoringColumns
from jina_local_rerank.reranker import Reranker


def load_reranker(settings: ModelSettings) -> Reranker:
    """The model each worker (the local process, or one Ray actor) loads once."""
    return Reranker(
        settings.model,
        device=settings.device,
        dtype=settings.dtype,
        cache_dir=settings.cache_dir,
        local_files_only=settings.local_files_only,
        backend=settings.backend,
    )


def score_pairs(
    reranker: Reranker, queries: Sequence[str], documents: Sequence[str], max_length: int | None = None
) -> list[float]:
    """Scores of ``(queries[i], documents[i])`` in row order, grouped by query for one ``score_many`` call."""
    rows_of: dict[str, list[int]] = {}
    for row, query in enumerate(queries):
        rows_of.setdefault(query, []).append(row)
    requests = [(query, [documents[row] for row in rows]) for query, rows in rows_of.items()]
    results = reranker.score_many(requests, max_length=max_length)
    scores = [0.0] * len(queries)
    for rows, result in zip(rows_of.values(), results):
        for row, score in zip(rows, result.scores):
            scores[row] = score
    return scores


def with_scores(
    batch: pa.RecordBatch | pa.Table, reranker: Reranker, columns: ScoringColumns, max_length: int | None = None
) -> pa.Table:
    """The batch with the score column appended (float64, so the scores are ``rerank``'s floats exactly)."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    queries = table.column(columns.query).to_pylist()
    documents = table.column(columns.document).to_pylist()
    scores = score_pairs(reranker, queries, documents, max_length)
    return table.append_column(pa.field(columns.output, pa.float64()), pa.array(scores, pa.float64()))
