"""JinaBERT (jina-reranker-v1-turbo-en / -tiny-en) as a native transformers model.

BERT with three changes: no position embeddings but symmetric ALiBi biases (``-slope * |i - j|``),
a GEGLU feed-forward (``gated_layers`` = [gate; up], GELU on the first half, no bias), and the
residual + LayerNorm of the MLP inside the MLP module. The tensor names are the official ones, so
the checkpoint loads without renaming.

ALiBi biases are built for the lengths in the batch, never for the full 8192-token table (the
reference allocates 3.2 GB for it). Long sequences are attended in query blocks so the bias and
the score matrix never exist at full size. Packed input (``packed_logits``) skips padding altogether;
on CUDA ``flash_attn``'s variable-length kernel applies the slopes itself, or without it a compiled
FlexAttention kernel (``runtime.cuda.packed_alibi_attention``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from jina_local_rerank import compat
from jina_local_rerank.models.layout import NativeLayout
from jina_local_rerank.runtime.cuda import (
    add_layer_norm,
    alibi_bias,
    first_token_index,
    varlen_attention,
)

# Attention is computed in blocks of this many query rows once a sequence is longer than it.
_QUERY_BLOCK = 512
_SHARED_MASK_BYTES = 256 * 2**20

# ``varlen_attention``'s signature: (query, key, value, cu_seqlens, max_seqlen, *, alibi_slopes=...).
PackedAttention = Callable[..., torch.Tensor]


class JinaBertConfig(PretrainedConfig):
    """The fields of Jina's ``JinaBertConfig`` that inference uses."""

    model_type = "jina_bert"

    def __init__(
        self,
        vocab_size: int = 61056,
        hidden_size: int = 384,
        num_hidden_layers: int = 6,
        num_attention_heads: int = 12,
        intermediate_size: int = 1536,
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 8192,
        type_vocab_size: int = 2,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        classifier_dropout: float | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("num_labels", 1)
        super().__init__(pad_token_id=pad_token_id, **kwargs)  # type: ignore[call-arg]
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.layer_norm_eps = layer_norm_eps
        self.classifier_dropout = classifier_dropout


def alibi_slopes(num_heads: int) -> list[float]:
    """Per-head slopes: geometric for powers of two, else the power-of-two rule topped up with every
    other slope of the rule for twice as many heads (ALiBi paper, Jina's code)."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(num_heads).is_integer():
        return power_of_two(num_heads)
    closest = 2 ** math.floor(math.log2(num_heads))
    return power_of_two(closest) + power_of_two(2 * closest)[0::2][: num_heads - closest]


class JinaBertEmbeddings(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


class JinaBertSelfAttention(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        # [..., tokens, hidden] -> [..., tokens, heads, head_dim]
        return x.view(*x.shape[:-1], self.num_heads, self.head_dim)

    def forward_padded(
        self,
        hidden: torch.Tensor,
        padding_bias: torch.Tensor,
        slopes: torch.Tensor,
        masks: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """SDPA with ALiBi + padding as an additive mask, in query blocks for long sequences.

        ``masks``: the blocks' masks made once for all layers (``padded_masks``); else made here.
        """
        batch, length, _ = hidden.shape
        q, k, v = (self._heads(proj(hidden)).transpose(1, 2) for proj in (self.query, self.key, self.value))
        dropout = self.dropout_p if self.training else 0.0
        outputs = []
        for index, start in enumerate(range(0, length, _QUERY_BLOCK)):
            rows = slice(start, min(start + _QUERY_BLOCK, length))
            mask = masks[index] if masks is not None else padded_mask(slopes, padding_bias, rows, length, q.dtype)
            outputs.append(
                nn.functional.scaled_dot_product_attention(q[:, :, rows], k, v, attn_mask=mask, dropout_p=dropout)
            )
        context = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
        return context.transpose(1, 2).reshape(batch, length, -1)

    def forward_unpadded(
        self,
        hidden: torch.Tensor,
        cu_seqlens: torch.Tensor,
        max_seqlen: int,
        slopes: torch.Tensor,
        attention: PackedAttention = varlen_attention,
    ) -> torch.Tensor:
        """Variable-length attention on packed [tokens, hidden] with ALiBi slopes: no padding at all."""
        q, k, v = (self._heads(proj(hidden)) for proj in (self.query, self.key, self.value))
        context = attention(q, k, v, cu_seqlens, max_seqlen, alibi_slopes=slopes)
        return context.reshape(hidden.shape[0], -1)


def padded_mask(
    slopes: torch.Tensor, padding_bias: torch.Tensor, rows: slice, length: int, dtype: torch.dtype
) -> torch.Tensor:
    """ALiBi plus padding for the queries in ``rows``: [batch, heads, rows, length]."""
    positions = torch.arange(rows.start, rows.stop, device=slopes.device)
    return alibi_bias(slopes, positions, length).to(dtype)[None] + padding_bias


def padded_masks(
    slopes: torch.Tensor, padding_bias: torch.Tensor, length: int, dtype: torch.dtype
) -> list[torch.Tensor] | None:
    """Every query block's mask, made once and shared by all layers (they are the same in each), or
    ``None`` where they would take more than ``_SHARED_MASK_BYTES``: then each layer makes its own.

    Making the [batch, heads, rows, keys] mask in every layer cost an eighth of a CPU forward.
    """
    size = padding_bias.shape[0] * slopes.shape[0] * length * length * torch.finfo(dtype).bits // 8
    if size > _SHARED_MASK_BYTES:
        return None
    blocks = (slice(start, min(start + _QUERY_BLOCK, length)) for start in range(0, length, _QUERY_BLOCK))
    return [padded_mask(slopes, padding_bias, rows, length, dtype) for rows in blocks]


class JinaBertSelfOutput(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, context: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return add_layer_norm(self.dropout(self.dense(context)), residual, self.LayerNorm)


class JinaBertAttention(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.self = JinaBertSelfAttention(config)
        self.output = JinaBertSelfOutput(config)


class JinaBertGLUMLP(nn.Module):
    """GEGLU: ``gelu(x W_gate) * (x W_up)``, projected back, residual and LayerNorm inside."""

    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.intermediate_size = config.intermediate_size
        self.gated_layers = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.act = nn.GELU()
        self.wo = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        gate, up = self.gated_layers(hidden).split(self.intermediate_size, dim=-1)
        return add_layer_norm(self.dropout(self.wo(self.act(gate) * up)), hidden, self.layernorm)


class JinaBertLayer(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.attention = JinaBertAttention(config)
        self.mlp = JinaBertGLUMLP(config)

    def forward(self, hidden: torch.Tensor, attend: Any) -> torch.Tensor:
        return self.mlp(self.attention.output(attend(self.attention.self, hidden), hidden))


class JinaBertEncoder(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(JinaBertLayer(config) for _ in range(config.num_hidden_layers))


class JinaBertPooler(nn.Module):
    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, first_tokens: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(first_tokens))


class JinaBertPreTrainedModel(PreTrainedModel):
    config_class = JinaBertConfig
    base_model_prefix = "bert"
    _supports_sdpa = True
    _supports_flash_attn = True
    _no_split_modules = ["JinaBertLayer"]  # noqa: RUF012 - transformers declares it as an instance attribute

    def _init_weights(self, module: nn.Module) -> None:
        std = getattr(self.config, "initializer_range", 0.02)
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class JinaBertModel(JinaBertPreTrainedModel):
    """Embeddings, ALiBi encoder and tanh pooler; returns the pooled first token."""

    alibi_slopes: torch.Tensor  # a buffer, registered in __init__

    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__(config)
        self.embeddings = JinaBertEmbeddings(config)
        self.encoder = JinaBertEncoder(config)
        self.pooler = JinaBertPooler(config)
        self.register_buffer("alibi_slopes", torch.tensor(alibi_slopes(config.num_attention_heads)), persistent=False)
        self.post_init()

    def _use_flash(self, hidden: torch.Tensor) -> bool:
        return compat.attention_implementation(self.config) == "flash_attention_2" and hidden.is_cuda

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        hidden = self.embeddings(input_ids, token_type_ids)
        slopes = self.alibi_slopes.float()
        if self._use_flash(hidden):
            first_tokens = self._encode_unpadded(hidden, attention_mask, slopes)
        else:
            first_tokens = self._encode_padded(hidden, attention_mask, slopes)
        return self.pooler(first_tokens)

    def _encode_padded(self, hidden: torch.Tensor, attention_mask: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
        # [batch, 1, 1, keys]: 0 for real tokens, the dtype's minimum for padding (BERT's extended mask).
        padding_bias = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min

        masks = padded_masks(slopes, padding_bias, hidden.shape[1], hidden.dtype)

        def attend(attention: JinaBertSelfAttention, states: torch.Tensor) -> torch.Tensor:
            return attention.forward_padded(states, padding_bias, slopes, masks)

        for layer in self.encoder.layer:
            hidden = layer(hidden, attend)
        return hidden[:, 0]

    def _encode_unpadded(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, slopes: torch.Tensor
    ) -> torch.Tensor:
        lengths = attention_mask.sum(dim=1, dtype=torch.int32)
        cu_seqlens = nn.functional.pad(lengths.cumsum(0, dtype=torch.int32), (1, 0))
        tokens = hidden[attention_mask.bool()]  # [total_tokens, hidden]: padding dropped
        return self._encode_packed(tokens, cu_seqlens, int(lengths.max()), slopes)

    def _encode_packed(
        self,
        tokens: torch.Tensor,
        cu_seqlens: torch.Tensor,
        max_seqlen: int,
        slopes: torch.Tensor,
        kernel: PackedAttention = varlen_attention,
    ) -> torch.Tensor:
        def attend(attention: JinaBertSelfAttention, states: torch.Tensor) -> torch.Tensor:
            return attention.forward_unpadded(states, cu_seqlens, max_seqlen, slopes, kernel)

        for layer in self.encoder.layer:
            tokens = layer(tokens, attend)
        return tokens[first_token_index(cu_seqlens, tokens.shape[0])]

    def forward_packed(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        cu_seqlens: torch.Tensor,
        max_seqlen: int,
        attention: PackedAttention = varlen_attention,
    ) -> torch.Tensor:
        """Pooled first tokens of sequences packed end to end (``input_ids`` [tokens], see packing.py).

        ``attention`` is the packed kernel: by default the best one installed (``varlen_attention``);
        ``packed_alibi_attention`` runs FlexAttention on any device (eagerly off CUDA: a reference).
        """
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        tokens = self.embeddings(input_ids, token_type_ids)
        return self.pooler(self._encode_packed(tokens, cu_seqlens, max_seqlen, self.alibi_slopes.float(), attention))


class JinaBertForSequenceClassification(JinaBertPreTrainedModel):
    """The reranker: pooled first token -> dropout -> one logit."""

    def __init__(self, config: JinaBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = JinaBertModel(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels or 1)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        pooled = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))

    def packed_logits(self, features: dict[str, Any], attention: PackedAttention = varlen_attention) -> torch.Tensor:
        """Logits of packed features (``packing.packed_features``): [pairs, num_labels]; ``attention`` as in
        ``JinaBertModel.forward_packed``."""
        pooled = self.bert.forward_packed(
            features["input_ids"],
            features.get("token_type_ids"),
            features["cu_seqlens"],
            features["max_seqlen"],
            attention,
        )
        return self.classifier(self.dropout(pooled))


def native_config(raw: dict[str, Any]) -> JinaBertConfig:
    """Our config from the official ``config.json`` (its ``num_labels`` is missing: a reranker has 1)."""
    keys = (
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "max_position_embeddings",
        "type_vocab_size",
        "layer_norm_eps",
        "pad_token_id",
        "classifier_dropout",
    )
    fields = {key: raw[key] for key in keys if key in raw and raw[key] is not None}
    feed_forward = raw.get("feed_forward_type", "geglu")
    if feed_forward != "geglu":
        raise ValueError(f"Unsupported JinaBERT feed_forward_type {feed_forward!r}; only 'geglu' rerankers exist.")
    return JinaBertConfig(**fields, num_labels=1, architectures=["JinaBertForSequenceClassification"])


def layout() -> NativeLayout:
    """How ``models.native`` builds this architecture: the official names are already ours."""
    return NativeLayout(
        build_config=native_config,
        model_class=JinaBertForSequenceClassification,
        convert_state_dict=lambda state, config: state,
        packed_logits=lambda model, features: model.packed_logits(features),
        uses_alibi=True,
    )
