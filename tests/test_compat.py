"""Each shim in ``compat`` against the installed libraries: an upgrade that breaks one fails here, by name."""

from __future__ import annotations

import inspect

import pytest
import torch
from conftest import V2_TINY
from transformers import AutoTokenizer, BertConfig, BertModel

from jina_local_rerank import compat
from jina_local_rerank.models.native import NativeTransformer
from jina_local_rerank.text.tokenization import PairTokenizer


@pytest.mark.parametrize("hook", sorted(compat.TRANSFORMER_LOADING_HOOKS))
def test_sentence_transformers_loading_hooks_keep_their_signature(hook):
    """NativeTransformer overrides these two private methods; their parameters must not move."""
    expected = compat.TRANSFORMER_LOADING_HOOKS[hook]
    base = getattr(compat.SentenceTransformersTransformer, hook, None)
    assert base is not None, f"sentence-transformers' Transformer no longer has {hook}"
    assert tuple(inspect.signature(base).parameters) == expected, f"{hook} changed its signature"
    ours = getattr(NativeTransformer, hook)
    assert tuple(inspect.signature(ours).parameters) == expected


def test_build_without_init_and_attention_implementation():
    config = BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, vocab_size=50)
    model = compat.build_without_init(BertModel, config, dtype=torch.float32, attn_implementation="sdpa")
    assert isinstance(model, BertModel)
    assert compat.attention_implementation(model.config) == "sdpa"
    assert hasattr(config, "_attn_implementation")
    assert "dtype" in inspect.signature(BertModel._from_config).parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(BertModel._from_config).parameters.values()
    )


def test_no_init_weights_is_a_context_manager():
    with compat.no_init_weights():
        layer = torch.nn.Linear(2, 2)
    assert layer.weight.shape == (2, 2)


def test_registered_attention_is_known_to_transformers():
    from jina_local_rerank.models.architectures import qwen3_listwise, xlm_roberta_v2

    assert xlm_roberta_v2.ATTENTION_IMPLEMENTATION in compat.AttentionInterface._global_mapping
    assert xlm_roberta_v2.ATTENTION_IMPLEMENTATION in compat.AttentionMaskInterface._global_mapping
    assert qwen3_listwise.ATTENTION_IMPLEMENTATION in compat.AttentionInterface._global_mapping
    parameters = inspect.signature(compat.sdpa_attention_forward).parameters
    assert list(parameters)[:5] == ["module", "query", "key", "value", "attention_mask"]
    assert callable(compat.sdpa_mask)


def test_initialised_flags_read_transformers_loading_marks():
    plain = torch.nn.Linear(2, 2)
    assert compat.initialised_flags(list(plain.parameters())) == [False, False]
    plain.weight._is_hf_initialized = True  # type: ignore[attr-defined]
    assert compat.initialised_flags(list(plain.parameters())) == [True, False]


def test_tokenizer_internals():
    tokenizer = AutoTokenizer.from_pretrained(str(V2_TINY))
    backend = compat.fast_backend(tokenizer)
    assert backend is not None, "fast tokenizers no longer expose backend_tokenizer.encode_batch_fast"
    (encoding,) = backend.encode_batch_fast(["hello world"], add_special_tokens=False)
    assert encoding.ids == tokenizer("hello world", add_special_tokens=False)["input_ids"]
    assert isinstance(tokenizer.deprecation_warnings, dict), "tokenizer.deprecation_warnings moved"
    compat.silence_length_warning(tokenizer)
    assert tokenizer.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] is True
    assert PairTokenizer(tokenizer).encode_texts(["hello world"]) == [encoding.ids]
