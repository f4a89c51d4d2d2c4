"""Bounded tokenization: only a head of each text is tokenized, with exactly the tokenizer's own ids."""

from __future__ import annotations

import pytest
from conftest import V1_TINY, V2_TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from jina_local_rerank.text.tokenization import PairTokenizer
from jina_local_rerank.text.truncation import longest_first_lengths, word_break

TOKENIZERS = {
    name: PairTokenizer(AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False))
    for name, folder in {"v2": V2_TINY, "v1": V1_TINY}.items()
}

WORDS = ["alpha", "Straße", "東京都", "naïve", "x1", "!!", "🙂", "---", "e\u0301", "  ", "\n", "\t", "ab" * 20]
# Texts of up to a few thousand characters: long enough that small budgets take the cut path.
texts = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=600).map(" ".join),
    st.lists(st.sampled_from(WORDS), max_size=400).map("".join),
    st.text(max_size=1500),
)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reference(tokenizer: PairTokenizer, query: str, document: str, max_length: int) -> list[int]:
    """The whole texts through the tokenizer's own pair truncation, as lists (what compute_score did)."""
    encoded = tokenizer.tokenizer([query], [document], truncation=True, max_length=max_length)
    return list(encoded["input_ids"][0])


@pytest.mark.parametrize("name", TOKENIZERS)
@PROPERTY
@given(query=texts, document=texts, max_length=st.integers(min_value=7, max_value=300))
def test_bounded_pair_ids_equal_the_tokenizers_truncation(name, query, document, max_length):
    tokenizer = TOKENIZERS[name]
    [pair] = tokenizer.encode_pairs([query], [document], max_length)
    assert pair.input_ids == _reference(tokenizer, query, document, max_length)


@pytest.mark.parametrize("name", TOKENIZERS)
@PROPERTY
@given(text=texts, limit=st.integers(min_value=1, max_value=200))
def test_head_ids_are_the_leading_ids_of_the_whole_text(name, text, limit):
    tokenizer = TOKENIZERS[name]
    whole = tokenizer.encode_texts([text])[0]
    assert tokenizer.head_ids([text], limit) == [(whole[:limit], len(whole) > limit)]


def test_odd_budget_gives_the_odd_token_to_the_longer_side():
    tokenizer = TOKENIZERS["v2"]
    query, document = "alpha " * 300, "beta " * 290  # both beyond the budget, the query longer
    for max_length in (101, 102):
        [pair] = tokenizer.encode_pairs([query], [document], max_length)
        assert pair.input_ids == _reference(tokenizer, query, document, max_length)


@given(
    query=st.integers(min_value=0, max_value=60),
    document=st.integers(min_value=0, max_value=60),
    max_length=st.integers(min_value=5, max_value=60),
)
def test_longest_first_lengths_are_the_tokenizers(query, document, max_length):
    tokenizer = TOKENIZERS["v2"]  # "a a a": one token per word
    budget = max_length - tokenizer.template.num_special_tokens
    texts = " ".join(["a"] * query), " ".join(["a"] * document)
    reference = tokenizer.tokenizer([texts[0]], [texts[1]], truncation=True, max_length=max_length)
    types = reference.sequence_ids(0)
    expected = (types.count(0), types.count(1))
    assert longest_first_lengths(query, document, budget) == expected


def test_word_break_is_the_start_of_the_last_whitespace_run_after_a_word():
    assert word_break("a b c") == 3
    assert word_break("a b  ") == 3
    assert word_break("abc") is None
    assert word_break("  abc") is None
