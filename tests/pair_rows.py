"""Rows of (query, document) pairs for the scoring-job tests, and the scores ``Reranker.rerank`` gives them."""

from __future__ import annotations

import random
from typing import Any

WORDS = [
    "train",
    "Berlin",
    "platform",
    "leaves",
    "nine",
    "skin",
    "care",
    "aloe",
    "vera",
    "chamomile",
    "organic",
    "makeup",
    "colors",
    "bold",
    "Hautpflege",
    "empfindliche",
    "Kamille",
    "東京",
    "駅",
    "電車",
    "قطار",
    "محطة",
    "river",
    "bank",
    "loan",
    "interest",
]
# Small windows so that documents of a few hundred words are split into several windows.
MAX_LENGTH = 64


def make_rows(count: int, queries: int = 25, long_every: int = 40, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` rows over ``queries`` queries; every ``long_every``-th document needs several windows."""
    rng = random.Random(seed)
    query_texts = [" ".join(rng.choices(WORDS, k=rng.randint(2, 6))) + f" #{i}" for i in range(queries)]
    rows = []
    for row in range(count):
        group = rng.randrange(queries)
        length = rng.randint(150, 300) if row % long_every == 0 else rng.randint(1, 12)
        rows.append(
            {
                "query_id": group,
                "query": query_texts[group],
                "document": " ".join(rng.choices(WORDS, k=length)),
                "row": row,
                "weight": rng.random(),
            }
        )
    return rows


def rerank_scores(reranker: Any, rows: list[dict[str, Any]], max_length: int = MAX_LENGTH) -> list[float]:
    """Each row's score from ``Reranker.rerank`` over its query's documents, in row order."""
    rows_of: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        rows_of.setdefault(row["query"], []).append(position)
    scores = [0.0] * len(rows)
    for query, positions in rows_of.items():
        documents = [rows[p]["document"] for p in positions]
        for result in reranker.rerank(query, documents, max_length=max_length):
            scores[positions[result.index]] = result.relevance_score
    return scores


def write_rows(rows: list[dict[str, Any]], path: Any) -> None:
    """Write rows as Parquet, JSON Lines or CSV by the path's extension (CSV through pyarrow, with a header)."""
    import json

    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    suffix = str(path).rsplit(".", 1)[-1]
    if suffix == "jsonl":
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    elif suffix == "csv":
        pa_csv.write_csv(pa.Table.from_pylist(rows), path)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)


def read_rows(path: Any) -> list[dict[str, Any]]:
    """Rows of an output written by the score command (a file or a folder of Parquet files)."""
    import json
    import os

    import pyarrow.csv as pa_csv
    import pyarrow.dataset as pa_dataset

    text = str(path)
    if text.endswith(".jsonl"):
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]
    if text.endswith(".csv"):
        return pa_csv.read_csv(path).to_pylist()
    if os.path.isdir(path):
        return pa_dataset.dataset(path, format="parquet").to_table().to_pylist()
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
