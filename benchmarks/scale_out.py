"""Pairs per second of ``jina-local-rerank score`` with ``--engine local`` and ``--engine ray`` (1 and 2 actors).

    python benchmarks/scale_out.py --model tests/fixtures/jina-v2-tiny --rows 4000

Each run scores the same Parquet file end to end (model loads included; Ray is started once before the
runs, its start time is printed apart). Prints a markdown table for docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def cpu_name() -> str:
    """The CPU as lscpu names it (``unknown`` where lscpu is missing)."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), "unknown")


def write_pairs(path: Path, rows: int, seed: int = 0) -> None:
    """``rows`` pairs over 50 queries: documents of 5-60 words, every 50th of 300 words (several windows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    words = [
        "train",
        "Berlin",
        "platform",
        "skin",
        "care",
        "aloe",
        "organic",
        "makeup",
        "river",
        "bank",
        "loan",
        "interest",
        "station",
    ]
    queries = [" ".join(rng.choices(words, k=5)) for _ in range(50)]
    table = {
        "query": [queries[rng.randrange(50)] for _ in range(rows)],
        "document": [" ".join(rng.choices(words, k=300 if i % 50 == 0 else rng.randint(5, 60))) for i in range(rows)],
    }
    pq.write_table(pa.table(table), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="hub id or local folder")
    parser.add_argument("--rows", type=int, default=4000, help="pairs per run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--batch-size", type=int, default=512, help="rows per scoring call / Ray batch")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="Ray engine runs with these actors")
    parser.add_argument("--num-gpus", type=float, default=0, help="GPUs per Ray actor")
    parser.add_argument(
        "--local-threads", type=int, default=None, help="torch threads of the local run (None: torch's)"
    )
    args = parser.parse_args()

    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))
    import ray

    from jina_local_rerank.jobs.local import run_local
    from jina_local_rerank.jobs.spec import ModelSettings, ScoringColumns
    from jina_local_rerank.ray.data import actor_cpus
    from jina_local_rerank.ray.job import run_ray

    folder = Path(tempfile.mkdtemp(prefix="jlr-bench-", dir="/tmp"))
    try:
        source = folder / "pairs.parquet"
        write_pairs(source, args.rows)
        columns = ScoringColumns()
        settings = ModelSettings(model=args.model, device=args.device, dtype=args.dtype)
        results: list[tuple[str, float]] = []

        import torch

        if args.local_threads:
            torch.set_num_threads(args.local_threads)
        local_name = f"local ({torch.get_num_threads()} torch threads)"
        started = time.perf_counter()
        run_local(source, folder / "local.parquet", columns, settings, batch_rows=args.batch_size, progress=False)
        results.append((local_name, time.perf_counter() - started))

        started = time.perf_counter()
        ray.init(_temp_dir=str(folder / "ray"), include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - started
        try:
            for actors in args.actors:
                started = time.perf_counter()
                run_ray(
                    source,
                    folder / f"ray-{actors}.parquet",
                    columns,
                    settings,
                    concurrency=actors,
                    num_gpus=args.num_gpus,
                    batch_rows=args.batch_size,
                    progress=False,
                )
                name = (
                    f"ray, {actors} actor{'s' if actors > 1 else ''} ({actor_cpus(actors, args.num_gpus):g} CPU each)"
                )
                results.append((name, time.perf_counter() - started))
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); model {args.model} on {args.device}; {args.rows} pairs")
    print(f"Ray start (not in the runs): {ray_start:.1f} s\n")
    print("| engine | seconds | pairs/s |\n|---|---:|---:|")
    for name, seconds in results:
        print(f"| {name} | {seconds:.1f} | {args.rows / seconds:.0f} |")


if __name__ == "__main__":
    main()
