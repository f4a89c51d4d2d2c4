"""``bench --backend all``: torch, ONNX Runtime and OpenVINO on one model, with score agreement."""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from jina_local_rerank.cli.bench.agreement import TrainedReference
from jina_local_rerank.cli.bench.checkpoints import write_checkpoint
from jina_local_rerank.cli.bench.shapes import SHAPES
from jina_local_rerank.cli.bench.torch_run import baseline_cross_encoder
from jina_local_rerank.cli.bench.workloads import best_time, make_workload
from jina_local_rerank.reranker import Reranker

# (backend, dtype) in table order; dtype None is the torch default for the device.
BACKEND_ENGINES: list[tuple[str, str | None]] = [
    ("torch", "float32"),
    ("torch", None),
    ("onnx", "float32"),
    ("onnx", "int8"),
    ("openvino", "float32"),
    ("openvino", "bfloat16"),
    ("openvino", "int8"),
]


@dataclass
class BackendRow:
    engine: str
    dtype: str
    ms_per_100_documents: float
    speedup: float
    max_abs_delta: float | None = None
    top3_overlap: float | None = None
    top10_overlap: float | None = None


def run_backends(
    model: str,
    *,
    documents: int = 100,
    repeats: int = 3,
    queries: int = 10,
    engines: list[tuple[str, str | None]] | None = None,
) -> list[BackendRow]:
    """Every backend and precision on the bench workload of ``model``, in one run.

    Time per 100 documents of ``rerank`` on the random checkpoint of ``model``'s shape (speed does not
    depend on the weights), speed-up over ``CrossEncoder.predict`` fp32, and agreement with torch fp32
    (max |score delta|, top-3 / top-10 overlap) over ``queries`` queries on a trained checkpoint.
    Exports go to a temporary cache, so each is built (and its time not counted) once per run.
    """
    from jina_local_rerank.backends.export_cache import ENV_VARIABLE

    engines = engines or BACKEND_ENGINES
    shape = SHAPES[model]
    device = torch.device("cpu")
    rows: list[BackendRow] = []
    previous = os.environ.get(ENV_VARIABLE)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[ENV_VARIABLE] = str(Path(tmp) / "exports")
        try:
            folder = write_checkpoint(shape, Path(tmp) / model)
            trained = TrainedReference(Path(tmp) / "trained", queries, min(documents, 50))
            tokenizer = Reranker(folder, device="cpu", dtype="float32").cross_encoder.tokenizer
            query, docs = make_workload(tokenizer, documents)
            baseline = baseline_cross_encoder(shape, folder, device, "float32")
            pairs = [[query, d] for d in docs]
            base_time = best_time(functools.partial(baseline.predict, pairs), device, repeats)
            del baseline
            rows.append(BackendRow("CrossEncoder.predict", "float32", base_time * 1000 * 100 / documents, 1.0))
            for backend, dtype in engines:
                reranker = Reranker(folder, backend=backend, dtype=dtype, device="cpu")
                elapsed = best_time(functools.partial(reranker.rerank, query, docs), device, repeats)
                label = reranker.precision or str(reranker.dtype).removeprefix("torch.")
                del reranker
                agreement = trained.agreement(backend=backend, dtype=dtype, device="cpu")
                rows.append(
                    BackendRow(
                        f"Reranker ({backend}{', default' if dtype is None else ''})",
                        label,
                        elapsed * 1000 * 100 / documents,
                        base_time / elapsed,
                        max_abs_delta=agreement.max_abs_delta,
                        top3_overlap=agreement.top3_overlap,
                        top10_overlap=agreement.top10_overlap,
                    )
                )
        finally:
            if previous is None:
                os.environ.pop(ENV_VARIABLE, None)
            else:
                os.environ[ENV_VARIABLE] = previous
    return rows


def backends_markdown(rows: list[BackendRow]) -> str:
    lines = [
        "| engine | dtype | ms / 100 docs | speed-up | max abs Δ | top-3 overlap | top-10 overlap |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    fmt = lambda v, spec: "" if v is None else format(v, spec)
    for r in rows:
        lines.append(
            f"| {r.engine} | {r.dtype} | {r.ms_per_100_documents:.0f} | {r.speedup:.2f} | "
            f"{fmt(r.max_abs_delta, '.2e')} | {fmt(r.top3_overlap, '.2f')} | {fmt(r.top10_overlap, '.2f')} |"
        )
    return "\n".join(lines)
