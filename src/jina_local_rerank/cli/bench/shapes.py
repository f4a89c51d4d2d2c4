"""The model shapes ``bench`` runs (real sizes, random weights) and the tokenizer assets they read."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from jina_local_rerank.models.checkpoint import Architecture


@dataclass(frozen=True)
class Shape:
    architecture: Architecture
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    kv_heads: int | None = None  # grouped-query attention (Qwen3); None: as many as heads
    head_dim: int | None = None  # None: hidden // heads

    @property
    def assets(self) -> str:
        if self.architecture is Architecture.JINA_V3:
            return "v3"
        return "v2" if self.architecture is Architecture.JINA_V2 else "v1"


SHAPES = {
    "v2-base": Shape(Architecture.JINA_V2, 768, 12, 12, 3072, 250002),
    "v1-turbo": Shape(Architecture.JINA_BERT, 384, 6, 12, 1536, 61056),
    "v1-tiny": Shape(Architecture.JINA_BERT, 384, 4, 12, 1536, 61056),
    "smoke-v2": Shape(Architecture.JINA_V2, 64, 2, 4, 128, 1000),
    "smoke-v1": Shape(Architecture.JINA_BERT, 48, 2, 6, 64, 1000),
    # jina-reranker-v3: Qwen3-0.6B (q_proj 1024 -> 16 x 128, 8 key/value heads); the real Qwen vocabulary.
    "v3": Shape(Architecture.JINA_V3, 1024, 28, 16, 3072, 151936, kv_heads=8, head_dim=128),
    "smoke-v3": Shape(Architecture.JINA_V3, 64, 2, 4, 128, 151936, kv_heads=2, head_dim=16),
}


def asset_folder(name: str) -> Path:
    return Path(str(resources.files("jina_local_rerank.cli.bench") / "assets" / name))
