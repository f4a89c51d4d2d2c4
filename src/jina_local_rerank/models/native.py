"""Build native torch models from Jina's checkpoint layouts and hold them in sentence-transformers.

``NativeTransformer`` is sentence-transformers' own ``Transformer`` module with two loading steps
swapped: the config comes from our parser instead of ``AutoConfig`` (v2's has no ``model_type``)
and the model is built from the renamed official weights instead of ``AutoModel`` (which would
need Jina's remote code). Tokenizer handling and the ``CrossEncoder`` around it stay
sentence-transformers' own; forward adds one route, for packed batches (no padding).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import PretrainedConfig, PreTrainedModel

from jina_local_rerank import compat
from jina_local_rerank.models.architectures import jina_bert, qwen3_listwise, xlm_roberta_v2
from jina_local_rerank.models.architectures.weights import load_into, load_state_dict
from jina_local_rerank.models.checkpoint import Architecture, read_config
from jina_local_rerank.models.layout import NativeLayout
from jina_local_rerank.runtime import hardware
from jina_local_rerank.runtime.cuda import (
    PACKED_KEY,
    PackedGraphs,
)
from jina_local_rerank.runtime.plan import ArchitectureTraits


def _jina_v2_layout() -> NativeLayout:
    return NativeLayout(
        build_config=xlm_roberta_v2.native_config,
        model_class=xlm_roberta_v2.MODEL_CLASS,
        convert_state_dict=lambda state, config: xlm_roberta_v2.to_native_state_dict(state, config.hidden_size),
        packed_logits=xlm_roberta_v2.packed_logits,
        attn_implementation=xlm_roberta_v2.ATTENTION_IMPLEMENTATION,
        fuse_residual_norms=xlm_roberta_v2.fuse_residual_norms,
    )


def native_layout(architecture: Architecture) -> NativeLayout:
    if architecture is Architecture.JINA_V2:
        return _jina_v2_layout()
    if architecture is Architecture.JINA_BERT:
        return jina_bert.layout()
    raise ValueError(f"{architecture} has no native layout; it loads through sentence-transformers.")


def build_native_model(
    folder: Path, layout: NativeLayout, dtype: torch.dtype, attn_implementation: str
) -> PreTrainedModel:
    """Instantiate without random init, then load the converted official weights strictly."""
    config = layout.build_config(read_config(folder))
    attn_implementation = layout.attn_implementation or attn_implementation
    model = compat.build_without_init(layout.model_class, config, dtype=dtype, attn_implementation=attn_implementation)
    state = layout.convert_state_dict(load_state_dict(folder), config)
    load_into(model, state, str(folder))
    return model.eval()


class NativeTransformer(compat.SentenceTransformersTransformer):
    """sentence-transformers ``Transformer`` that loads a Jina layout natively (see module doc)."""

    layout: ClassVar[NativeLayout]
    _packed_graphs: PackedGraphs | None = None

    @property
    def packed_graphs(self) -> PackedGraphs | None:
        """The CUDA graphs packed batches replay through (``None`` until ``use_cuda_graphs``)."""
        return self._packed_graphs

    def _load_config(
        self, model_name_or_path: str, backend: str, config_kwargs: dict[str, Any]
    ) -> tuple[PretrainedConfig, bool]:
        return self.layout.build_config(read_config(Path(model_name_or_path))), False

    def _load_model(
        self,
        model_name_or_path: str,
        transformer_task: str,
        config: PretrainedConfig,
        backend: str,
        is_peft_model: bool,
        **model_kwargs: Any,
    ) -> PreTrainedModel:
        if backend != "torch":
            raise ValueError(f"Jina's native models run on the torch backend only, not {backend!r}.")
        dtype = model_kwargs.get("dtype") or torch.float32
        attn = model_kwargs.get("attn_implementation") or "sdpa"
        return build_native_model(Path(model_name_or_path), self.layout, dtype, attn)

    def use_fused_norms(self) -> None:
        """Run each block's residual add and LayerNorm as one compiled kernel from now on (see fusion.py)."""
        self.layout.fuse_residual_norms(self.model)

    def use_cuda_graphs(self, pad_token_id: int) -> None:
        """Replay packed batches as CUDA graphs from now on (see graphs.py)."""
        self._packed_graphs = PackedGraphs(self.packed_logits, pad_token_id, self.model.device)

    def packed_logits(self, features: dict[str, Any]) -> torch.Tensor:
        """Logits of packed features on the model's device (the forward CUDA graphs capture)."""
        return self.layout.packed_logits(self.model, features)

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Packed features (``packing.packed_features``) take the layout's packed path; the rest is ST's."""
        if PACKED_KEY not in features:
            return super().forward(features, **kwargs)
        if self._packed_graphs is not None:
            features[self.module_output_name] = self._packed_graphs(features)
        else:
            features[self.module_output_name] = self.packed_logits(hardware.to_device(features, self.model.device))
        return features


def native_transformer_class(architecture: Architecture) -> type[NativeTransformer]:
    return type(
        f"Native{architecture.name.title().replace('_', '')}Transformer",
        (NativeTransformer,),
        {
            "layout": native_layout(architecture),
        },
    )


def architecture_traits(architecture: Architecture, name: str) -> ArchitectureTraits:
    """What the execution plan needs to know about ``architecture`` (no weights are read)."""
    if architecture is Architecture.JINA_V3:
        return ArchitectureTraits(name, listwise=True, attn_implementation=qwen3_listwise.ATTENTION_IMPLEMENTATION)
    if architecture is Architecture.GENERIC:
        return ArchitectureTraits(name)
    layout = native_layout(architecture)
    return ArchitectureTraits(
        name, native=True, uses_alibi=layout.uses_alibi, attn_implementation=layout.attn_implementation
    )
