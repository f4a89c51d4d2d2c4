"""A local rerank server that speaks Jina's and Cohere's rerank APIs (``pip install "jina-local-rerank[server]"``)."""

from jina_local_rerank.server.app import ServerLimits, create_app

__all__ = ["ServerLimits", "create_app"]
