"""Every input rule of compute_score and rerank: clear errors, documented behaviour, nothing dropped."""

from __future__ import annotations

import pytest
from conftest import V2_TINY

from jina_local_rerank import Reranker

QUERY = "Organic skincare products for sensitive skin"
DOCS = [
    "Gentle organic creams calm sensitive skin.",
    "The train leaves at 9:45.",
    "Bio-Hautpflege für empfindliche Haut.",
]


@pytest.mark.parametrize("query", [None, 3, b"bytes", ["a"]])
def test_non_string_query_is_a_type_error(v2_reranker, query):
    with pytest.raises(TypeError, match="query must be a str"):
        v2_reranker.rerank(query, DOCS)


def test_non_string_document_names_its_position(v2_reranker):
    with pytest.raises(TypeError, match=r"documents\[2\] must be a str, got NoneType"):
        v2_reranker.rerank(QUERY, ["a", "b", None, "d"])


@pytest.mark.parametrize("documents", ["just one string", None, 42])
def test_documents_must_be_a_list(v2_reranker, documents):
    with pytest.raises(TypeError, match="documents must be a list of str"):
        v2_reranker.rerank(QUERY, documents)


def test_empty_document_list_returns_empty_without_loading():
    reranker = Reranker(V2_TINY, device="cpu", lazy=True)
    assert reranker.rerank(QUERY, []) == []
    assert reranker.compute_score([]) == []
    assert not reranker.is_loaded


def test_bad_pairs_name_their_position(v2_reranker):
    with pytest.raises(TypeError, match=r"sentence_pairs\[1\]\[1\] must be a str, got int"):
        v2_reranker.compute_score([[QUERY, "a"], [QUERY, 5]])
    with pytest.raises(TypeError, match=r"sentence_pairs\[0\] must be a \[query, document\] pair"):
        v2_reranker.compute_score([[QUERY, "a", "b"]])
    with pytest.raises(TypeError, match="sentence_pairs must be a list"):
        v2_reranker.compute_score("not pairs")


def test_single_pair_returns_float_and_list_returns_list(v2_reranker):
    single = v2_reranker.compute_score([QUERY, DOCS[0]])
    as_tuple = v2_reranker.compute_score((QUERY, DOCS[0]))
    batch = v2_reranker.compute_score([[QUERY, DOCS[0]]])
    assert type(single) is float and type(as_tuple) is float
    assert batch == [single] and as_tuple == single


@pytest.mark.parametrize("top_n", [0, -1])
def test_top_n_below_one_is_a_value_error(v2_reranker, top_n):
    with pytest.raises(ValueError, match="top_n must be a positive integer"):
        v2_reranker.rerank(QUERY, DOCS, top_n=top_n)


def test_top_n_none_returns_all_and_large_top_n_is_clamped(v2_reranker):
    everything = v2_reranker.rerank(QUERY, DOCS)
    assert len(everything) == len(DOCS)
    assert v2_reranker.rerank(QUERY, DOCS, top_n=100) == everything
    assert v2_reranker.rerank(QUERY, DOCS, top_n=2) == everything[:2]
    assert sorted(r.index for r in everything) == [0, 1, 2]
    assert [r.relevance_score for r in everything] == sorted((r.relevance_score for r in everything), reverse=True)


def test_max_length_below_twice_the_query_length_names_the_numbers(v2_reranker):
    with pytest.raises(
        ValueError, match=r"max_length \(100\) must be at least 2 \* max_query_length \(2 \* 64 = 128\)"
    ):
        v2_reranker.rerank(QUERY, DOCS, max_length=100, max_query_length=64)


def test_max_length_beyond_the_position_table_is_refused(v2_reranker):
    with pytest.raises(ValueError, match="max_length=2048 exceeds"):
        v2_reranker.rerank(QUERY, DOCS, max_length=2048)
    with pytest.raises(ValueError, match="max_length=4096 exceeds"):
        v2_reranker.compute_score([[QUERY, DOCS[0]]], max_length=4096)


@pytest.mark.parametrize("kwargs", [{"overlap": -1}, {"batch_size": 0}, {"max_query_length": 0}])
def test_other_bad_numbers(v2_reranker, kwargs):
    with pytest.raises(ValueError):
        v2_reranker.rerank(QUERY, DOCS, **kwargs)


def test_ties_keep_input_order(v2_reranker):
    documents = ["same text", "other text", "same text", "same text"]
    results = v2_reranker.rerank(QUERY, documents)
    same = [r.index for r in results if r.document == "same text"]
    assert same == [0, 2, 3]
    assert len({r.relevance_score for r in results if r.document == "same text"}) == 1


def test_batch_size_and_token_budget_do_not_change_scores(v2_reranker):
    documents = [d * k for k, d in enumerate(DOCS * 3, start=1)]
    reference = v2_reranker.score_documents(QUERY, documents, max_length=64, max_query_length=16).scores
    for batch_size in (1, 2, 7):
        scores = v2_reranker.score_documents(
            QUERY, documents, max_length=64, max_query_length=16, batch_size=batch_size
        ).scores
        assert scores == pytest.approx(reference, abs=1e-5)


def test_duplicates_and_whitespace_documents_are_all_returned(v2_reranker):
    documents = ["", "   ", "\n", DOCS[0], DOCS[0]]
    results = v2_reranker.rerank(QUERY, documents)
    assert sorted(r.index for r in results) == list(range(len(documents)))
    assert [documents[r.index] for r in results] == [r.document for r in results]


def test_progress_bar_when_asked(v2_reranker, capsys):
    v2_reranker.rerank(QUERY, DOCS, show_progress_bar=True)
    assert "Scoring" in capsys.readouterr().err
    v2_reranker.rerank(QUERY, DOCS)
    assert "Scoring" not in capsys.readouterr().err


def test_bad_dtype_and_device():
    with pytest.raises(ValueError, match="Unsupported dtype"):
        Reranker(V2_TINY, dtype="int8", lazy=True)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            Reranker(V2_TINY, device="cuda", lazy=True)


def test_score_many_equals_one_request_at_a_time(v2_reranker):
    requests = [(QUERY, DOCS), ("train times", DOCS[::-1]), ("empty", [])]
    together = v2_reranker.score_many(requests, max_length=64, max_query_length=16)
    for (query, documents), result in zip(requests, together):
        alone = v2_reranker.score_documents(query, documents, max_length=64, max_query_length=16)
        assert result.scores == pytest.approx(alone.scores, abs=1e-5)
        assert [w.input_ids for w in result.windows] == [w.input_ids for w in alone.windows]


def test_out_of_memory_batches_are_split_and_retried(v2_reranker, monkeypatch):
    import torch

    documents = [d * k for k, d in enumerate(DOCS * 3, start=1)]
    expected = v2_reranker.score_documents(QUERY, documents, batch_size=8).scores
    scorer = v2_reranker.pipeline.scorer
    real_forward = scorer.forward
    sizes = []

    def forward_with_little_memory(pairs):
        sizes.append(len(pairs))
        if len(pairs) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_forward(pairs)

    monkeypatch.setattr(scorer, "forward", forward_with_little_memory)
    assert v2_reranker.score_documents(QUERY, documents, batch_size=8).scores == pytest.approx(expected, abs=1e-5)
    assert max(sizes) == 8 and all(size <= 2 for size in sizes if size not in (8, 4, 3))
