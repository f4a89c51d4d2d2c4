"""Streaming reads and writes of Parquet, JSON Lines and CSV (chosen by extension) with pyarrow.

A path without one of the known extensions is a folder of Parquet files. Readers yield record batches
of a fixed number of rows, so a job's memory does not grow with its input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_dataset
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from jina_local_rerank.jobs.errors import JobInputError

EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
FOLDER = "parquet-folder"
# Bytes pyarrow's CSV and JSON readers parse at a time (their batches are then cut to the asked rows).
_TEXT_BLOCK_BYTES = 4 << 20


def file_format(path: str | os.PathLike[str]) -> str:
    """``parquet``, ``jsonl``, ``csv`` by extension; anything else names a folder of Parquet files."""
    suffix = Path(path).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    if Path(path).is_file():
        raise JobInputError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; use .parquet, .jsonl or .csv "
            "(or a folder of Parquet files)"
        )
    return FOLDER


@dataclass
class InputStream:
    """An opened input: its columns, its row count where cheap to know, and its batches in file order."""

    path: str
    format: str
    schema: pa.Schema
    total_rows: int | None
    batches: Iterator[pa.RecordBatch]


def open_input(path: str | os.PathLike[str], batch_rows: int, text_columns: tuple[str, ...] = ()) -> InputStream:
    """Open ``path`` for streaming. ``text_columns`` are read as text from CSV (never as numbers)."""
    path = str(path)
    kind = file_format(path)
    if not os.path.exists(path):
        raise JobInputError(f"{path}: no such file or folder")
    try:
        if kind == "parquet":
            parquet = pq.ParquetFile(path)
            schema, total = parquet.schema_arrow, parquet.metadata.num_rows
            raw: Iterator[pa.RecordBatch] = parquet.iter_batches(batch_size=batch_rows)
        elif kind == FOLDER:
            dataset = pa_dataset.dataset(path, format="parquet")
            if not dataset.files:
                raise JobInputError(f"{path}: the folder holds no Parquet files")
            schema, total = dataset.schema, dataset.count_rows()
            raw = dataset.to_batches(batch_size=batch_rows)
        elif kind == "csv":
            reader = pa_csv.open_csv(
                path,
                read_options=pa_csv.ReadOptions(block_size=_TEXT_BLOCK_BYTES),
                convert_options=pa_csv.ConvertOptions(column_types={name: pa.string() for name in text_columns}),
            )
            schema, total, raw = reader.schema, None, iter(reader)
        else:
            json_reader = pa_json.open_json(path, read_options=pa_json.ReadOptions(block_size=_TEXT_BLOCK_BYTES))
            schema, total, raw = json_reader.schema, None, iter(json_reader)
    except (pa.ArrowException, OSError) as exc:
        raise JobInputError(f"cannot read {path}: {_first_line(exc)}") from None
    return InputStream(path, kind, schema, total, _rebatch(_readable(raw, path), batch_rows))


def count_lines(path: str | os.PathLike[str]) -> int:
    """Non-empty lines of a text file: the rows of JSON Lines, about the rows of a CSV (plus its header)."""
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def _readable(batches: Iterator[pa.RecordBatch], path: str) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except (pa.ArrowException, OSError) as exc:
        raise JobInputError(f"cannot read {path}: {_first_line(exc)}") from None


def _rebatch(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Cut or join batches to exactly ``rows`` rows (the last one may be shorter)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).combine_chunks().to_batches()[0]
            rest = table.slice(rows)
            pending, held = rest.combine_chunks().to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class OutputWriter:
    """Writes batches of one schema to a Parquet, JSON Lines or CSV file, or a Parquet part in a folder."""

    def __init__(self, path: str | os.PathLike[str], kind: str, schema: pa.Schema) -> None:
        self.kind = kind
        self.schema = schema
        target = Path(path)
        if kind == FOLDER:
            target.mkdir(parents=True, exist_ok=True)
            target = target / "part-00000.parquet"
        self._parquet = pq.ParquetWriter(target, schema) if kind in ("parquet", FOLDER) else None
        self._csv = pa_csv.CSVWriter(str(target), schema) if kind == "csv" else None
        self._jsonl: IO[str] | None = open(target, "w", encoding="utf-8") if kind == "jsonl" else None  # noqa: SIM115

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if self._parquet is not None:
            self._parquet.write(batch)
        elif self._csv is not None:
            self._csv.write(batch)
        elif self._jsonl is not None:
            for row in batch.to_pylist():
                self._jsonl.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")

    def close(self) -> None:
        for closable in (self._parquet, self._csv, self._jsonl):
            if closable is not None:
                closable.close()


def _json_default(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
