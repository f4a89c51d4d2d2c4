"""One Reranker shared by many threads returns exactly the serial scores, with no tokenizer errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import V2_TINY, cases


@pytest.mark.slow
def test_eight_threads_get_the_serial_scores(v2_reranker):
    inputs = next(c for c in cases(V2_TINY, "rerank") if c["id"] == "rerank/windowed_basic")["inputs"]
    query, documents = inputs["query"], inputs["documents"]
    jobs = []
    for k in range(48):
        docs = documents[k % len(documents) :] + documents[: k % len(documents)]
        if k % 3 == 0:
            jobs.append(("rerank", (query, docs), {"max_length": 64, "max_query_length": 32, "overlap": 8}))
        elif k % 3 == 1:
            jobs.append(("compute_score", ([[query, d] for d in docs],), {"max_length": 48}))
        else:
            jobs.append(("rerank", (docs[0][:40], docs), {"top_n": 3}))

    def run(job):
        name, args, kwargs = job
        return getattr(v2_reranker, name)(*args, **kwargs)

    serial = [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            concurrent = list(pool.map(run, jobs))
            assert concurrent == serial
