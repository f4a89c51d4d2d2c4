"""Property tests of the core's public API: any text, any document list, any option value."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import V1_TINY, V2_TINY
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    PROPERTY_SETTINGS,
    assert_ranked,
    document_lists,
    huge_texts,
    is_documented_error,
    positive_or_hostile,
    texts,
)

from jina_local_rerank import Reranker

FOLDERS = {"v2": V2_TINY, "v1": V1_TINY}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=list(FOLDERS))
def reranker(request):
    return Reranker(FOLDERS[request.param], device="cpu", dtype="float32")


def valid_rerank_options(max_length_limit: int) -> st.SearchStrategy[dict]:
    """Options the documented rules accept: the call must succeed."""

    @st.composite
    def build(draw) -> dict:
        max_length = draw(st.one_of(st.none(), st.integers(min_value=6, max_value=max_length_limit)))
        query_limit = (max_length if max_length is not None else max_length_limit) // 2
        return {
            "top_n": draw(st.one_of(st.none(), st.integers(min_value=1, max_value=8))),
            "max_length": max_length,
            "max_query_length": draw(st.one_of(st.none(), st.integers(min_value=3, max_value=query_limit))),
            "overlap": draw(st.integers(min_value=0, max_value=300)),
            "batch_size": draw(st.one_of(st.none(), st.integers(min_value=1, max_value=4))),
        }

    return build()


hostile_rerank_options = st.fixed_dictionaries(
    {
        "top_n": positive_or_hostile(1, 8),
        "max_length": positive_or_hostile(1, 20000),
        "max_query_length": positive_or_hostile(1, 300),
        "overlap": st.one_of(st.integers(min_value=0, max_value=200), positive_or_hostile(0, 0)),
        "batch_size": positive_or_hostile(1, 4),
    }
)


@PROPERTY_SETTINGS
@given(query=huge_texts, documents=document_lists, data=st.data())
def test_rerank_ranks_every_document(reranker, query, documents, data):
    options = data.draw(valid_rerank_options(min(1024, reranker.max_length)))
    before = list(documents)
    results = reranker.rerank(query, documents, **options)
    assert documents == before
    assert_ranked([r.index for r in results], [r.relevance_score for r in results], len(documents), options["top_n"])
    assert all(r.document is documents[r.index] for r in results)
    assert all(type(r.index) is int and type(r.relevance_score) is float for r in results)


@PROPERTY_SETTINGS
@given(query=texts, documents=document_lists, options=hostile_rerank_options)
def test_rerank_with_any_options_ranks_or_raises_a_documented_error(reranker, query, documents, options):
    try:
        results = reranker.rerank(query, documents, **options)
    except Exception as error:  # noqa: BLE001 - the property is about which errors may escape
        assert is_documented_error(error), repr(error)
        return
    assert_ranked([r.index for r in results], [r.relevance_score for r in results], len(documents), options["top_n"])


@PROPERTY_SETTINGS
@given(
    pairs=st.lists(st.tuples(huge_texts, huge_texts), max_size=5),
    max_length=positive_or_hostile(4, 2048),
    batch_size=positive_or_hostile(1, 4),
)
def test_compute_score_scores_every_pair_or_raises_a_documented_error(reranker, pairs, max_length, batch_size):
    as_lists = [list(pair) for pair in pairs]
    try:
        scores = reranker.compute_score(as_lists, max_length=max_length, batch_size=batch_size)
    except Exception as error:  # noqa: BLE001
        assert is_documented_error(error), repr(error)
        return
    assert [list(pair) for pair in pairs] == as_lists
    assert isinstance(scores, list) and len(scores) == len(pairs)
    assert all(type(s) is float and math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)


@settings(PROPERTY_SETTINGS, max_examples=8)
@given(requests=st.lists(st.tuples(texts, document_lists), min_size=1, max_size=3))
def test_score_many_equals_score_documents_per_request(reranker, requests):
    together = reranker.score_many(requests)
    for (query, documents), scores in zip(requests, together):
        alone = reranker.score_documents(query, documents)
        assert scores.scores == pytest.approx(alone.scores, abs=1e-5)
        assert len(scores.scores) == len(documents)


def test_lone_surrogates_are_scored_as_replacement_characters(reranker, caplog):
    broken, repaired = "organic \ud800 skin \udfff care", "organic \ufffd skin \ufffd care"
    with caplog.at_level(logging.WARNING, logger="jina_local_rerank"):
        scores = reranker.compute_score([["skin \ud83d\ude00", broken], ["skin 😀", repaired]])
        ranked = reranker.rerank("skin", ["fine", broken, "\ud800"])
        many = reranker.score_many([("\udc00", [broken])])
    assert scores[0] == scores[1]
    assert [r.index for r in ranked] == sorted(range(3), key=lambda i: (-ranked_score(ranked, i), i))
    assert ranked_score(ranked, 1) == reranker.rerank("skin", [repaired])[0].relevance_score
    assert len(many[0].scores) == 1
    warnings = [r for r in caplog.records if "U+FFFD" in r.getMessage()]
    assert len(warnings) <= 1  # once per process: an earlier test may have had it already


@pytest.mark.slow  # a fresh interpreter that imports torch
def test_repairs_are_logged_once_per_process():
    script = (
        "import logging; logging.basicConfig()\n"
        "from jina_local_rerank.text.repair import repair_texts\n"
        "print(ascii(repair_texts(['a\\ud800', '\\udc00b', 'fine', '\\ud83d\\ude00'])))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == ascii(["a\ufffd", "\ufffdb", "fine", "\U0001f600"])
    assert done.stderr.count("U+FFFD") == 1


def ranked_score(results, index: int) -> float:
    return next(r.relevance_score for r in results if r.index == index)


def test_identical_documents_in_one_call_score_identically(reranker):
    documents = ["organic skin care for sensitive skin"] * 5 + ["a much longer document " * 40, "x"]
    scores = reranker.compute_score([["skin", d] for d in documents])
    assert len(set(scores[:5])) == 1
    ranked = reranker.rerank("skin", documents)
    tied = [r.index for r in ranked if r.index < 5]
    assert tied == sorted(tied)
