"""JinaBERT's packed attention through FlexAttention: the math on the CPU (eager), the compiled kernel on CUDA.

On the CPU FlexAttention runs eagerly (an unfused reference), which checks the ALiBi ``score_mod``,
the document ``mask_mod`` and the block mask built from ``cu_seqlens`` against per-document SDPA and
against the v1 fixture's reference logits. The CUDA tests (skipped without a GPU) check the
compiled kernel in fp16 and that the plan packs v1 without flash_attn.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
from conftest import V1_TINY, cases
from hypothesis import given, settings
from hypothesis import strategies as st

from jina_local_rerank import Reranker
from jina_local_rerank.models.architectures.jina_bert import JinaBertConfig, JinaBertForSequenceClassification
from jina_local_rerank.runtime.cuda import (
    alibi_bias,
    document_block_mask,
    document_ids,
    flex_attention_supported,
    flex_compile_failed,
    flex_padded_tokens,
    packed_alibi_attention,
    packed_features,
    same_document,
    symmetric_alibi,
    varlen_attention,
)
from jina_local_rerank.runtime.plan import ArchitectureTraits, MachineCapabilities, RequestedSettings, make_plan
from jina_local_rerank.text.tokenization import PairTokenizer

SLOPES_6 = torch.tensor([2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3])  # JinaBERT's rule for 6 heads

# Documents of several lengths: crossing 128-token blocks, empty ones (a CUDA graph's padding slots),
# one filling a block exactly, a total that is a multiple of 128.
LAYOUTS = [[5, 130, 1, 0, 77, 200], [128, 128], [1], [300, 0, 0, 12], [60, 4, 64]]


def _cu_seqlens(lengths: list[int]) -> torch.Tensor:
    return torch.tensor([0, *itertools.accumulate(lengths)], dtype=torch.int32)


def _per_document_sdpa(q, k, v, cu_seqlens, slopes):
    """The padded path's math for each document on its own: SDPA with the ALiBi bias as the mask."""
    outputs = []
    for start, end in itertools.pairwise(cu_seqlens.tolist()):
        if end > start:
            bias = alibi_bias(slopes, torch.arange(end - start, device=q.device), end - start).to(q.dtype)
            qd, kd, vd = (t[start:end].transpose(0, 1).float() for t in (q, k, v))
            context = torch.nn.functional.scaled_dot_product_attention(qd, kd, vd, attn_mask=bias.float())
            outputs.append(context.transpose(0, 1))
    return torch.cat(outputs)


@pytest.mark.parametrize("lengths", LAYOUTS, ids=[str(layout) for layout in LAYOUTS])
def test_flex_attention_equals_per_document_sdpa_with_alibi(lengths):
    torch.manual_seed(sum(lengths))
    cu_seqlens = _cu_seqlens(lengths)
    total, heads, head_dim = int(cu_seqlens[-1]), 6, 8
    q, k, v = (torch.randn(total, heads, head_dim) for _ in range(3))
    context = packed_alibi_attention(q, k, v, cu_seqlens, max(lengths), alibi_slopes=SLOPES_6)
    assert context.shape == (total, heads, head_dim)
    torch.testing.assert_close(context, _per_document_sdpa(q, k, v, cu_seqlens, SLOPES_6), atol=1e-5, rtol=1e-5)
    # The per-sequence kernel packed batches use on the CPU agrees too.
    torch.testing.assert_close(context, varlen_attention(q, k, v, cu_seqlens, max(lengths), alibi_slopes=SLOPES_6))


def test_documents_never_see_each_other():
    torch.manual_seed(0)
    cu_seqlens = _cu_seqlens([40, 100, 20])
    q, k, v = (torch.randn(160, 6, 8) for _ in range(3))
    before = packed_alibi_attention(q, k, v, cu_seqlens, 100, alibi_slopes=SLOPES_6)
    v[40:140] = 1e3  # the middle document's values: nothing outside it may move
    after = packed_alibi_attention(q, k, v, cu_seqlens, 100, alibi_slopes=SLOPES_6)
    torch.testing.assert_close(after[:40], before[:40], atol=0, rtol=0)
    torch.testing.assert_close(after[140:], before[140:], atol=0, rtol=0)
    assert not torch.allclose(after[40:140], before[40:140])


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=8).filter(lambda xs: sum(xs) > 0))
def test_block_mask_from_bounds_equals_create_block_mask(lengths):
    from torch.nn.attention.flex_attention import create_block_mask

    cu_seqlens = _cu_seqlens(lengths)
    tokens = -(-int(cu_seqlens[-1]) // 128) * 128 + 128 * (len(lengths) % 3)  # sometimes whole padding blocks
    ours = document_block_mask(cu_seqlens, tokens)
    reference = create_block_mask(same_document(document_ids(cu_seqlens, tokens)), None, None, tokens, tokens, "cpu")
    assert torch.equal(ours.to_dense(), reference.to_dense())
    for name in ("kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices"):
        assert torch.equal(getattr(ours, name), getattr(reference, name)), name


def test_document_ids_keep_padding_apart():
    ids = document_ids(_cu_seqlens([3, 0, 200]), 384).tolist()
    assert ids[:3] == [0] * 3 and ids[3:203] == [2] * 200  # the empty document 1 holds no token
    # Padding: one document per 128-token block, after every real one.
    assert ids[203:256] == [4] * 53 and ids[256:] == [5] * 128


def test_flex_runs_at_few_token_counts():
    assert [flex_padded_tokens(n) for n in (1, 1024, 1025, 5000, 32768)] == [1024, 1024, 2048, 8192, 32768]
    assert len({flex_padded_tokens(n) for n in range(1, 32769)}) == 6


def test_block_mask_needs_whole_blocks():
    with pytest.raises(ValueError, match="multiple of 128"):
        document_block_mask(_cu_seqlens([10]), 100)


def test_score_mod_and_mask_mod_give_the_padded_bias():
    """Evaluated densely, the two functions are the padded path's ALiBi bias and a per-document mask."""
    from torch.nn.attention.flex_attention import create_mask

    cu_seqlens = _cu_seqlens([3, 5])
    ids = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])
    allowed = create_mask(same_document(ids), 1, 1, 8, 8, device="cpu")[0, 0]
    expected = torch.zeros(8, 8, dtype=torch.bool)
    expected[:3, :3] = expected[3:, 3:] = True
    assert torch.equal(allowed, expected)
    # score_mod is elementwise torch: evaluated on a broadcast grid of heads x queries x keys.
    positions = torch.arange(8)
    heads = torch.arange(6)[:, None, None]
    bias = symmetric_alibi(SLOPES_6)(torch.zeros(6, 8, 8), 0, heads, positions[:, None], positions[None, :])
    torch.testing.assert_close(bias, alibi_bias(SLOPES_6, positions, 8), atol=0, rtol=0)
    assert int(cu_seqlens[-1]) == ids.numel()


@pytest.fixture(scope="module")
def v1_reranker():
    return Reranker(V1_TINY, device="cpu", dtype="float32", packed=True)


@pytest.mark.parametrize("case", cases(V1_TINY, "logits"), ids=lambda case: case["id"])
def test_v1_fixture_through_flex_equals_padded_and_reference(v1_reranker, case):
    model = v1_reranker.cross_encoder[0].model
    tokenizer = PairTokenizer(v1_reranker.cross_encoder.tokenizer)
    pairs = case["inputs"]["pairs"]
    max_length = case["params"]["max_length"] or v1_reranker.max_length
    encoded = tokenizer.encode_pairs([q for q, _ in pairs], [d for _, d in pairs], max_length)
    assert [pair.input_ids for pair in encoded] == case["expected"]["input_ids"]
    packed = packed_features(encoded)
    ids, types, mask = (
        torch.nn.utils.rnn.pad_sequence([torch.tensor(row) for row in rows], batch_first=True)
        for rows in (
            [pair.input_ids for pair in encoded],
            [pair.token_type_ids or [0] * len(pair) for pair in encoded],
            [[1] * len(pair) for pair in encoded],
        )
    )
    with torch.inference_mode():
        flex = model.packed_logits(packed, attention=packed_alibi_attention).reshape(-1)
        default = model.packed_logits(packed).reshape(-1)  # per-sequence SDPA on the CPU
        unpacked = model(ids, attention_mask=mask, token_type_ids=types).logits.reshape(-1)
    torch.testing.assert_close(flex, unpacked, atol=1e-5, rtol=0)
    torch.testing.assert_close(flex, default, atol=1e-5, rtol=0)
    assert flex.tolist() == pytest.approx(case["expected"]["logits"], abs=1e-5)
    assert torch.sigmoid(flex).tolist() == pytest.approx(case["expected"]["scores"], abs=1e-5)


V1_TRAITS = ArchitectureTraits("v1", native=True, uses_alibi=True)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
needs_flex = pytest.mark.skipif(not flex_attention_supported(), reason="needs FlexAttention and Triton")


@needs_cuda
@needs_flex
@pytest.mark.cuda
@pytest.mark.parametrize("head_dim", [32, 64])
def test_cuda_compiled_flex_in_fp16_matches_fp32_reference(head_dim):
    torch.manual_seed(head_dim)
    lengths = [5, 130, 1, 0, 77, 200, 511]
    cu_seqlens = _cu_seqlens(lengths).cuda()
    total = int(cu_seqlens[-1])
    slopes = torch.tensor([2.0 ** -(i + 1) for i in range(8)], device="cuda")
    q, k, v = (torch.randn(total, 8, head_dim, device="cuda") for _ in range(3))
    reference = _per_document_sdpa(q, k, v, cu_seqlens, slopes)
    half = varlen_attention(q.half(), k.half(), v.half(), cu_seqlens, max(lengths), alibi_slopes=slopes)
    assert not flex_compile_failed()
    torch.testing.assert_close(half.float(), reference, atol=5e-3, rtol=5e-3)


@needs_cuda
@needs_flex
@pytest.mark.cuda
def test_cuda_packed_flex_scores_match_padded_scores():
    torch.manual_seed(0)
    config = JinaBertConfig(num_hidden_layers=2, vocab_size=1000)  # head_dim 32, as in the real v1 models
    model = JinaBertForSequenceClassification(config).eval().cuda().half()
    lengths = [3, 40, 7, 300, 1, 90, 129]
    ids = [torch.randint(5, 1000, (n,)) for n in lengths]
    padded_ids = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True).cuda()
    mask = torch.nn.utils.rnn.pad_sequence([torch.ones(n, dtype=torch.long) for n in lengths], batch_first=True)
    features = {
        "input_ids": torch.cat(ids).cuda(),
        "cu_seqlens": _cu_seqlens(lengths).cuda(),
        "max_seqlen": max(lengths),
    }
    with torch.inference_mode():
        packed = model.packed_logits(features, attention=packed_alibi_attention).float()
        padded = model(padded_ids, attention_mask=mask.cuda()).logits.float()
    assert not flex_compile_failed()
    torch.testing.assert_close(torch.sigmoid(packed), torch.sigmoid(padded), atol=2e-3, rtol=0)


@needs_cuda
@needs_flex
@pytest.mark.cuda
def test_cuda_plan_packs_v1_without_flash_attn():
    machine = dataclasses.replace(MachineCapabilities.probe("cuda"), flash_attn=False)
    assert machine.flex_attention
    plan = make_plan(RequestedSettings(device="cuda"), V1_TRAITS, machine)
    assert plan.packed and not plan.cuda_graphs and plan.dtype in (torch.float16, torch.bfloat16)
