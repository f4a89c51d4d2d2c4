"""One bench result per row, and the tables and JSON the command prints."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    model: str
    workload: str
    engine: str
    dtype: str
    ms_per_query: float
    pairs_per_s: float
    speedup: float = 1.0
    floor_ratio: float | None = None  # time / (FLOPs / matmul rate of the dtype used)
    accurate_floor_ratio: float | None = None  # time / (FLOPs / best rate among fp32 and native fp16)
    achieved_tflops: float | None = None
    forward_tflops: float | None = None
    max_abs_delta: float | None = None
    top3_agreement: float | None = None
    trained_max_abs_delta: float | None = None  # on a trained checkpoint, against its fp32 scores
    trained_top10_same_order: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def to_markdown(rows: list[Row]) -> str:
    lines = [
        (
            "| model | workload | engine | dtype | ms/query | pairs/s | speed-up | x floor | x accurate floor "
            "| TFLOP/s | model-only TFLOP/s | max abs Δ | top-3 agree | trained max abs Δ | trained top-10 order |"
        ),
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fmt = lambda v, spec: "" if v is None else format(v, spec)
    for r in rows:
        lines.append(
            f"| {r.model} | {r.workload} | {r.engine} | {r.dtype} | {r.ms_per_query:.1f} | {r.pairs_per_s:.1f} | "
            f"{r.speedup:.2f} | {fmt(r.floor_ratio, '.2f')} | {fmt(r.accurate_floor_ratio, '.2f')} | "
            f"{fmt(r.achieved_tflops, '.3f')} | {fmt(r.forward_tflops, '.3f')} | "
            f"{fmt(r.max_abs_delta, '.4f')} | {fmt(r.top3_agreement, '.2f')} | "
            f"{fmt(r.trained_max_abs_delta, '.4f')} | {fmt(r.trained_top10_same_order, '.2f')} |"
        )
    return "\n".join(lines)


def resources_line(rows: list[Row]) -> str:
    """Load time of our default engine and the process's peak memory so far, for one run's rows."""
    ours = next((r for r in rows if "load_seconds" in r.extra), None)
    parts = [
        f"load {ours.extra['load_seconds']} s" if ours else None,
        f"plan: {ours.extra['plan']}" if ours and "plan" in ours.extra else None,
        f"peak RSS {rows[0].extra.get('peak_rss_mib')} MiB",
        f"peak GPU {rows[0].extra['peak_gpu_mib']} MiB" if "peak_gpu_mib" in rows[0].extra else None,
    ]
    return f"{rows[0].model}, {rows[0].workload}: " + ", ".join(p for p in parts if p)


def rows_to_json(rows: list[Row]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)
