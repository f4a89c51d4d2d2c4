"""jina-reranker-v3 on the GPU: half precision by default, parity with fp32, no [L, L] memory (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch
from conftest import FIXTURES, load_expected

from jina_local_rerank import Reranker

pytestmark = pytest.mark.cuda

V3_TINY = FIXTURES / "jina-v3-tiny"
EXPECTED = load_expected(V3_TINY)
RERANK = [c for c in EXPECTED["cases"] if c["kind"] == "rerank" and "results" in c["expected"]]


def _kwargs(case):
    return {k: v for k, v in case["params"].items() if k in ("max_doc_length", "max_query_length")}


@pytest.fixture(scope="module")
def half():
    return Reranker(V3_TINY, device="cuda")


@pytest.fixture(scope="module")
def exact():
    return Reranker(V3_TINY, device="cuda", dtype="float32")


def test_cuda_defaults_to_half_precision_and_matches_the_reference(half, exact):
    assert half.dtype in (torch.float16, torch.bfloat16)
    for case in RERANK:
        inputs, expected = case["inputs"], case["expected"]["scores_by_index"]
        exact_scores = exact.score_documents(inputs["query"], inputs["documents"], **_kwargs(case)).scores
        half_scores = half.score_documents(inputs["query"], inputs["documents"], **_kwargs(case)).scores
        exact_error = max(abs(a - b) for a, b in zip(exact_scores, expected))
        half_error = max(abs(a - b) for a, b in zip(half_scores, expected))
        print(f"{case['id']}: fp32 {exact_error:.2e}, {half.dtype} {half_error:.2e}")
        assert exact_error < 1e-4
        assert half_error < 0.05


def test_cuda_many_blocks_in_one_forward_match_one_block_per_forward(half):
    case = next(c for c in RERANK if c["id"] == "rerank/capacity_blocks")
    request = (case["inputs"]["query"], case["inputs"]["documents"])
    scorer = half.listwise_scorer
    packed = scorer.score_many([request, request])
    single = scorer.score_many([request], max_blocks_per_forward=1)[0]
    assert len(single.blocks) > 1
    for result in packed:
        assert result.scores == pytest.approx(single.scores, abs=2e-2)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_cuda_full_block_of_125_long_documents_needs_no_quadratic_memory(dtype):
    reranker = Reranker(V3_TINY, device="cuda", dtype=dtype)
    scorer = reranker.listwise_scorer
    scorer.tokenizer.model_max_length = 10**7  # room for one block of 125 maximal documents
    documents = [f"document {i}: " + "vitamin C oranges kiwi peppers " * 600 for i in range(125)]
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    result = scorer.score_many([("Which foods are rich in vitamin C?", documents)])[0]
    peak = torch.cuda.max_memory_allocated() - before
    (block,) = result.blocks
    length = len(block.input_ids)
    assert len(block.document_indices) == 125 and length > 125 * 2048
    # A [L, L] mask alone would take L^2 bytes (bool) = tens of GB; the whole forward stays far below.
    print(f"{dtype}: prompt of {length} tokens, peak {peak / 2**20:.0f} MiB")
    assert peak < 2 * 2**30 < length**2
    assert all(-1.0 <= s <= 1.0 for s in result.scores)
