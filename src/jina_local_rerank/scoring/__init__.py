"""Scoring: drive a loaded model over token-budget batches and turn its outputs into scores.

``PairwisePipeline`` (windows -> batches -> ``PairScorer``) for cross-encoders, ``ListwiseScorer``
(blocks of documents in one prompt) for jina-reranker-v3.
"""
