"""Hypothesis strategies for hostile inputs, and the rule every entry point must follow for them."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from jina_local_rerank import InvalidArgumentError

# Small example counts: the properties run on tiny CPU models and the whole set stays around a minute.
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# Every code point, lone surrogates included (Python strs may hold them; the tokenizer cannot).
any_character = st.characters(exclude_categories=())
nasty_words = st.sampled_from(
    ["", " ", "\n\t", "\ud800", "\udfff", "\ud83d\ude00", "\x00", "\u200b", "e\u0301", "🙂", "東京", "Straße", "x" * 50]
)
texts = st.one_of(
    st.text(any_character, max_size=60),
    st.lists(nasty_words, max_size=30).map(" ".join),
    st.sampled_from(["", " ", "\ud800", "organic skin care"]),
    # a few windows of a long document
    st.integers(min_value=1, max_value=3).map(lambda n: "long text about skin care " * (60 * n)),
)
# Huge texts only where the work is bounded whatever their size (queries, compute_score's pairs):
# a huge document is meant to be read whole, window by window.
huge_texts = st.one_of(texts, st.integers(min_value=1, max_value=4).map(lambda n: "huge text on skin " * (3000 * n)))
document_lists = st.lists(texts, max_size=6)

# Option values: mostly sensible, sometimes hostile (wrong type, zero, negative, huge, NaN).
hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=0),
    st.just(10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.just([1]),
)


def positive_or_hostile(low: int, high: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.integers(min_value=low, max_value=high), hostile_values)


OPTION_NAMES = (
    "query",
    "documents",
    "sentence_pairs",
    "text_pairs",
    "top_n",
    "top_k",
    "score_threshold",
    "max_length",
    "max_query_length",
    "overlap",
    "batch_size",
    "nodes",
)


def is_documented_error(error: BaseException, names: Iterable[str] = OPTION_NAMES) -> bool:
    """Our error type, or a ValueError/TypeError whose message names the argument at fault."""
    if isinstance(error, InvalidArgumentError):
        return True
    return isinstance(error, (ValueError, TypeError)) and any(name in str(error) for name in names)


def assert_ranked(indices: list[int], scores: list[float], count: int, limit: int | None) -> None:
    """Distinct input indices, best first, ties in input order, scores finite in [0, 1]."""
    expected = count if limit is None else min(limit, count)
    assert len(indices) == expected
    assert len(set(indices)) == len(indices) and all(0 <= i < count for i in indices)
    assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)
    for (i, a), (j, b) in zip(zip(indices, scores), zip(indices[1:], scores[1:])):
        assert a > b or (a == b and i < j)
