"""``bench`` for cross-encoders: ``CrossEncoder.predict`` against ``Reranker`` on one shape and workload."""

from __future__ import annotations

import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import CrossEncoder
from tqdm import tqdm

from jina_local_rerank.cli.bench.agreement import TrainedReference
from jina_local_rerank.cli.bench.checkpoints import write_checkpoint
from jina_local_rerank.cli.bench.listwise_run import run_listwise
from jina_local_rerank.cli.bench.machine import MachineRates, measure_machine
from jina_local_rerank.cli.bench.shapes import SHAPES, Shape
from jina_local_rerank.cli.bench.tables import Row
from jina_local_rerank.cli.bench.workloads import accuracy, best_time, make_workload, workload_flops
from jina_local_rerank.models.checkpoint import Architecture
from jina_local_rerank.reranker import Reranker
from jina_local_rerank.runtime import hardware
from jina_local_rerank.runtime.plan import resolve_device


def run(
    model: str,
    *,
    device: str | None = None,
    documents: int = 100,
    repeats: int = 3,
    queries: int = 5,
    long: bool = False,
    extra_dtypes: tuple[str, ...] = (),
    baseline_dtypes: tuple[str, ...] = ("float32",),
    requests: int = 1,
    progress: bool = False,
    trained: TrainedReference | None = None,
    machine: MachineRates | None = None,
) -> list[Row]:
    """Benchmark one model shape on one workload; the first rows are the baselines (fp32 first).

    ``progress`` shows a bar of the stages on stderr; the temporary checkpoint folder is removed
    however the run ends (the command line turns SIGTERM into an exit for that).

    ``requests`` > 1 times a throughput workload: that many queries (``documents`` each) in one call,
    ``score_many`` for us and one ``predict`` over all pairs for the baseline, as a server batches them.

    Each variant's floors come from matmul rates measured just before it is timed, so a noisy
    neighbour slows both alike. ``trained`` (fp32 scores of a trained checkpoint, for agreement) is
    made here when not given; ``bench`` makes it once for all models, and passes the rates it measured
    first as ``machine``.
    """
    shape = SHAPES[model]
    if shape.architecture is Architecture.JINA_V3:
        return run_listwise(
            model,
            device=device,
            documents=documents,
            repeats=repeats,
            queries=queries,
            long=long,
            extra_dtypes=extra_dtypes,
            requests=requests,
            machine=machine,
        )
    torch_device = resolve_device(device)
    machine = machine or measure_machine(torch_device)
    workload = "long" if long else f"{documents} docs"
    if requests > 1:
        workload = f"{requests} x {workload}"
    rows: list[Row] = []
    stages = tqdm(
        total=2 + len(baseline_dtypes) + 2 * (1 + len(extra_dtypes)),
        desc=f"{model}, {workload}",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )

    def stage(name: str) -> None:
        stages.set_postfix_str(name, refresh=False)
        stages.update()

    with stages, tempfile.TemporaryDirectory(prefix="jina-local-rerank-bench-") as tmp:
        if trained is None:
            stages.set_postfix_str("scoring the trained checkpoint in fp32")
            trained = TrainedReference(Path(tmp) / "trained", queries)
        stages.set_postfix_str("writing a random checkpoint")
        folder = write_checkpoint(shape, Path(tmp) / model)
        stage("loading")
        started = time.perf_counter()
        ours = Reranker(folder, device=torch_device)
        load_seconds = time.perf_counter() - started
        fp32 = Reranker(folder, device=torch_device, dtype="float32")
        tokenizer = ours.cross_encoder.tokenizer
        work = [
            make_workload(tokenizer, documents if not long else max(2, documents // 10), seed=seed, long=long)
            for seed in range(requests)
        ]
        pairs = [[query, d] for query, docs in work for d in docs]
        lengths = [len(tokenizer(query, d, truncation=True, max_length=1024)["input_ids"]) for query, d in pairs]
        baseline_flops = workload_flops(shape, lengths)
        base_time: float | None = None
        stage("CrossEncoder.predict")
        for base_dtype in baseline_dtypes:
            baseline = baseline_cross_encoder(shape, folder, torch_device, base_dtype)
            machine = machine.remeasured()
            elapsed = best_time(functools.partial(baseline.predict, pairs), torch_device, repeats)
            base_time = first_time = base_time or elapsed
            rows.append(
                Row(
                    model,
                    workload,
                    "CrossEncoder.predict",
                    base_dtype,
                    elapsed * 1000 / requests,
                    len(pairs) / elapsed,
                    speedup=first_time / elapsed,
                    achieved_tflops=baseline_flops / elapsed / 1e12,
                    extra={"seconds": elapsed, "flop": baseline_flops},
                )
            )
            del baseline
            stage("Reranker")

        engines = [("Reranker (defaults)", ours, None)] + [
            (f"Reranker ({name})", Reranker(folder, device=torch_device, dtype=name), name) for name in extra_dtypes
        ]
        for label, reranker, dtype_name in engines:
            call: Callable[[], object]
            if requests == 1:
                call = functools.partial(reranker.rerank, *work[0])
            else:
                call = functools.partial(reranker.score_many, work)
            machine = machine.remeasured()
            elapsed = best_time(call, torch_device, repeats)
            windows = [pair for query, docs in work for pair in _windows(reranker, query, docs)]
            forward = best_time(functools.partial(reranker.pipeline.scorer.score, windows), torch_device, repeats)
            # Ours reads every window of a long document; the baseline only the first 1024 tokens.
            flops = workload_flops(shape, [len(pair) for pair in windows])
            stage(f"{label}: agreement with fp32")
            delta, agreement = accuracy(reranker, fp32, tokenizer, documents, queries, long)
            on_trained = trained.agreement(device=torch_device, dtype=dtype_name)
            stage("Reranker")
            rows.append(
                Row(
                    model,
                    workload,
                    label,
                    str(reranker.dtype).removeprefix("torch."),
                    elapsed * 1000 / requests,
                    len(pairs) / elapsed,
                    speedup=(base_time or elapsed) / elapsed,
                    achieved_tflops=flops / elapsed / 1e12,
                    forward_tflops=flops / forward / 1e12,
                    max_abs_delta=delta,
                    top3_agreement=agreement,
                    trained_max_abs_delta=on_trained.max_abs_delta,
                    trained_top10_same_order=on_trained.top10_same_order,
                    extra={
                        "load_seconds": round(load_seconds, 2),
                        "plan": str(reranker.plan),
                        "seconds": elapsed,
                        "flop": flops,
                        "trained_top3_overlap": on_trained.top3_overlap,
                        "trained_top10_overlap": on_trained.top10_overlap,
                        "workload_tflop": round(flops / 1e12, 4),
                        "forward_ms": round(forward * 1000, 2),
                        "packed": reranker.packed,
                        "cuda_graphs": reranker.cuda_graphs,
                        "fused_norms": reranker.fused_norms,
                        "attention": reranker.attn_implementation,
                    },
                )
            )
    return machine.finish(rows)


def baseline_cross_encoder(shape: Shape, folder: Path, device: torch.device, dtype: str = "float32") -> CrossEncoder:
    """What a peer adapter gives you: CrossEncoder defaults (batch 32, padded) on the same architecture."""
    if shape.architecture is Architecture.JINA_V2:
        return CrossEncoder(
            str(folder / "native"),
            device=str(device),
            local_files_only=True,
            model_kwargs={"dtype": hardware.parse_dtype(dtype)},
        )
    return Reranker(folder, device=device, dtype=dtype).cross_encoder


def _windows(reranker: Reranker, query: str, docs: list[str]) -> list[Any]:
    """The tokenized windows ``rerank`` scores (to time the model alone, and count its FLOPs)."""
    return reranker.pipeline.windows(query, docs)
