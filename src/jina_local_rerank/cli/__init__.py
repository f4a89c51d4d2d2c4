"""The ``jina-local-rerank`` command line: score, rerank, serve, convert, bench.

Importing this package stays light (no torch): each command imports what it runs.
"""

from __future__ import annotations

from jina_local_rerank.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
