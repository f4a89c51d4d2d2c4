"""The best N rows per group, streamed: a heap of N candidates per group key, whatever the input order.

Memory grows with groups x N rows, not with the input. Ranks follow ``rerank(top_n=N)``: best score
first, ties in input order.
"""

from __future__ import annotations

import heapq
from typing import Any

import pyarrow as pa

from jina_local_rerank.jobs.spec import ScoringColumns


class TopNPerGroup:
    """Feed scored batches in input order; ``table()`` gives the kept rows with their ``rank``."""

    def __init__(self, columns: ScoringColumns) -> None:
        if columns.group is None or columns.top_n is None:
            raise ValueError("TopNPerGroup needs a group column and top_n")
        self.columns = columns
        self.top_n = columns.top_n
        # group key -> min-heap of (score, -row, row values): the root is the worst candidate kept.
        self._heaps: dict[Any, list[tuple[float, int, dict[str, Any]]]] = {}
        self._rows_seen = 0

    def add(self, table: pa.Table) -> None:
        groups = table.column(self.columns.group).to_pylist()
        scores = table.column(self.columns.output).to_pylist()
        rows = table.to_pylist()
        for offset, (group, score, row) in enumerate(zip(groups, scores, rows)):
            entry = (score, -(self._rows_seen + offset), row)
            heap = self._heaps.setdefault(group, [])
            if len(heap) < self.top_n:
                heapq.heappush(heap, entry)
            elif entry[:2] > heap[0][:2]:
                heapq.heapreplace(heap, entry)
        self._rows_seen += table.num_rows

    def schema(self, scored: pa.Schema) -> pa.Schema:
        """The output's schema: the scored columns and ``rank``."""
        return scored.append(pa.field(self.columns.rank, pa.int64()))

    def table(self, scored: pa.Schema) -> pa.Table:
        """Groups in order of first appearance, each best first, with ``rank`` 1..N."""
        kept: list[dict[str, Any]] = []
        for heap in self._heaps.values():
            for rank, (_, _, row) in enumerate(sorted(heap, key=lambda e: (-e[0], -e[1])), start=1):
                kept.append({**row, self.columns.rank: rank})
        return pa.Table.from_pylist(kept, schema=self.schema(scored))
