"""Jina's sliding-window split of long documents (``reranker_tokenize_preproc``), on token ids."""

from __future__ import annotations

from collections.abc import Sequence


def window_length(max_length: int, query_length: int, num_special_tokens: int) -> int:
    """Tokens of document per window: what ``max_length`` leaves after the query and special tokens."""
    return max_length - query_length - num_special_tokens


def effective_overlap(overlap: int, window: int) -> int:
    """Jina caps the overlap at a quarter of the window."""
    return min(overlap, window // 4)


def split_windows(tokens: Sequence[int], window: int, overlap: int) -> list[Sequence[int]]:
    """Windows of ``window`` tokens with stride ``window - overlap``; the last one is right-aligned.

    A document that fits is one window; an empty document is one empty window (Jina's code crashes).
    """
    n = len(tokens)
    if n <= window:
        return [tokens]
    windows: list[Sequence[int]] = []
    start = 0
    while start < n:
        end = start + window
        if end >= n:
            windows.append(tokens[n - window :])
            break
        windows.append(tokens[start:end])
        start = end - overlap
    return windows
