"""The ranking rule every caller shares: best score first, ties in input order."""

from __future__ import annotations

from collections.abc import Sequence


def rank_order(scores: Sequence[float], top_n: int | None = None) -> list[int]:
    """Indices of ``scores`` best first; equal scores keep input order; at most ``top_n`` (``None``: all)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return order if top_n is None else order[:top_n]
