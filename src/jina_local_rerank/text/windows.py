"""Jina's sliding-window split of long documents (``reranker_tokenize_preproc``), on token ids.

All of ``rerank``'s window maths lives here: the default limits, the window length left after the
query, the capped overlap, the windows of each document, and how documents of several requests are
cut into chunks (tokenized one after another while a GPU scores the previous chunk).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from jina_local_rerank.options import DEFAULT_MAX_QUERY_LENGTH, DEFAULT_OVERLAP, DEFAULT_RERANK_MAX_LENGTH
from jina_local_rerank.text import validation
from jina_local_rerank.text.tokenization import EncodedPair, PairTokenizer


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


def window_limits(
    max_length: int | None,
    max_query_length: int | None,
    model_max_length: int,
    default_max_length: int = DEFAULT_RERANK_MAX_LENGTH,
    default_max_query_length: int = DEFAULT_MAX_QUERY_LENGTH,
) -> tuple[int, int]:
    """``rerank``'s ``(max_length, max_query_length)``: the window size (the model's if smaller) and half of it.

    ``default_*`` are the model's own ``rerank`` defaults (``ModelSpec``), else Jina's 1024 and 512.
    """
    if max_length is None:
        max_length = min(default_max_length, model_max_length)
    if max_query_length is None:
        max_query_length = min(default_max_query_length, max_length // 2)
    validation.check_window_sizes(max_length, max_query_length)
    return max_length, max_query_length


def plan_windows(
    tokenizer: PairTokenizer,
    query: str,
    documents: Sequence[str],
    max_length: int,
    max_query_length: int,
    overlap: int = DEFAULT_OVERLAP,
) -> list[tuple[int, EncodedPair]]:
    """Jina's windows of every document: ``(document position, model input)`` in document order."""
    if not documents:
        return []
    query_budget = max_query_length - tokenizer.num_single_special_tokens
    if query_budget < 1:
        raise ValueError(f"max_query_length={max_query_length} leaves no room for the query's tokens.")
    # Only the query's head is tokenized: a huge query costs no more than a short one.
    query_ids = tokenizer.head_ids([query], query_budget)[0][0]
    document_ids = tokenizer.encode_texts(list(documents))
    window = window_length(max_length, len(query_ids), tokenizer.template.num_special_tokens)
    if window < 1:
        raise ValueError(f"max_length={max_length} leaves no room for the document after the query.")
    stride_overlap = effective_overlap(overlap, window)
    return [
        (position, tokenizer.build(query_ids, piece))
        for position, tokens in enumerate(document_ids)
        for piece in split_windows(tokens, window, stride_overlap)
    ]


def document_chunks(
    requests: Sequence[tuple[str, Sequence[str]]], spans: Sequence[range]
) -> list[list[tuple[int, range]]]:
    """``spans`` of all requests' documents (one flat sequence) cut back into ``(request, positions)`` per chunk.

    Requests without documents in a span are skipped; ``spans`` come from ``batching.pipeline_chunks``
    (growing chunks) or are one range over everything.
    """
    # Each request's documents occupy [starts[i], starts[i + 1]) of the flat sequence.
    starts = list(itertools.accumulate((len(documents) for _, documents in requests), initial=0))
    chunks: list[list[tuple[int, range]]] = []
    for span in spans:
        chunk: list[tuple[int, range]] = []
        for index, (first, end) in enumerate(itertools.pairwise(starts)):
            low, high = max(span.start, first), min(span.stop, end)
            if low < high:
                chunk.append((index, range(low - first, high - first)))
        chunks.append(chunk)
    return chunks
