"""Non-torch runtimes for the scoring core: ONNX Runtime and OpenVINO, from one exported ONNX graph.

Tokenization, windowing and batching stay in ``inference.PairScorer``; a backend only replaces the
model's forward with a ``Runner`` (padded int64 arrays in, logits out).
"""

from __future__ import annotations

from jina_local_rerank.backends.selection import check_backend, load_runner
from jina_local_rerank.runtime.plan import BACKENDS, PRECISIONS

__all__ = ["BACKENDS", "PRECISIONS", "check_backend", "load_runner"]
