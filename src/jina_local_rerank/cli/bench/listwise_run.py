"""``bench`` for jina-reranker-v3: Jina's one-block-per-forward schedule against ours."""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jina_local_rerank.cli.bench.checkpoints import write_listwise_checkpoint
from jina_local_rerank.cli.bench.machine import MachineRates, measure_machine
from jina_local_rerank.cli.bench.shapes import SHAPES
from jina_local_rerank.cli.bench.tables import Row
from jina_local_rerank.cli.bench.workloads import accuracy, best_time, listwise_flops, make_workload
from jina_local_rerank.reranker import Reranker
from jina_local_rerank.runtime.plan import resolve_device


def run_listwise(
    model: str,
    *,
    device: str | None = None,
    documents: int = 100,
    repeats: int = 3,
    queries: int = 5,
    long: bool = False,
    extra_dtypes: tuple[str, ...] = (),
    requests: int = 1,
    machine: MachineRates | None = None,
) -> list[Row]:
    """jina-reranker-v3 reported like the others. Its upstream code does not load on transformers 5, so
    the baseline is Jina's schedule run natively: fp32, one forward per block, one request at a time.

    Floors as for the cross-encoders: from the best matmul rates seen in the run (``machine``, then a
    measurement before each variant). There are no trained-checkpoint columns: no trained listwise
    model installs offline.
    """
    shape = SHAPES[model]
    torch_device = resolve_device(device)
    machine = machine or measure_machine(torch_device)
    workload = "long" if long else f"{documents} docs"
    if requests > 1:
        workload = f"{requests} x {workload}"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_listwise_checkpoint(shape, Path(tmp) / model)
        started = time.perf_counter()
        ours = Reranker(folder, device=torch_device)
        load_seconds = time.perf_counter() - started
        fp32 = Reranker(folder, device=torch_device, dtype="float32")
        tokenizer = ours.listwise_scorer.tokenizer
        work = [
            make_workload(tokenizer, documents if not long else max(2, documents // 10), seed=seed, long=long)
            for seed in range(requests)
        ]
        pairs = sum(len(docs) for _, docs in work)
        prompts = [len(block.input_ids) for result in fp32.listwise_scorer.score_many(work) for block in result.blocks]
        flops = listwise_flops(shape, prompts)

        def one_block_per_forward() -> None:
            for request in work:
                fp32.listwise_scorer.score_many([request], max_blocks_per_forward=1)

        machine = machine.remeasured()
        base_time = best_time(one_block_per_forward, torch_device, repeats)
        rows.append(
            Row(
                model,
                workload,
                "one block per forward",
                "float32",
                base_time * 1000 / requests,
                pairs / base_time,
                achieved_tflops=flops / base_time / 1e12,
                extra={"seconds": base_time, "flop": flops},
            )
        )
        engines = [("Reranker (defaults)", ours)] + [
            (f"Reranker ({name})", Reranker(folder, device=torch_device, dtype=name)) for name in extra_dtypes
        ]
        for label, reranker in engines:
            call: Callable[[], Any] = (
                functools.partial(reranker.rerank, *work[0])
                if requests == 1
                else functools.partial(reranker.score_many, work)
            )
            machine = machine.remeasured()
            elapsed = best_time(call, torch_device, repeats)
            delta, agreement = accuracy(reranker, fp32, tokenizer, documents, queries, long)
            rows.append(
                Row(
                    model,
                    workload,
                    label,
                    str(reranker.dtype).removeprefix("torch."),
                    elapsed * 1000 / requests,
                    pairs / elapsed,
                    speedup=base_time / elapsed,
                    achieved_tflops=flops / elapsed / 1e12,
                    max_abs_delta=delta,
                    top3_agreement=agreement,
                    extra={
                        "load_seconds": round(load_seconds, 2),
                        "plan": str(reranker.plan),
                        "seconds": elapsed,
                        "flop": flops,
                        "workload_tflop": round(flops / 1e12, 4),
                        "blocks": len(prompts),
                        "prompt_tokens": sum(prompts),
                        "packed": reranker.packed,
                        "attention": reranker.attn_implementation,
                    },
                )
            )
    return machine.finish(rows)
