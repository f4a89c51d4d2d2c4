"""Bounded load test of the local rerank server: N requests, C at a time, then it stops by itself.

    python benchmarks/server_load.py --model tests/fixtures/jina-v2-tiny --requests 5000 --concurrency 48

Prints throughput, error count and latency percentiles (markdown), for docs/server.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass

import httpx

from jina_local_rerank import MODEL_CARD_DOCUMENTS, MODEL_CARD_QUERY


@dataclass
class LoadResult:
    requests: int
    errors: int
    statuses: dict[int, int]
    seconds: float
    latencies_ms: list[float]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def markdown(self) -> str:
        return (
            "| requests | errors | throughput (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |\n"
            "|---:|---:|---:|---:|---:|---:|---:|\n"
            f"| {self.requests} | {self.errors} | {self.requests / self.seconds:.0f} | {self.percentile(50):.1f} | "
            f"{self.percentile(90):.1f} | {self.percentile(99):.1f} | {max(self.latencies_ms):.1f} |"
        )


async def drive(base_url: str, model: str, requests: int, concurrency: int, timeout: float = 60.0) -> LoadResult:
    """Send ``requests`` rerank calls with at most ``concurrency`` in flight; bounded in count and time."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        for i in counter:
            documents = MODEL_CARD_DOCUMENTS[i % 5 :] + MODEL_CARD_DOCUMENTS[: i % 5]
            body = {"model": model, "query": MODEL_CARD_QUERY, "documents": documents, "top_n": 3}
            started = time.perf_counter()
            try:
                response = await client.post("/v1/rerank", json=body)
                status = response.status_code
            except httpx.HTTPError:
                status = -1
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
        await asyncio.wait_for(asyncio.gather(*(worker(client) for _ in range(concurrency))), timeout=600)
    seconds = time.perf_counter() - started
    errors = sum(n for status, n in statuses.items() if status != 200)
    return LoadResult(requests, errors, statuses, seconds, latencies)


def main() -> None:
    from jina_local_rerank import Reranker
    from jina_local_rerank.server import create_app
    from jina_local_rerank.server.app import served_names
    from jina_local_rerank.server.background import serve_in_thread

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tests/fixtures/jina-v2-tiny")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=48)
    args = parser.parse_args()
    reranker = Reranker(args.model)
    with serve_in_thread(create_app([reranker])) as url:
        result = asyncio.run(drive(url, served_names(reranker)[-1], args.requests, args.concurrency))
    print(
        f"# {args.model}, {args.requests} requests, {args.concurrency} concurrent, statuses {result.statuses}, "
        f"median {statistics.median(result.latencies_ms):.1f} ms"
    )
    print(result.markdown())


if __name__ == "__main__":
    main()
