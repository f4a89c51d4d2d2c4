"""Workloads, FLOP counts and timing helpers shared by every bench run."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from jina_local_rerank.cli.bench.agreement import top
from jina_local_rerank.cli.bench.shapes import SHAPES, Shape
from jina_local_rerank.models.checkpoint import Architecture
from jina_local_rerank.reranker import Reranker


def make_workload(tokenizer: Any, documents: int, seed: int = 0, long: bool = False) -> tuple[str, list[str]]:
    """One query and ``documents`` texts with log-normal token lengths (median ~150, 30-500), or ~3000 if long."""
    generator = torch.Generator().manual_seed(seed)
    usable = torch.arange(4, min(len(tokenizer), 600) - 2)

    def text(length: int) -> str:
        ids = usable[torch.randint(len(usable), (length,), generator=generator)].tolist()
        return tokenizer.decode(ids, skip_special_tokens=True)

    if long:
        lengths = [3000] * documents
    else:
        draws = torch.empty(documents).log_normal_(math.log(150), 0.55, generator=generator)
        lengths = [int(min(500, max(30, value))) for value in draws.tolist()]
    return text(12), [text(n) for n in lengths]


def workload_flops(shape: Shape, lengths: list[int]) -> float:
    """Forward FLOPs of the encoder for sequences of these lengths (linear layers and attention)."""
    ffn = (3 if shape.architecture is Architecture.JINA_BERT else 2) * shape.hidden * shape.intermediate
    per_token = 2 * shape.layers * (4 * shape.hidden * shape.hidden + ffn)
    return sum(per_token * n + 4 * shape.layers * n * n * shape.hidden for n in lengths)


def peak_matmul_rate(device: torch.device, dtype: torch.dtype, size: int | None = None) -> float:
    """Measured FLOP/s of a ``size``-cubed matmul: the machine's practical peak for ``dtype``.

    2048 on CPUs; 8192 on GPUs, where a 2048-cubed matmul is too small to fill an H100.
    """
    size = size or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    return 2 * size**3 / best_time(lambda: a @ b, device, repeats=5 if device.type == "cpu" else 20)


def estimate_seconds(
    models: list[str],
    *,
    device: torch.device,
    documents: int,
    repeats: int,
    queries: int,
    long: bool = False,
    engines: int = 1,
    baselines: int = 1,
    requests: int = 1,
) -> float:
    """Rough wall time of a ``bench`` invocation, from this machine's fp32 matmul rate, said before it starts."""
    rate = peak_matmul_rate(device, torch.float32, size=1024 if device.type == "cpu" else None)
    total = 0.0
    for model in models:
        shape = SHAPES[model]
        workloads = [(documents, 170)] + ([(max(2, documents // 10) * 4, 1024)] if long else [])
        for count, tokens in workloads:
            one_pass = workload_flops(shape, [tokens] * count) / rate
            # The plain baseline runs at about half the floor's speed; ours also times the bare forward
            # and scores the accuracy queries with fp32 besides.
            passes = baselines * 2 * (repeats + 1) + engines * (
                2 * (repeats + 1) + 2 * queries * min(count, 50) / count
            )
            total += one_pass * passes * max(1, requests if count == documents else 1)
        total += 2 + 8 * shape.hidden * shape.vocab / 2e8  # writing and loading the random checkpoint
    return total


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def best_time(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def listwise_flops(shape: Shape, prompt_lengths: list[int]) -> float:
    """Forward FLOPs of the Qwen3 backbone over these prompts (linear layers and causal attention)."""
    head_dim = shape.head_dim or shape.hidden // shape.heads
    q_dim, kv_dim = shape.heads * head_dim, (shape.kv_heads or shape.heads) * head_dim
    per_token = 2 * shape.layers * (shape.hidden * (2 * q_dim + 2 * kv_dim) + 3 * shape.hidden * shape.intermediate)
    # QK^T and PV over the causal half: 2 * 2 * (n^2 / 2) * q_dim per layer.
    return sum(per_token * n + 2 * shape.layers * n * n * q_dim for n in prompt_lengths)


def accuracy(
    reranker: Reranker, fp32: Reranker, tokenizer: Any, documents: int, queries: int, long: bool
) -> tuple[float, float]:
    """Max |score - fp32 score| and how often the top 3 agree, over ``queries`` random queries."""
    if reranker.dtype == torch.float32:
        return 0.0, 1.0
    worst, agree = 0.0, 0
    for seed in range(1, queries + 1):
        query, docs = make_workload(tokenizer, min(documents, 50), seed=seed, long=long)
        fast = reranker.score_documents(query, docs).scores
        exact = fp32.score_documents(query, docs).scores
        worst = max(worst, max(abs(a - b) for a, b in zip(fast, exact)))
        agree += top(fast, 3) == top(exact, 3)
    return worst, agree / queries
