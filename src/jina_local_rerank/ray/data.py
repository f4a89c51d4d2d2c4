"""``score_dataset``: score a Ray Dataset of (query, document) rows with a pool of model actors.

Each actor loads the model once; each batch goes through the core's ``score_many`` (rows of one query
share its tokenization, the core batches the windows), so the scores are ``Reranker.rerank``'s.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import ray
import ray.data

from jina_local_rerank.jobs.checks import check_schema
from jina_local_rerank.jobs.errors import JobInputError
from jina_local_rerank.jobs.scoring import load_reranker, with_scores
from jina_local_rerank.jobs.spec import ModelSettings, ScoringColumns
from jina_local_rerank.models.registry import default_model

# What a row of a failing batch shows in the error (each value cut to this many characters).
_SHOWN_CHARS = 60


class PairScoringActor:
    """One model per actor; called with pyarrow batches, returns them with the score column."""

    def __init__(self, columns: ScoringColumns, settings: ModelSettings, torch_threads: int | None = None) -> None:
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)
        self.columns = columns
        self.settings = settings
        self.reranker = load_reranker(settings)

    def __call__(self, batch: pa.Table) -> pa.Table:
        for name in self.columns.text_columns:
            column = batch.column(name)
            if column.null_count:
                row = next(i for i, value in enumerate(column.to_pylist()) if value is None)
                shown = {key: str(value)[:_SHOWN_CHARS] for key, value in batch.slice(row, 1).to_pylist()[0].items()}
                raise JobInputError(f"a row has no {name!r} (null): {shown}")
        return with_scores(batch, self.reranker, self.columns, self.settings.max_length)


def actor_cpus(concurrency: int, num_gpus: float) -> float:
    """CPUs per actor: one beside a GPU; else the cluster's CPUs less one for reading, shared out.

    Actors that hold every CPU starve Ray Data's read tasks and the job stalls, so one CPU stays free.
    """
    if num_gpus:
        return 1.0
    total = ray.cluster_resources().get("CPU", 1.0)
    largest_node = max((node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node["Alive"]), default=total)
    share = min((total - 1) / concurrency, largest_node - 1)
    return max(0.25, share)


def score_dataset(
    ds: ray.data.Dataset,
    model: str | None = None,
    *,
    query_column: str = "query",
    document_column: str = "document",
    output_column: str = "score",
    concurrency: int = 1,
    num_gpus: float = 0,
    num_cpus: float | None = None,
    batch_size: int = 512,
    max_length: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
    **reranker_options: Any,
) -> ray.data.Dataset:
    """``ds`` with ``output_column`` added: ``Reranker.rerank``'s score of each row's document for its query.

    ``concurrency`` actors each load ``model`` once (``num_gpus`` GPUs and ``num_cpus`` CPUs apiece;
    ``num_cpus=None``: see ``actor_cpus``; torch uses that many threads). Blocks are cut to
    ``batch_size`` rows so every actor gets work even from a single file. ``reranker_options``:
    ``cache_dir``, ``local_files_only``, ``backend``.
    """
    if concurrency < 1 or batch_size < 1:
        raise ValueError(f"concurrency and batch_size must be at least 1, not {concurrency} and {batch_size}")
    columns = ScoringColumns(query=query_column, document=document_column, output=output_column)
    schema = ds.schema(fetch_if_missing=False)
    if schema is not None and isinstance(schema.base_schema, pa.Schema):
        check_schema(schema.base_schema, columns, "the dataset")
    settings = ModelSettings(
        model=str(model or default_model()), device=device, dtype=dtype, max_length=max_length, **reranker_options
    )
    cpus = actor_cpus(concurrency, num_gpus) if num_cpus is None else num_cpus
    return ds.repartition(target_num_rows_per_block=batch_size).map_batches(
        PairScoringActor,
        fn_constructor_kwargs={
            "columns": columns,
            "settings": settings,
            "torch_threads": max(1, math.floor(cpus)),
        },
        batch_format="pyarrow",
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_gpus=num_gpus,
        num_cpus=cpus,
    )
