"""Defaults of the scoring options, defined once: the core, the adapters, the server and the CLI read them here.

A public module (``jina_local_rerank.options``); ``None`` for any of these options in any entry point
means the value below (or the model's own, where ``ModelSpec`` names one).
"""

from __future__ import annotations

from typing import Final

# Jina's ``rerank``: windows of at most 1024 tokens, the query cut to 512, neighbours sharing 80.
DEFAULT_RERANK_MAX_LENGTH: Final = 1024
DEFAULT_MAX_QUERY_LENGTH: Final = 512
DEFAULT_OVERLAP: Final = 80
# What the adapters keep unless told otherwise (``top_n``), best first.
DEFAULT_TOP_N: Final = 3
# The options every adapter exposes, in the order they document them.
SCORING_OPTIONS: Final = (
    "model",
    "top_n",
    "max_length",
    "max_query_length",
    "overlap",
    "batch_size",
    "device",
    "dtype",
    "backend",
)

# One description per option, shared by every adapter's settings (pydantic fields, docs).
OPTION_HELP: Final = {
    "model": "Hub id or local folder of the reranker.",
    "device": "cpu, cuda, cuda:1, mps; None picks the best.",
    "dtype": "float32, bfloat16 or float16; None picks the best.",
    "max_length": "Tokens per window, query included.",
    "max_query_length": "Tokens kept of the query.",
    "overlap": f"Tokens shared by neighbouring windows (None: {DEFAULT_OVERLAP}; not for v3).",
    "batch_size": "Windows per batch; None uses a token budget.",
    "local_files_only": "Never contact the hub (None: HF_HUB_OFFLINE).",
    "backend": "torch, onnx or openvino (CPU runtimes).",
    "cache_size": "Scores kept for repeated inputs (windows; v3: blocks), LRU; None or 0: no cache.",
}

__all__ = [
    "DEFAULT_MAX_QUERY_LENGTH",
    "DEFAULT_OVERLAP",
    "DEFAULT_RERANK_MAX_LENGTH",
    "DEFAULT_TOP_N",
    "OPTION_HELP",
    "SCORING_OPTIONS",
]
