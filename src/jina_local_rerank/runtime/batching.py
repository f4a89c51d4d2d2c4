"""Group sequences into length-sorted batches so little compute is spent on padding."""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(
    lengths: Sequence[int], batch_size: int | None, token_budget: int, packed: bool = False
) -> list[list[int]]:
    """Indices of ``lengths`` grouped into batches, longest first.

    With ``batch_size`` every batch has that many sequences (the last may be smaller). Without it a
    batch grows while its tokens stay within ``token_budget`` (at least one row each): padded
    tokens, ``rows x longest row``, or with ``packed`` just the real ones.
    Sorting is stable, so the same input always gives the same batches (and the same scores).
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    if batch_size is not None:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        cost = used + lengths[index] if packed else (len(current) + 1) * max(longest, 1)
        if current and cost > token_budget:
            batches.append(current)
            current, used = [], 0
        current.append(index)
        used += lengths[index]
    if current:
        batches.append(current)
    return batches


def pipeline_chunks(
    count: int, first_share: float = 0.2, growth: float = 1.5, minimum: int = 16, maximum: int = 256
) -> list[range]:
    """Split ``count`` documents into growing chunks, tokenized one after another while the GPU runs.

    The first chunk is small (a fifth of the documents, at most 2 x ``minimum``) so the GPU starts
    early; each later one is ``growth`` times larger, up to ``maximum``, so tokenizing it takes about
    as long as the GPU needs for the one before. No chunk is smaller than ``minimum`` (a small tail
    joins the last chunk), so short requests stay in one chunk.
    """
    chunks: list[range] = []
    start = 0
    size = min(max(minimum, round(count * first_share)), 2 * minimum)
    while start < count:
        end = start + size
        if count - end < minimum:
            end = count
        chunks.append(range(start, end))
        start = end
        size = min(maximum, round(size * growth))
    return chunks
