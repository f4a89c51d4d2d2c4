"""Input checks made before any model loads (columns and their types) and on every batch (nulls)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from jina_local_rerank.jobs.errors import JobInputError
from jina_local_rerank.jobs.spec import ScoringColumns

_TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view, pa.types.is_null)


def check_schema(schema: pa.Schema, columns: ScoringColumns, source: str) -> None:
    """Every named column exists, the pair columns hold text, and the new columns don't exist yet."""
    wanted = [("--query-column", columns.query), ("--document-column", columns.document)]
    if columns.group is not None:
        wanted.append(("--group-column", columns.group))
    for option, name in wanted:
        if name not in schema.names:
            raise JobInputError(f"{source}: no column {name!r} ({option}); the columns are {schema.names}")
    for name in columns.text_columns:
        kind = schema.field(name).type
        if not any(test(kind) for test in _TEXT_TYPES):
            raise JobInputError(f"{source}: column {name!r} holds {kind} values; it must hold text")
    added = [columns.output] + ([columns.rank] if columns.top_n is not None else [])
    for name in added:
        if name in schema.names:
            raise JobInputError(f"{source}: the input already has a column {name!r}; choose another --output-column")
    if (columns.group is None) != (columns.top_n is None):
        raise JobInputError("--group-column and --top-n go together: give both or neither")


def check_batch(batch: pa.RecordBatch | pa.Table, columns: ScoringColumns, first_row: int, source: str) -> None:
    """No null query or document; the error names the first bad row (1-based, in input order)."""
    for name in columns.text_columns:
        column = batch.column(name)
        if column.null_count:
            position = pc.index(pc.is_null(column), True).as_py()
            raise JobInputError(f"{source}: row {first_row + position + 1} has no {name!r} (null)")


def check_output(path: str | os.PathLike[str], overwrite: bool) -> None:
    """The output must not exist (unless ``overwrite``) and its folder must."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise JobInputError(f"{path} already exists; pass --overwrite to replace it")
    if not target.parent.is_dir():
        raise JobInputError(f"{path}: the folder {str(target.parent)!r} does not exist")
