"""Every private or version-dependent name of transformers, sentence-transformers and tokenizers we use.

One upgrade of those libraries can rename or reshape any of these. They are reached only through
this module, and tests/test_compat.py fails loudly, naming the shim, when one of them no longer looks
as expected (a missing attribute, a changed signature).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import torch
from sentence_transformers.base.modules import Transformer as SentenceTransformersTransformer
from transformers import AttentionInterface, PretrainedConfig, PreTrainedModel
from transformers.initialization import no_init_weights as _no_init_weights
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

__all__ = [
    "TRANSFORMER_LOADING_HOOKS",
    "AttentionInterface",
    "AttentionMaskInterface",
    "SentenceTransformersTransformer",
    "attention_implementation",
    "build_without_init",
    "fast_backend",
    "initialised_flags",
    "register_attention",
    "sdpa_attention_forward",
    "sdpa_mask",
    "silence_length_warning",
]

# sentence-transformers' Transformer module loads its config and model through these two methods;
# ``models.native.NativeTransformer`` overrides them (tests/test_compat.py pins their signatures).
TRANSFORMER_LOADING_HOOKS = {
    "_load_config": ("self", "model_name_or_path", "backend", "config_kwargs"),
    "_load_model": (
        "self",
        "model_name_or_path",
        "transformer_task",
        "config",
        "backend",
        "is_peft_model",
        "model_kwargs",
    ),
}


def attention_implementation(config: PretrainedConfig) -> str:
    """The attention a loaded transformers model runs (``config._attn_implementation``)."""
    return str(config._attn_implementation)


def build_without_init(
    model_class: type[PreTrainedModel], config: PretrainedConfig, *, dtype: torch.dtype, attn_implementation: str
) -> Any:
    """``model_class`` built from ``config`` with no random init: its weights are loaded right after.

    transformers' ``no_init_weights`` and ``_from_config`` (the constructor that honours ``dtype`` and
    ``attn_implementation``).
    """
    with no_init_weights():
        return model_class._from_config(config, dtype=dtype, attn_implementation=attn_implementation)


def no_init_weights() -> AbstractContextManager[None]:
    """transformers' context that skips the random initialisation of new modules."""
    return _no_init_weights()


def register_attention(name: str, forward: Callable[..., Any], *, with_sdpa_mask: bool) -> None:
    """Make ``name`` an ``attn_implementation``; with ``with_sdpa_mask`` transformers builds SDPA's masks for it."""
    AttentionInterface.register(name, forward)
    if with_sdpa_mask:
        AttentionMaskInterface.register(name, sdpa_mask)


def initialised_flags(parameters: Iterator[torch.nn.Parameter] | list[torch.nn.Parameter]) -> list[bool]:
    """transformers 5 flags each parameter it filled from the checkpoint with ``_is_hf_initialized``."""
    return [bool(getattr(parameter, "_is_hf_initialized", False)) for parameter in parameters]


def fast_backend(tokenizer: Any) -> Any | None:
    """The Rust ``tokenizers.Tokenizer`` behind a fast tokenizer (``backend_tokenizer``), if it has ``encode_batch_fast``."""
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    return backend if hasattr(backend, "encode_batch_fast") else None


def silence_length_warning(tokenizer: Any) -> None:
    """Mark transformers' "sequence longer than the maximum" warning as already shown (``deprecation_warnings``)."""
    warned = getattr(tokenizer, "deprecation_warnings", None)
    if isinstance(warned, dict):
        warned["sequence-length-is-longer-than-the-specified-maximum"] = True
