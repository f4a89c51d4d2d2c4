"""Prometheus metrics of one app (its own registry, so several apps in a process never collide)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jina_local_rerank.scoring.score_cache import ScoreCache

UNMATCHED = "unmatched"


class ScoreCacheCollector(Collector):
    """Each served model's score cache, read at scrape time (the cache keeps its own counters)."""

    prefix = "jina_local_rerank_score_cache"

    def __init__(self) -> None:
        self.caches: dict[str, ScoreCache[object]] = {}

    def collect(self) -> Iterator[Metric]:
        if not self.caches:
            return
        hits = CounterMetricFamily(
            f"{self.prefix}_hits", "Model inputs answered from the score cache", labels=["model"]
        )
        misses = CounterMetricFamily(
            f"{self.prefix}_misses", "Model inputs looked up in the score cache and not found", labels=["model"]
        )
        evictions = CounterMetricFamily(
            f"{self.prefix}_evictions", "Score cache entries dropped to stay within capacity", labels=["model"]
        )
        size = GaugeMetricFamily(f"{self.prefix}_size", "Entries in the score cache", labels=["model"])
        capacity = GaugeMetricFamily(f"{self.prefix}_capacity", "Most entries the score cache holds", labels=["model"])
        hit_rate = GaugeMetricFamily(
            f"{self.prefix}_hit_rate", "Hits over lookups since start (0 before any)", labels=["model"]
        )
        for model, cache in self.caches.items():
            stats = cache.stats()
            hits.add_metric([model], stats.hits)
            misses.add_metric([model], stats.misses)
            evictions.add_metric([model], stats.evictions)
            size.add_metric([model], stats.size)
            capacity.add_metric([model], stats.capacity)
            hit_rate.add_metric([model], stats.hit_rate)
        yield from (hits, misses, evictions, size, capacity, hit_rate)


class ServerMetrics:
    """Requests by route template (never the raw path) and status, latency, documents, queue, drops,
    and the score caches of models that have one."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "jina_local_rerank_requests",
            "HTTP requests by route template",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "jina_local_rerank_request_seconds",
            "Request latency by route template",
            ["endpoint"],
            registry=self.registry,
        )
        self.documents = Counter(
            "jina_local_rerank_documents",
            "Documents the model scored (answered or not)",
            ["model"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "jina_local_rerank_dropped_documents",
            "Queued documents dropped unscored because their request was abandoned",
            ["model"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "jina_local_rerank_queue_depth", "Requests waiting for the model", ["model"], registry=self.registry
        )

        self.score_caches = ScoreCacheCollector()
        self.registry.register(self.score_caches)

    def watch_score_cache(self, model: str, cache: ScoreCache[object]) -> None:
        """Export ``cache``'s counters under ``model`` (a reranker made with ``cache_size``)."""
        self.score_caches.caches[model] = cache

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.latency.labels(endpoint=endpoint).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
