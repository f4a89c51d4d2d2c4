"""Pair truncation on token ids, and where a text can be cut without changing its leading tokens.

The tokenizer's own pair truncation builds every overflowing piece of both texts against each other,
so its memory grows with the product of their lengths (two 100k-character texts exhaust a machine).
A side never keeps more than the pair's budget, so only a bounded head of each text is tokenized
and the ``longest_first`` rule is applied here on the ids.
"""

from __future__ import annotations

import re

# Whitespace that ends a word: every pre-tokenizer in use (Metaspace, ByteLevel, BERT's) splits there,
# so tokens that end before it cannot change with what follows.
_WORD_BREAK = re.compile(r"(?<=\S)\s+\S*\Z")


def longest_first_lengths(query_length: int, document_length: int, budget: int) -> tuple[int, int]:
    """Tokens kept of each side under ``longest_first`` truncation to ``budget`` content tokens.

    The closed form of the Hugging Face tokenizers' rule: if only the longer side must give way it
    keeps ``budget - shorter``; otherwise both get half, the longer side the odd token (on a tie the
    document).
    """
    if query_length + document_length <= budget:
        return query_length, document_length
    swap = query_length > document_length
    shorter, longer = (document_length, query_length) if swap else (query_length, document_length)
    longer = shorter if shorter > budget else max(shorter, budget - shorter)
    if shorter + longer > budget:
        shorter = budget // 2
        longer = shorter + budget % 2
    return (longer, shorter) if swap else (shorter, longer)


def word_break(text: str) -> int | None:
    """Start of the last whitespace run that follows a non-space character: tokens ending at or before
    it are the same whatever text comes after the cut. ``None`` when ``text`` has no such break."""
    match = _WORD_BREAK.search(text)
    return match.start() if match else None


def initial_cut(tokens: int) -> int:
    """Characters to tokenize first for ``tokens`` leading tokens: generous for Latin text (about
    4 characters a token), grown by the caller when a text packs more characters into its tokens."""
    return 6 * tokens + 64
