"""jina-reranker-v2 on transformers' native ``XLMRobertaForSequenceClassification``.

The official checkpoint uses Jina's flash-attention layout (fused ``Wqkv``, ``layers`` instead of
``layer``, ``emb_ln``) and a config without ``model_type``. The math is plain XLM-RoBERTa, so the
weights are renamed and split into the native layout; no remote code runs.
"""

from __future__ import annotations

import re
import types
from typing import Any

import torch
from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification
from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaOutput, XLMRobertaSelfOutput

from jina_local_rerank import compat
from jina_local_rerank.models.architectures.packed_attention import make_packed_attention
from jina_local_rerank.runtime.cuda import (
    add_layer_norm,
    first_token_index,
    mark_fused_norms,
)

_LAYER = re.compile(r"^roberta\.encoder\.layers\.(\d+)\.(.+)$")

# Per-layer renames (flash layout -> native), Wqkv is split separately.
_LAYER_RENAMES = {
    "mixer.out_proj": "attention.output.dense",
    "norm1": "attention.output.LayerNorm",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
    "norm2": "output.LayerNorm",
}


def native_config(raw: dict[str, Any]) -> XLMRobertaConfig:
    """Native config from Jina's ``config.json`` (eps must be explicit: the native default is 1e-12)."""
    # num_labels and the token ids go through PreTrainedConfig(**kwargs), which its annotations do not show.
    return XLMRobertaConfig(  # type: ignore[call-arg]
        vocab_size=raw["vocab_size"],
        hidden_size=raw["hidden_size"],
        num_hidden_layers=raw["num_hidden_layers"],
        num_attention_heads=raw["num_attention_heads"],
        intermediate_size=raw["intermediate_size"],
        hidden_act=raw.get("hidden_act", "gelu"),
        max_position_embeddings=raw.get("max_position_embeddings", 1026),
        type_vocab_size=raw.get("type_vocab_size", 1),
        layer_norm_eps=raw.get("layer_norm_eps", 1e-5),
        pad_token_id=raw.get("pad_token_id", 1),
        bos_token_id=raw.get("bos_token_id", 0),
        eos_token_id=raw.get("eos_token_id", 2),
        num_labels=1,
        classifier_dropout=raw.get("classifier_dropout"),
        architectures=["XLMRobertaForSequenceClassification"],
    )


def to_native_state_dict(state: dict[str, torch.Tensor], hidden_size: int) -> dict[str, torch.Tensor]:
    """Rename and split the official tensors into the native layout (spec table 1.5)."""
    native: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name.startswith("roberta.emb_ln."):
            native[name.replace("roberta.emb_ln.", "roberta.embeddings.LayerNorm.")] = tensor
            continue
        match = _LAYER.match(name)
        if match is None:
            native[name] = tensor
            continue
        index, rest = match.groups()
        prefix = f"roberta.encoder.layer.{index}."
        module, _, kind = rest.rpartition(".")
        if module == "mixer.Wqkv":
            # Rows are [Q; K; V], each head-major, exactly the native per-projection layout.
            for part, chunk in zip(("query", "key", "value"), tensor.split(hidden_size, dim=0)):
                native[f"{prefix}attention.self.{part}.{kind}"] = chunk.contiguous()
        elif module in _LAYER_RENAMES:
            native[f"{prefix}{_LAYER_RENAMES[module]}.{kind}"] = tensor
        else:
            native[f"{prefix}{rest}"] = tensor
    return native


MODEL_CLASS = XLMRobertaForSequenceClassification

# Registered with transformers' attention interface: SDPA for padded batches, variable-length
# attention when the forward carries packing kwargs. transformers runs every layer itself.
ATTENTION_IMPLEMENTATION = "jina_local_rerank_varlen"


compat.register_attention(ATTENTION_IMPLEMENTATION, make_packed_attention(causal=False), with_sdpa_mask=True)


def _output_forward(
    self: XLMRobertaSelfOutput | XLMRobertaOutput, hidden_states: torch.Tensor, input_tensor: torch.Tensor
) -> torch.Tensor:
    """transformers' own block output, with the residual add and LayerNorm as one call (fusion.py)."""
    return add_layer_norm(self.dropout(self.dense(hidden_states)), input_tensor, self.LayerNorm)


def fuse_residual_norms(model: XLMRobertaForSequenceClassification) -> None:
    """Route every block's ``LayerNorm(dense(x) + residual)`` through ``add_layer_norm``.

    transformers' modules stay in place (same weights, same names); only their forward is replaced.
    """
    for module in model.modules():
        if isinstance(module, (XLMRobertaSelfOutput, XLMRobertaOutput)):
            module.forward = types.MethodType(_output_forward, module)  # type: ignore[method-assign]
    mark_fused_norms(model)


def packed_logits(model: XLMRobertaForSequenceClassification, features: dict[str, Any]) -> torch.Tensor:
    """Logits of packed features (``packing.packed_features``): [pairs, num_labels].

    RoBERTa positions start after the padding index; the classifier reads each pair's first token.
    """
    cu_seqlens, max_seqlen = features["cu_seqlens"], features["max_seqlen"]
    input_ids = features["input_ids"][None]
    hidden = model.roberta(
        input_ids=input_ids,
        position_ids=(features["position_ids"] + model.config.pad_token_id + 1)[None],
        token_type_ids=features.get("token_type_ids", torch.zeros_like(features["input_ids"]))[None],
        cu_seq_lens_q=cu_seqlens,
        cu_seq_lens_k=cu_seqlens,
        max_length_q=max_seqlen,
        max_length_k=max_seqlen,
    ).last_hidden_state
    first_tokens = hidden[0, first_token_index(cu_seqlens, hidden.shape[1])]
    return model.classifier(first_tokens[:, None, :])


def to_official_state_dict(native: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of ``to_native_state_dict``: native tensors back into Jina's flash layout."""
    inverse = {value: key for key, value in _LAYER_RENAMES.items()}
    official: dict[str, torch.Tensor] = {}
    fused: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for name, tensor in native.items():
        if name.startswith("roberta.embeddings.LayerNorm."):
            official[name.replace("roberta.embeddings.LayerNorm.", "roberta.emb_ln.")] = tensor
            continue
        match = re.match(r"^roberta\.encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$", name)
        if match is None:
            if not name.endswith(("position_ids", "token_type_ids")):
                official[name] = tensor
            continue
        index, module, kind = match.groups()
        if module.startswith("attention.self."):
            fused.setdefault((index, kind), {})[module.rsplit(".", 1)[1]] = tensor
        else:
            official[f"roberta.encoder.layers.{index}.{inverse[module]}.{kind}"] = tensor
    for (index, kind), parts in fused.items():
        official[f"roberta.encoder.layers.{index}.mixer.Wqkv.{kind}"] = torch.cat(
            [parts["query"], parts["key"], parts["value"]], dim=0
        )
    return official
