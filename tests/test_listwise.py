"""The pure pieces of jina-reranker-v3's algorithm: sanitising, prompt, truncation, blocks, merge."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jina_local_rerank.text import listwise_prompt as listwise

MARKERS = (listwise.DOCUMENT_MARKER, listwise.QUERY_MARKER)
marker_text = st.lists(
    st.one_of(st.sampled_from([*MARKERS, "<|", "|>", "rerank_", "embed_", "token", " "]), st.text(max_size=5)),
    max_size=12,
).map("".join)


def test_sanitize_removes_each_marker_once_query_marker_first():
    assert listwise.sanitize("a<|rerank_token|>b<|embed_token|>c", "query") == "abc"
    # Other special strings stay: they become their special ids in the prompt, as in Jina's code.
    assert listwise.sanitize("<|im_start|>x<think>", "documents[0]") == "<|im_start|>x<think>"


@pytest.mark.parametrize(
    "text",
    ["calm <|rerank_<|embed_token|>token|> skin", "aloe <|embed_<|embed_token|>token|> cream"],
)
def test_sanitize_refuses_a_marker_that_survives(text):
    with pytest.raises(ValueError, match=r"documents\[2\]"):
        listwise.sanitize(text, "documents[2]")


@given(marker_text)
@settings(max_examples=300, deadline=None)
def test_sanitized_text_never_holds_a_marker(text):
    try:
        cleaned = listwise.sanitize(text, "query")
    except ValueError:
        return
    assert not any(marker in cleaned for marker in MARKERS)
    assert cleaned == text.replace(listwise.QUERY_MARKER, "").replace(listwise.DOCUMENT_MARKER, "")


def test_prompt_layout():
    prompt = listwise.build_prompt("q", ["d0", ""])
    assert prompt.startswith("<|im_start|>system\nYou are a search relevance expert")
    assert 'to query: q\n<passage id="0">\nd0<|embed_token|>\n</passage>\n<passage id="1">\n<|embed_token|>\n' in prompt
    assert prompt.endswith(
        "</passage>\n<query>\nq<|rerank_token|>\n</query><|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    assert "I will provide you with 2 passages" in prompt
    assert "<instruct>" not in prompt
    assert "<instruct>\nGerman first\n</instruct>\n<passage" in listwise.build_prompt("q", ["d"], "German first")
    assert listwise.build_prompt("q", ["d"], "") == listwise.build_prompt("q", ["d"])


@given(st.lists(st.text(max_size=8), max_size=6), st.text(max_size=8))
def test_prompt_has_one_marker_per_document_and_one_query_marker(documents, query):
    clean = [d.replace("<", "") for d in documents]
    prompt = listwise.build_prompt(query.replace("<", ""), clean)
    assert prompt.count(listwise.DOCUMENT_MARKER) == len(clean)
    assert prompt.count(listwise.QUERY_MARKER) == 1


def _encode(texts: list[str], max_length: int) -> list[list[int]]:
    return [[ord(c) for c in text][:max_length] for text in texts]


def _decode(ids: list[int]) -> str:
    return "<" + "".join(chr(i) for i in ids) + ">"


def test_truncation_re_decodes_at_and_over_the_limit_only():
    short, exact, long = listwise.truncate_texts(["abc", "abcd", "abcdef"], 4, _encode, _decode)
    assert (short.text, short.length, short.truncated) == ("abc", 3, False)
    assert (exact.text, exact.length, exact.truncated) == ("<abcd>", 4, True)  # >=: re-decoded
    assert (long.text, long.length, long.truncated) == ("<abcd>", 4, True)
    assert listwise.truncate_texts([], 4, _encode, _decode) == []


def test_blocks_close_when_capacity_reaches_the_document_limit():
    # capacity = 100 - 2*10 = 80; after 30 and 25 it is 25 <= 30: the block closes.
    assert listwise.plan_blocks([30, 25, 5, 5], 10, 100, 30) == [[0, 1], [2, 3]]
    # Exactly equal closes too (<=).
    assert listwise.plan_blocks([25, 25, 1], 10, 100, 30) == [[0, 1], [2]]
    # When the capacity starts at or below max_doc_length every document is its own block.
    assert listwise.plan_blocks([1, 1, 1], 10, 40, 30) == [[0], [1], [2]]
    assert listwise.plan_blocks([], 10, 100, 30) == []


def test_blocks_hold_at_most_125_documents():
    blocks = listwise.plan_blocks([1] * 300, 5, 10**6, 2048)
    assert [len(b) for b in blocks] == [125, 125, 50]


@given(
    st.lists(st.integers(0, 3000), max_size=300),
    st.integers(0, 600),
    st.integers(1, 140_000),
    st.integers(1, 5000),
)
def test_blocks_partition_the_documents_in_order(lengths, query_length, model_max_length, max_doc_length):
    blocks = listwise.plan_blocks(lengths, query_length, model_max_length, max_doc_length)
    assert [i for block in blocks for i in block] == list(range(len(lengths)))
    assert all(0 < len(block) <= listwise.MAX_BLOCK_DOCUMENTS for block in blocks)


def test_block_weight_and_merge_follow_numpy_float32():
    scores = np.array([0.2, -0.5, 0.6], dtype=np.float32)
    weight = listwise.block_weight(scores)
    assert weight.dtype == np.float32 and weight == np.float32(0.8)
    first, second = np.array([1, 0], np.float32), np.array([0, 1], np.float32)
    merged = listwise.merge_query_embeddings([first, second], [np.float32(0.75), np.float32(0.25)])
    assert merged.dtype == np.float32
    assert merged.tolist() == pytest.approx([0.75, 0.25])
    # All weights zero (every cosine -1): Jina divides by zero; the plain mean is used.
    assert listwise.merge_query_embeddings([first, second], [np.float32(0)] * 2).tolist() == [0.5, 0.5]


def test_cosine_scores_and_zero_embeddings():
    query = np.array([1.0, 0.0], np.float32)
    documents = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [0.0, 0.0]], np.float32)
    scores = listwise.cosine_scores(query, documents)
    assert scores.dtype == np.float32
    assert scores.tolist() == pytest.approx([1.0, 0.0, -1.0, 0.0])


@given(st.lists(st.integers(1, 50), min_size=1, max_size=20), st.integers(0, 30))
def test_marker_spans_cover_the_prompt_exactly_once(gaps, tail):
    positions = list(np.cumsum(gaps) - 1)
    length = positions[-1] + 1 + tail
    spans = listwise.marker_spans(positions, length)
    assert [i for span in spans for i in span] == list(range(length))
    assert all(span.stop - 1 >= position for span, position in zip(spans, positions))
