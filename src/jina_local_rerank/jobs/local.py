"""The local engine: stream the input in batches through one model, write the output atomically.

Memory is bounded by one batch of rows (plus groups x N kept rows with ``top_n``); nothing is written
at the output path until every row is scored.
"""

from __future__ import annotations

import itertools
import os
import sys

import pyarrow as pa
from tqdm import tqdm

from jina_local_rerank.jobs import formats
from jina_local_rerank.jobs.atomic import atomic_output
from jina_local_rerank.jobs.checks import check_batch, check_output, check_schema
from jina_local_rerank.jobs.errors import JobInputError
from jina_local_rerank.jobs.scoring import load_reranker, with_scores
from jina_local_rerank.jobs.spec import ModelSettings, ScoringColumns
from jina_local_rerank.jobs.top_n import TopNPerGroup


def scored_schema(schema: pa.Schema, columns: ScoringColumns) -> pa.Schema:
    """The input's columns plus the score (float64)."""
    return schema.append(pa.field(columns.output, pa.float64()))


def prepare_input(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    columns: ScoringColumns,
    *,
    batch_rows: int,
    overwrite: bool,
) -> tuple[formats.InputStream, pa.RecordBatch | None]:
    """Every check that needs no model: output path, input columns and types, and the first batch's nulls."""
    if batch_rows < 1:
        raise JobInputError(f"--batch-size must be at least 1, not {batch_rows}")
    check_output(output_path, overwrite)
    stream = formats.open_input(input_path, batch_rows, columns.text_columns)
    check_schema(stream.schema, columns, str(input_path))
    first = next(stream.batches, None)
    if first is not None:
        check_batch(first, columns, 0, str(input_path))
    return stream, first


def expected_rows(stream: formats.InputStream) -> int | None:
    """Rows the progress bar expects: exact for Parquet, from the line count for text files."""
    if stream.total_rows is not None:
        return stream.total_rows
    lines = formats.count_lines(stream.path)
    return max(lines - 1, 0) if stream.format == "csv" else lines


def run_local(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    columns: ScoringColumns,
    settings: ModelSettings,
    *,
    batch_rows: int = 512,
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """Score every row of ``input_path`` into ``output_path``; returns the rows written."""
    stream, first = prepare_input(input_path, output_path, columns, batch_rows=batch_rows, overwrite=overwrite)
    output_kind = formats.file_format(output_path)
    schema = scored_schema(stream.schema, columns)
    reranker = load_reranker(settings)
    selector = TopNPerGroup(columns) if columns.top_n is not None else None
    batches = itertools.chain([first] if first is not None else [], stream.batches)
    written = 0
    bar = tqdm(total=expected_rows(stream), unit=" rows", file=sys.stderr, disable=not progress, smoothing=0.1)
    with bar, atomic_output(output_path) as temporary:
        writer = formats.OutputWriter(temporary, output_kind, schema if selector is None else selector.schema(schema))
        try:
            seen = 0
            for batch in batches:
                check_batch(batch, columns, seen, str(input_path))
                scored = with_scores(batch, reranker, columns, settings.max_length)
                seen += batch.num_rows
                if selector is None:
                    writer.write(scored)
                    written += scored.num_rows
                else:
                    selector.add(scored)
                bar.update(batch.num_rows)
            if selector is not None:
                kept = selector.table(schema)
                writer.write(kept)
                written = kept.num_rows
        finally:
            writer.close()
    return written
