"""The Ray engine of ``jina-local-rerank score``: the same checks and outputs as the local engine,
with the scoring on a pool of Ray actors (``score_dataset``).

Rows come back in input order. A file output (and ``--top-n``) is written by this process from the
scored stream; a folder output is written by Ray's tasks in parallel, both under a temporary name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_dataset
import ray
import ray.data
from ray.exceptions import RayError

from jina_local_rerank.jobs import formats
from jina_local_rerank.jobs.atomic import atomic_output
from jina_local_rerank.jobs.errors import JobInputError
from jina_local_rerank.jobs.local import prepare_input, scored_schema
from jina_local_rerank.jobs.spec import ModelSettings, ScoringColumns
from jina_local_rerank.jobs.top_n import TopNPerGroup
from jina_local_rerank.ray.data import score_dataset


@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Join ``address`` (None: a running Ray in this process, else a new local one); stop only what we started."""
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def read_dataset(stream: formats.InputStream, columns: ScoringColumns) -> ray.data.Dataset:
    """The input as a Ray Dataset, read by Ray's tasks (the format was found by ``open_input``)."""
    if stream.format in ("parquet", formats.FOLDER):
        return ray.data.read_parquet(stream.path)
    if stream.format == "csv":
        options = pa_csv.ConvertOptions(column_types={name: pa.string() for name in columns.text_columns})
        return ray.data.read_csv(stream.path, convert_options=options)
    return ray.data.read_json(stream.path, lines=True)


def _input_error(exc: BaseException) -> JobInputError | None:
    """The JobInputError an actor raised, however Ray wrapped it (by then often only in the traceback's text)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, JobInputError):
            return JobInputError(str(current).strip().splitlines()[-1])
        seen.add(id(current))
        current = getattr(current, "cause", None) or current.__cause__
    found = re.search(rf"{re.escape(JobInputError.__module__)}\.JobInputError: (.+)", str(exc))
    return JobInputError(found.group(1).strip()) if found else None


def run_ray(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    columns: ScoringColumns,
    settings: ModelSettings,
    *,
    address: str | None = None,
    concurrency: int = 1,
    num_gpus: float = 0,
    batch_rows: int = 512,
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """Score every row of ``input_path`` into ``output_path`` on Ray; returns the rows written."""
    stream, _ = prepare_input(input_path, output_path, columns, batch_rows=batch_rows, overwrite=overwrite)
    output_kind = formats.file_format(output_path)
    schema = scored_schema(stream.schema, columns)
    with ray_session(address):
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = progress
        scored = score_dataset(
            read_dataset(stream, columns),
            settings.model,
            query_column=columns.query,
            document_column=columns.document,
            output_column=columns.output,
            concurrency=concurrency,
            num_gpus=num_gpus,
            batch_size=batch_rows,
            max_length=settings.max_length,
            device=settings.device,
            dtype=settings.dtype,
            cache_dir=settings.cache_dir,
            local_files_only=settings.local_files_only,
            backend=settings.backend,
        )
        try:
            return _write(scored, output_path, output_kind, schema, columns)
        except RayError as exc:
            cause = _input_error(exc)
            if cause is None:
                raise
            raise cause from None


def _write(
    scored: ray.data.Dataset, output_path: str | os.PathLike[str], kind: str, schema: pa.Schema, columns: ScoringColumns
) -> int:
    with atomic_output(output_path) as temporary:
        if kind == formats.FOLDER and columns.top_n is None:
            scored.write_parquet(str(temporary))
            return _rows_in_folder(temporary)
        selector = TopNPerGroup(columns) if columns.top_n is not None else None
        writer = formats.OutputWriter(temporary, kind, schema if selector is None else selector.schema(schema))
        written = 0
        try:
            for batch in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
                table = cast(pa.Table, batch).select(schema.names).cast(schema)
                if selector is None:
                    writer.write(table)
                    written += table.num_rows
                else:
                    selector.add(table)
            if selector is not None:
                kept = selector.table(schema)
                writer.write(kept)
                written = kept.num_rows
        finally:
            writer.close()
        return written


def _rows_in_folder(folder: Path) -> int:
    if not any(folder.glob("*.parquet")):
        folder.mkdir(exist_ok=True)
        return 0
    return int(pa_dataset.dataset(folder, format="parquet").count_rows())
