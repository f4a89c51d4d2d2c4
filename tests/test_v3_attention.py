"""v3 attention: causal, packed blocks isolated from each other, and never a materialised [L, L] mask."""

from __future__ import annotations

import pytest
import torch
from conftest import FIXTURES
from transformers.masking_utils import create_causal_mask

from jina_local_rerank import Reranker
from jina_local_rerank.models.architectures import packed_attention
from jina_local_rerank.models.architectures.qwen3_listwise import PackedBlocks

V3_TINY = FIXTURES / "jina-v3-tiny"


@pytest.fixture(scope="module")
def model():
    return Reranker(V3_TINY, device="cpu", dtype="float32").listwise_scorer.model


def _prompts(n: int, length: int, seed: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(100, 5000, (length,), generator=generator).tolist()


def test_transformers_builds_no_mask_for_our_attention(model):
    embeds = torch.zeros(1, 300, model.config.hidden_size)
    positions = torch.cat([torch.arange(100), torch.arange(200)])[None]  # two packed prompts
    for position_ids in (positions, torch.arange(300)[None]):
        mask = create_causal_mask(
            config=model.config, inputs_embeds=embeds, attention_mask=None, cache=None, position_ids=position_ids
        )
        assert mask is None


def test_every_attention_call_runs_causal_without_a_mask(model, monkeypatch):
    seen: list[tuple[object, object]] = []
    sdpa, varlen = packed_attention.sdpa_attention_forward, packed_attention.varlen_attention

    def spy_sdpa(module, query, key, value, attention_mask, **kwargs):
        seen.append(("sdpa", attention_mask))
        return sdpa(module, query, key, value, attention_mask, **kwargs)

    def spy_varlen(*args, **kwargs):
        seen.append(("varlen", kwargs.get("causal")))
        return varlen(*args, **kwargs)

    monkeypatch.setattr(packed_attention, "sdpa_attention_forward", spy_sdpa)
    monkeypatch.setattr(packed_attention, "varlen_attention", spy_varlen)
    with torch.inference_mode():
        model.hidden_states(PackedBlocks.from_prompts([_prompts(1, 50, 0)]))
        model.hidden_states(PackedBlocks.from_prompts([_prompts(1, 50, 0), _prompts(1, 30, 1)]))
    layers = model.config.num_hidden_layers
    # One prompt or several: always the causal variable-length path, never transformers' masked SDPA.
    assert seen == [("varlen", True)] * (2 * layers)


def test_packed_prompts_equal_separate_forwards_and_are_causal(model):
    first, second = _prompts(1, 64, 0), _prompts(1, 40, 1)
    with torch.inference_mode():
        alone = [model.hidden_states(PackedBlocks.from_prompts([p])) for p in (first, second)]
        packed = model.hidden_states(PackedBlocks.from_prompts([first, second]))
        # Causal: a prefix's states do not depend on what follows it.
        prefix = model.hidden_states(PackedBlocks.from_prompts([first[:20]]))
    torch.testing.assert_close(packed[:64], alone[0], atol=2e-5, rtol=0)
    torch.testing.assert_close(packed[64:], alone[1], atol=2e-5, rtol=0)
    torch.testing.assert_close(prefix, alone[0][:20], atol=2e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_packed_blocks_run_sdpa_fused_kernel_on_the_cpu(model, dtype):
    """With only SDPA's flash kernel allowed a call that would fall back to the math path (which
    materialises [heads, L, L] scores, 5-15x slower on long blocks) fails instead."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from jina_local_rerank.runtime.cuda import varlen_attention

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(90, 4, 32, generator=generator).to(dtype) for _ in range(3))
    cu_seqlens = torch.tensor([0, 50, 90], dtype=torch.int32)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        fused = varlen_attention(q, k, v, cu_seqlens, 50, causal=True)
    with sdpa_kernel([SDPBackend.MATH]):
        reference = varlen_attention(q, k, v, cu_seqlens, 50, causal=True)
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(fused, reference, atol=tolerance, rtol=tolerance)
