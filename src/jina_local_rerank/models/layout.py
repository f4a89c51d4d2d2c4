"""``NativeLayout``: how one of Jina's official checkpoint layouts becomes a native torch model.

A module of its own so the architectures (which each describe their layout) and ``native`` (which
builds models from a layout) both depend on it without depending on each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PretrainedConfig, PreTrainedModel

from jina_local_rerank.runtime.cuda import mark_fused_norms


@dataclass(frozen=True)
class NativeLayout:
    """How one official layout becomes a native model."""

    build_config: Callable[[dict[str, Any]], PretrainedConfig]
    model_class: type[PreTrainedModel]
    convert_state_dict: Callable[[dict[str, torch.Tensor], PretrainedConfig], dict[str, torch.Tensor]]
    packed_logits: Callable[[Any, dict[str, Any]], torch.Tensor]
    # ALiBi needs a varlen kernel that takes slopes (flash_attn); plain attention does not.
    uses_alibi: bool = False
    # An attention implementation the layout always uses (it still honours padded batches).
    attn_implementation: str | None = None
    # Routes the blocks' residual add + LayerNorm through add_layer_norm (a model's own
    # modules already call it; transformers' get their forward replaced).
    fuse_residual_norms: Callable[[Any], Any] = mark_fused_norms
