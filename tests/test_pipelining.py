"""Tokenizing in chunks while the GPU scores the previous chunk changes no score and loses no document.

On CUDA with packed batches ``score_many`` draws growing chunks of documents (tokenize, launch,
tokenize the next); here the same path is forced on the CPU, where it must give exactly the scores
of one big chunk, in input order, across several requests.
"""

from __future__ import annotations

import pytest
from conftest import V2_TINY

from jina_local_rerank import Reranker
from jina_local_rerank.runtime.batching import pipeline_chunks
from jina_local_rerank.scoring.inference import PairScorer
from jina_local_rerank.text.windows import document_chunks


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17, 31, 32, 100, 257, 1000, 5000])
def test_pipeline_chunks_cover_every_document_once_in_order(count):
    chunks = pipeline_chunks(count)
    assert [i for chunk in chunks for i in chunk] == list(range(count))
    if count >= 32:
        assert len(chunks) > 1
        assert len(chunks[0]) <= 32  # the GPU starts early
        assert all(len(chunk) >= 16 for chunk in chunks)
        assert all(len(chunk) <= 256 + 16 for chunk in chunks)
    else:
        assert len(chunks) == (1 if count else 0)


def test_document_chunks_span_requests_and_skip_empty_ones():
    requests = [("q0", [f"a{i}" for i in range(20)]), ("q1", []), ("q2", [f"b{i}" for i in range(30)])]
    chunks = document_chunks(requests, pipeline_chunks(50))
    assert len(chunks) == 2
    assert chunks[0] == [(0, range(16))]
    assert chunks[1] == [(0, range(16, 20)), (2, range(30))]
    assert document_chunks(requests, [range(50)]) == [[(0, range(20)), (2, range(30))]]


def test_pipelined_scores_equal_one_chunk(monkeypatch):
    reranker = Reranker(V2_TINY, device="cpu", dtype="float32", packed=True, token_budget=256)
    requests = [
        ("which skincare item?", [" ".join(["organic skincare"] * (i % 9)) + f" item {i}" for i in range(45)]),
        ("empty request", []),
        ("a second query", [f"document number {i} " * (1 + i % 30) for i in range(40)]),
    ]
    expected = reranker.score_many(requests, max_length=48, overlap=8)
    monkeypatch.setattr(PairScorer, "pipelines_tokenization", property(lambda self: True))
    pipelined = reranker.score_many(requests, max_length=48, overlap=8)
    for want, got in zip(expected, pipelined):
        assert got.scores == pytest.approx(want.scores, abs=1e-6)
        assert [(w.document_index, w.input_ids) for w in got.windows] == [
            (w.document_index, w.input_ids) for w in want.windows
        ]
    assert len(pipelined[0].windows) > 45  # long documents were split into windows
    ranked = reranker.rerank(*requests[0], top_n=5, max_length=48, overlap=8)
    assert [r.index for r in ranked] == sorted(range(45), key=lambda i: (-expected[0].scores[i], i))[:5]


def test_score_chunks_keeps_each_chunks_order():
    reranker = Reranker(V2_TINY, device="cpu", dtype="float32")
    tokenizer, scorer = reranker.pipeline.tokenizer, reranker.pipeline.scorer
    pairs = tokenizer.encode_pairs(["q"] * 6, ["a", "bb " * 40, "c c", "d " * 7, "e", "f " * 20], 64)
    whole = scorer.score(pairs)
    parts = scorer.score_chunks([pairs[:2], [], pairs[2:]])
    assert parts[0] + parts[2] == pytest.approx(whole, abs=1e-6)
    assert parts[1] == []
    assert scorer.score_chunks([]) == []
