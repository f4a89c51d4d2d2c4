"""``jina-local-rerank score``: turn the parsed options into a job and run it on the chosen engine (local or Ray)."""

from __future__ import annotations

import argparse
import sys

from jina_local_rerank.jobs.errors import JobInputError
from jina_local_rerank.jobs.spec import ModelSettings, ScoringColumns
from jina_local_rerank.models.registry import default_model


def _positive(option: str, value: float | None, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 if allow_zero else value < 1):
        raise JobInputError(f"{option} must be {'at least 0' if allow_zero else 'at least 1'}, not {value}")


def job_from_args(args: argparse.Namespace) -> tuple[ScoringColumns, ModelSettings]:
    """Columns and model settings from the command line, with the options' bounds checked."""
    _positive("--top-n", args.top_n)
    _positive("--batch-size", args.batch_size)
    _positive("--concurrency", args.concurrency)
    _positive("--max-length", args.max_length)
    _positive("--num-gpus", args.num_gpus, allow_zero=True)
    columns = ScoringColumns(
        query=args.query_column,
        document=args.document_column,
        output=args.output_column,
        group=args.group_column,
        top_n=args.top_n,
    )
    settings = ModelSettings(
        model=args.model or default_model(),
        device=args.device,
        dtype=args.dtype,
        max_length=args.max_length,
        cache_dir=args.cache_dir,
        local_files_only=args.local_files_only or None,
        backend=args.backend,
    )
    return columns, settings


def run_score_command(args: argparse.Namespace) -> int:
    """Run the job; bad input is one ``error:`` line and exit code 2."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        print('error: scoring files needs pyarrow: pip install "jina-local-rerank[jobs]"', file=sys.stderr)
        return 2
    try:
        columns, settings = job_from_args(args)
        if args.engine == "ray":
            try:
                from jina_local_rerank.ray.job import run_ray
            except ImportError as exc:
                raise JobInputError(str(exc)) from None
            rows = run_ray(
                args.input,
                args.output,
                columns,
                settings,
                address=args.ray_address,
                concurrency=args.concurrency,
                num_gpus=args.num_gpus,
                batch_rows=args.batch_size,
                overwrite=args.overwrite,
                progress=not args.no_progress,
            )
        else:
            from jina_local_rerank.jobs.local import run_local

            rows = run_local(
                args.input,
                args.output,
                columns,
                settings,
                batch_rows=args.batch_size,
                overwrite=args.overwrite,
                progress=not args.no_progress,
            )
    except JobInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {rows} rows to {args.output}", file=sys.stderr)
    return 0
