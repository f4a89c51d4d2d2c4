"""Haystack ranker component that reranks documents with Jina's rerankers locally."""

from haystack_integrations.components.rankers.jina_local.ranker import JinaLocalRanker

__all__ = ["JinaLocalRanker"]
