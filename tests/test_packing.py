"""Packed batches (no padding, variable-length attention) give the scores padded batches give.

On the CPU the packed path runs SDPA one sequence at a time; on CUDA the same code reaches a real
varlen kernel (tests/test_cuda.py), so these tests pin down everything around the kernel: token
packing, positions, token types, first-token gathering and ALiBi per sequence.
"""

from __future__ import annotations

import pytest
import torch
from conftest import V1_TINY, V2_TINY

from jina_local_rerank import Reranker
from jina_local_rerank.runtime.batching import plan_batches
from jina_local_rerank.runtime.cuda import (
    alibi_bias,
    bucket_tokens,
    graph_shape,
    packed_features,
    pad_packed,
    varlen_attention,
)
from jina_local_rerank.text.tokenization import EncodedPair

DOCUMENTS = [" ".join(["organic skincare"] * n) + f" item {n}" for n in (1, 35, 4, 120, 0, 60, 9)]


@pytest.mark.parametrize("folder", [V2_TINY, V1_TINY], ids=["v2", "v1"])
def test_packed_scores_equal_padded_scores(folder):
    padded = Reranker(folder, device="cpu", dtype="float32", packed=False)
    packed = Reranker(folder, device="cpu", dtype="float32", packed=True, token_budget=300)
    assert packed.packed and not padded.packed
    query = "which skincare item?"
    pairs = [[query, d] for d in DOCUMENTS]
    assert packed.compute_score(pairs) == pytest.approx(padded.compute_score(pairs), abs=1e-5)
    windowed_packed = packed.score_documents(query, DOCUMENTS, max_length=48, overlap=8)
    windowed_padded = padded.score_documents(query, DOCUMENTS, max_length=48, overlap=8)
    assert len(windowed_packed.windows) > len(DOCUMENTS)  # long documents were split
    assert windowed_packed.scores == pytest.approx(windowed_padded.scores, abs=1e-5)


def test_packed_features_lay_pairs_end_to_end():
    pairs = [EncodedPair([5, 6, 7], [0, 0, 1]), EncodedPair([8], [0]), EncodedPair([9, 10], [0, 1])]
    features = packed_features(pairs)
    assert features["input_ids"].tolist() == [5, 6, 7, 8, 9, 10]
    assert features["token_type_ids"].tolist() == [0, 0, 1, 0, 0, 1]
    assert features["position_ids"].tolist() == [0, 1, 2, 0, 0, 1]
    assert features["cu_seqlens"].tolist() == [0, 3, 4, 6]
    assert features["cu_seqlens"].dtype == torch.int32
    assert features["max_seqlen"] == 3


def test_packed_token_budget_counts_real_tokens_only():
    lengths = [500, 10, 10, 10, 480]
    # Padded, 500 + 480 would cost 2 x 500 > 990; packed they fit together.
    assert plan_batches(lengths, None, 990) == [[0], [4, 1], [2, 3]]
    assert plan_batches(lengths, None, 990, packed=True) == [[0, 4, 1], [2, 3]]


def test_per_sequence_attention_matches_masked_sdpa_with_alibi():
    torch.manual_seed(0)
    lengths = [5, 2, 7]
    heads, dim = 4, 8
    q, k, v = (torch.randn(sum(lengths), heads, dim) for _ in range(3))
    slopes = torch.tensor([0.5, 0.25, 0.125, 0.0625])
    cu = torch.tensor([0, 5, 7, 14], dtype=torch.int32)
    packed = varlen_attention(q, k, v, cu, 7, alibi_slopes=slopes)
    for start, end in zip(cu[:-1].tolist(), cu[1:].tolist()):
        n = end - start
        bias = alibi_bias(slopes, torch.arange(n), n)
        expected = torch.nn.functional.scaled_dot_product_attention(
            *(t[start:end].transpose(0, 1) for t in (q, k, v)), attn_mask=bias
        ).transpose(0, 1)
        torch.testing.assert_close(packed[start:end], expected)


def test_packing_a_generic_checkpoint_is_refused(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n")
    BertTokenizerFast(vocab_file=str(vocab), model_max_length=32).save_pretrained(tmp_path)
    config = BertConfig(
        vocab_size=7,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="packed=True needs one of Jina's native architectures"):
        Reranker(tmp_path, device="cpu", packed=True)
    assert not Reranker(tmp_path, device="cpu").packed


@pytest.mark.parametrize("folder", [V2_TINY, V1_TINY], ids=["v2", "v1"])
def test_batches_padded_to_a_graph_shape_keep_their_logits(folder):
    """What a CUDA graph replays: dummy and empty sequences after the real ones change nothing."""
    reranker = Reranker(folder, device="cpu", dtype="float32", packed=True)
    tokenizer = reranker.pipeline.tokenizer
    pairs = tokenizer.encode_pairs(["which skincare item?"] * len(DOCUMENTS), DOCUMENTS, 64)
    features = packed_features(pairs)
    shape = graph_shape(int(features["input_ids"].shape[0]), len(pairs), features["max_seqlen"])
    assert shape.tokens >= features["input_ids"].shape[0] and shape.sequences >= len(pairs)
    padded = pad_packed(features, shape.tokens, shape.sequences, shape.max_seqlen, tokenizer.pad_token_id)
    assert padded["input_ids"].shape[0] == shape.tokens
    assert padded["cu_seqlens"].shape[0] == shape.sequences + 1
    assert padded["cu_seqlens"][-1] == shape.tokens
    lengths = padded["cu_seqlens"].diff()
    assert int(lengths.max()) <= shape.max_seqlen and int(lengths.min()) >= 0
    module = reranker.cross_encoder[0]
    with torch.inference_mode():
        exact = module.packed_logits(features)
        replayed = module.packed_logits(padded)[: len(pairs)]
    torch.testing.assert_close(replayed, exact, atol=1e-5, rtol=1e-5)


def test_graph_shapes_are_few_and_waste_little():
    assert bucket_tokens(18277) == 18432  # 0.8% padding for a 100-document query
    assert bucket_tokens(100) == 256
    sizes = {bucket_tokens(n) for n in range(257, 32769)}
    assert len(sizes) == 7 * 8  # eight sizes per doubling
    assert all(bucket_tokens(n) < n * 1.126 for n in range(257, 32769, 37))
    shape = graph_shape(18277, 100, 480)
    assert (shape.tokens, shape.sequences, shape.max_seqlen) == (18432, 128, 512)


def test_cuda_graphs_need_packed_cuda_batches():
    with pytest.raises(ValueError, match="cuda_graphs=True needs packed batches on a CUDA device"):
        Reranker(V2_TINY, device="cpu", packed=True, cuda_graphs=True)
    assert not Reranker(V2_TINY, device="cpu", packed=True).cuda_graphs
