"""One transformers attention function for padded and packed batches, bidirectional (v2) or causal (v3).

A batch arrives padded (no ``cu_seq_lens_q``: transformers' own SDPA path) or packed end to end
(``cu_seq_lens_q`` and ``max_length_q``: our variable-length kernel, so no compute goes to padding).
Each model family registers the function under its own name (``compat.register_attention``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from jina_local_rerank.compat import sdpa_attention_forward
from jina_local_rerank.runtime.cuda import varlen_attention

AttentionFunction = Callable[..., tuple[torch.Tensor, None]]


def make_packed_attention(*, causal: bool) -> AttentionFunction:
    """The attention function transformers calls per layer; ``causal`` for decoder models."""

    def attention(
        module: torch.nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        dropout: float = 0.0,
        scaling: float | None = None,
        cu_seq_lens_q: torch.Tensor | None = None,
        max_length_q: int | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, None]:
        if cu_seq_lens_q is None:
            return sdpa_attention_forward(
                module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
            )
        if max_length_q is None:
            raise ValueError("packed attention needs max_length_q next to cu_seq_lens_q")
        # [1, heads, tokens, dim] -> [tokens, heads, dim] and back to transformers' [1, tokens, heads, dim].
        q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))
        groups = q.shape[1] // k.shape[1]
        if groups > 1:  # grouped-query attention: each key/value head serves `groups` query heads
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        context = varlen_attention(q, k, v, cu_seq_lens_q, int(max_length_q), scale=scaling, causal=causal)
        return context[None], None

    return attention
