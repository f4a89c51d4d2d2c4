"""LangChain integration of jina-local-rerank: a document compressor and a cross-encoder."""

from langchain_jina_local.compressor import JinaLocalRerank
from langchain_jina_local.cross_encoder import JinaLocalCrossEncoder

__all__ = ["JinaLocalCrossEncoder", "JinaLocalRerank"]
