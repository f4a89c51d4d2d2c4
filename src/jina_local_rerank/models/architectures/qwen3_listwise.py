"""jina-reranker-v3 (``JinaForRanking``) on transformers' own ``Qwen3Model`` plus a two-matrix projector.

The official checkpoint is a Qwen3-0.6B decoder (``model.*``) and ``projector.0``/``projector.2``
(bias-free ``Linear -> ReLU -> Linear``, 512 outputs); Jina's remote code no longer loads on
transformers 5. Here the backbone is transformers' ``Qwen3Model`` loaded strictly from ``model.*``
and the projector is a plain ``nn.Sequential``; no remote code runs.

Prompts of several blocks run as one packed sequence (no padding): positions restart per block and
attention is causal within each block through a variable-length kernel. The attention function is
registered with transformers but has no mask function, so transformers never builds a mask (no
[L, L] tensor even for a 250k-token block); each block runs flash varlen (CUDA, half precision) or
SDPA with ``is_causal`` on its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import Qwen3Config, Qwen3Model

from jina_local_rerank import compat
from jina_local_rerank.errors import CheckpointMismatchError
from jina_local_rerank.models.architectures.packed_attention import make_packed_attention
from jina_local_rerank.models.architectures.weights import load_into, load_state_dict

ARCHITECTURE_NAME = "JinaForRanking"
BACKBONE_PREFIX = "model."
PROJECTOR_WEIGHTS = ("projector.0.weight", "projector.2.weight")
# The tied LM head of the training class; never stored by save_pretrained, skipped if present.
IGNORED_WEIGHTS = ("lm_head.weight",)

# Registered with AttentionInterface only: with no matching mask function transformers builds no mask.
ATTENTION_IMPLEMENTATION = "jina_local_rerank_causal_varlen"


compat.register_attention(ATTENTION_IMPLEMENTATION, make_packed_attention(causal=True), with_sdpa_mask=False)


def native_config(raw: dict[str, Any]) -> Qwen3Config:
    """transformers' own ``Qwen3Config`` from the official values (no remote class, no auto_map)."""
    values = {k: v for k, v in raw.items() if k not in ("auto_map", "architectures", "_name_or_path")}
    config = Qwen3Config.from_dict(values)
    config.use_cache = False
    return config


@dataclass(frozen=True)
class PackedBlocks:
    """Several prompts end to end: ids, positions restarting per prompt, cumulative lengths."""

    input_ids: torch.Tensor  # [tokens]
    position_ids: torch.Tensor  # [tokens]
    cu_seqlens: torch.Tensor  # [prompts + 1], int32
    max_seqlen: int

    @classmethod
    def from_prompts(cls, prompts: list[list[int]]) -> PackedBlocks:
        lengths = [len(ids) for ids in prompts]
        return cls(
            input_ids=torch.tensor([token for ids in prompts for token in ids], dtype=torch.long),
            position_ids=torch.cat([torch.arange(length) for length in lengths]),
            cu_seqlens=torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32),
            max_seqlen=max(lengths),
        )


class JinaListwiseModel(nn.Module):
    """Qwen3 backbone + projector: projected hidden states at chosen positions of packed prompts."""

    def __init__(self, backbone: Qwen3Model, projector: nn.Sequential) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector

    @property
    def config(self) -> Qwen3Config:
        return self.backbone.config

    @property
    def device(self) -> torch.device:
        return self.backbone.embed_tokens.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.backbone.embed_tokens.weight.dtype

    @property
    def embedding_size(self) -> int:
        last = self.projector[-1]
        assert isinstance(last, nn.Linear)
        return last.out_features

    def hidden_states(self, packed: PackedBlocks) -> torch.Tensor:
        """Final normed hidden states of every packed token: [tokens, hidden]."""
        # Even one prompt goes through the variable-length path: key/value heads are repeated there, so
        # SDPA never needs enable_gqa (which some kernels lack, falling back to an [L, L] score matrix).
        device = self.device
        cu_seqlens = packed.cu_seqlens.to(device)
        output = self.backbone(
            input_ids=packed.input_ids.to(device)[None],
            position_ids=packed.position_ids.to(device)[None],
            use_cache=False,
            cu_seq_lens_q=cu_seqlens,
            cu_seq_lens_k=cu_seqlens,
            max_length_q=packed.max_seqlen,
            max_length_k=packed.max_seqlen,
        )
        return output.last_hidden_state[0]

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """``W2 relu(W1 x)``: the embeddings that are compared by cosine."""
        return self.projector(hidden)

    def embed_positions(self, packed: PackedBlocks, positions: torch.Tensor) -> torch.Tensor:
        """Projected embeddings at ``positions`` of the packed tokens: [len(positions), embedding_size]."""
        hidden = self.hidden_states(packed)
        return self.project(hidden[positions.to(hidden.device)])


def _projector(state: dict[str, torch.Tensor], source: str) -> nn.Sequential:
    missing = [name for name in PROJECTOR_WEIGHTS if name not in state]
    if missing:
        backbone = sum(1 for name in state if name.startswith(BACKBONE_PREFIX))
        others = sorted(name for name in state if not name.startswith(BACKBONE_PREFIX))
        raise CheckpointMismatchError(
            f"{source}: config.json declares {ARCHITECTURE_NAME} (jina-reranker-v3), whose scores need the "
            f"projector weights {list(PROJECTOR_WEIGHTS)}, but the checkpoint lacks {missing}. It holds "
            f"{backbone} backbone tensors under '{BACKBONE_PREFIX}' and {others[:8] or 'nothing else'}: it looks "
            "like a plain Qwen3 language model, not the reranker. Refusing to score with a random projector."
        )
    first, second = (state[name] for name in PROJECTOR_WEIGHTS)
    if first.ndim != 2 or second.ndim != 2 or second.shape[1] != first.shape[0]:
        raise CheckpointMismatchError(
            f"{source}: projector shapes {tuple(first.shape)} and {tuple(second.shape)} do not chain "
            "(expected [middle, hidden] and [out, middle])."
        )
    projector = nn.Sequential(
        nn.Linear(first.shape[1], first.shape[0], bias=False),
        nn.ReLU(),
        nn.Linear(second.shape[1], second.shape[0], bias=False),
    )
    projector.load_state_dict({"0.weight": first, "2.weight": second}, strict=True)
    return projector


def load_listwise_model(
    folder: Path, raw_config: dict[str, Any], *, device: torch.device, dtype: torch.dtype
) -> JinaListwiseModel:
    """Build the backbone without random init, load ``model.*`` strictly and the projector, move, eval.

    Every tensor the architecture needs must come from the checkpoint: a missing or unexpected one
    raises ``CheckpointMismatchError`` naming it.
    """
    source = str(folder)
    config = native_config(raw_config)
    state = load_state_dict(folder)
    projector = _projector(state, source)
    if config.hidden_size != projector[0].in_features:
        raise CheckpointMismatchError(
            f"{source}: projector input {projector[0].in_features} does not match hidden_size {config.hidden_size}."
        )
    backbone_state = {
        name.removeprefix(BACKBONE_PREFIX): tensor for name, tensor in state.items() if name.startswith(BACKBONE_PREFIX)
    }
    unexpected = sorted(
        name
        for name in state
        if not name.startswith(BACKBONE_PREFIX) and name not in PROJECTOR_WEIGHTS and name not in IGNORED_WEIGHTS
    )
    if unexpected:
        raise CheckpointMismatchError(f"{source}: unexpected tensors for {ARCHITECTURE_NAME}: {unexpected[:8]}.")
    backbone = compat.build_without_init(Qwen3Model, config, dtype=dtype, attn_implementation=ATTENTION_IMPLEMENTATION)
    load_into(backbone, backbone_state, source)
    model = JinaListwiseModel(backbone, projector.to(dtype))
    return model.to(device).eval()
