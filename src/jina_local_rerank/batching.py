"""Group sequences into length-sorted batches so little compute is spent on padding."""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(lengths: Sequence[int], batch_size: int | None, token_budget: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped into batches, longest first.

    With ``batch_size`` every batch has that many sequences (the last may be smaller). Without it a
    batch grows while ``rows x longest row`` stays within ``token_budget`` (at least one row each).
    Sorting is stable, so the same input always gives the same batches (and the same scores).
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    if batch_size is not None:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        if current and (len(current) + 1) * max(longest, 1) > token_budget:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
