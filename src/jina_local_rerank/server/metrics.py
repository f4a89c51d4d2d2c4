"""Prometheus metrics of one app (its own registry, so several apps in a process never collide)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

UNMATCHED = "unmatched"


class ServerMetrics:
    """Requests by route template (never the raw path) and status, latency, documents, queue, drops."""

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

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.latency.labels(endpoint=endpoint).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
