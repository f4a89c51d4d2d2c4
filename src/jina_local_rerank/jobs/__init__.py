"""Batch scoring of (query, document) rows in files: ``jina-local-rerank score`` and its engines.

The modules here import pyarrow (``pip install "jina-local-rerank[jobs]"``); the command line imports
them only when a job runs.
"""
