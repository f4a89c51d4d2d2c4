"""CUDA speed-ups for Jina's native models: packed batches, variable-length attention, CUDA graphs, fused norms.

Everything outside this package imports these names from here, never from the submodules: which
kernel backs a name (torch's varlen, flash_attn, FlexAttention, a compiled LayerNorm) is this package's business.
Each piece falls back to plain torch where its kernel is missing, so the modules import anywhere.
"""

from __future__ import annotations

from jina_local_rerank.runtime.cuda.flex import compile_failed as flex_compile_failed
from jina_local_rerank.runtime.cuda.flex import (
    document_block_mask,
    document_ids,
    packed_alibi_attention,
    same_document,
    symmetric_alibi,
)
from jina_local_rerank.runtime.cuda.flex import padded_tokens as flex_padded_tokens
from jina_local_rerank.runtime.cuda.flex import supported as flex_attention_supported
from jina_local_rerank.runtime.cuda.fusion import add_layer_norm, compile_failed, is_marked
from jina_local_rerank.runtime.cuda.fusion import available as fused_norms_available
from jina_local_rerank.runtime.cuda.fusion import mark as mark_fused_norms
from jina_local_rerank.runtime.cuda.graphs import GraphShape, PackedGraphs, graph_shape
from jina_local_rerank.runtime.cuda.packing import (
    PACKED_KEY,
    bucket_tokens,
    first_token_index,
    packed_features,
    pad_packed,
)
from jina_local_rerank.runtime.cuda.varlen import alibi_bias, fast_kernel_available, varlen_attention

__all__ = [
    "PACKED_KEY",
    "GraphShape",
    "PackedGraphs",
    "add_layer_norm",
    "alibi_bias",
    "bucket_tokens",
    "compile_failed",
    "document_block_mask",
    "document_ids",
    "fast_kernel_available",
    "first_token_index",
    "flex_attention_supported",
    "flex_compile_failed",
    "flex_padded_tokens",
    "fused_norms_available",
    "graph_shape",
    "is_marked",
    "mark_fused_norms",
    "packed_alibi_attention",
    "packed_features",
    "pad_packed",
    "same_document",
    "symmetric_alibi",
    "varlen_attention",
]
