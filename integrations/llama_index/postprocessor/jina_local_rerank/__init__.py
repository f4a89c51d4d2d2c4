"""LlamaIndex node postprocessor that reranks with Jina's rerankers locally."""

from llama_index.postprocessor.jina_local_rerank.base import JinaLocalRerank

__all__ = ["JinaLocalRerank"]
