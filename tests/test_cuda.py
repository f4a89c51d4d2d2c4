"""The GPU path: half precision by default, SDPA or flash attention, parity with fp32 (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch
from conftest import V1_TINY, V2_TINY, load_expected

from jina_local_rerank import Reranker
from jina_local_rerank.runtime.cuda import compile_failed, fast_kernel_available, fused_norms_available
from jina_local_rerank.runtime.plan import MachineCapabilities, RequestedSettings, resolve_target

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("folder", [V2_TINY, V1_TINY], ids=["v2", "v1"])
def test_cuda_defaults_to_half_precision_and_matches_fp32(folder):
    reranker = Reranker(folder, device="cuda")
    assert reranker.dtype in (torch.bfloat16, torch.float16)
    assert reranker.packed == fast_kernel_available(torch.device("cuda"), reranker.dtype, folder == V1_TINY)
    exact = Reranker(folder, device="cuda", dtype="float32")
    for case in load_expected(folder)["cases"]:
        if case["kind"] == "compute_score" and isinstance(case["expected"]["scores"], list):
            pairs = case["inputs"]["pairs"]
            expected = case["expected"]["scores"]
            exact_scores = exact.compute_score(pairs, max_length=case["params"]["max_length"])
            half_scores = reranker.compute_score(pairs, max_length=case["params"]["max_length"])
            exact_error = max(abs(a - b) for a, b in zip(exact_scores, expected))
            half_error = max(abs(a - b) for a, b in zip(half_scores, expected))
            print(f"{folder.name} {case['id']}: fp32 {exact_error:.2e}, {reranker.dtype} {half_error:.2e}")
            assert exact_error < 1e-4
            assert half_error < 0.05


@pytest.mark.parametrize("folder", [V2_TINY, V1_TINY], ids=["v2", "v1"])
def test_cuda_packed_batches_match_fp32(folder):
    packed = Reranker(folder, device="cuda", packed=True)
    padded = Reranker(folder, device="cuda", packed=False)
    exact = Reranker(folder, device="cuda", dtype="float32", packed=False)
    documents = [" ".join(["word"] * n) + f" {n}" for n in (3, 40, 7, 300, 1, 90)]
    scores = [r.score_documents("which word?", documents, max_length=128).scores for r in (packed, padded, exact)]
    # Half precision either way: packed is as close to fp32 as padded is.
    assert scores[0] == pytest.approx(scores[2], abs=1e-2)
    assert scores[1] == pytest.approx(scores[2], abs=1e-2)


def test_cuda_long_jina_bert_input_matches_cpu():
    from jina_local_rerank.models.architectures.jina_bert import JinaBertConfig, JinaBertForSequenceClassification

    torch.manual_seed(0)
    model = JinaBertForSequenceClassification(JinaBertConfig(num_hidden_layers=2)).eval()
    ids = torch.randint(5, 61000, (2, 3000))
    mask = torch.ones_like(ids)
    mask[1, 2000:] = 0
    with torch.inference_mode():
        cpu = model(ids, attention_mask=mask).logits
        gpu = model.cuda()(ids.cuda(), attention_mask=mask.cuda()).logits.cpu()
    assert gpu.reshape(-1).tolist() == pytest.approx(cpu.reshape(-1).tolist(), abs=1e-3)


def test_cuda_graph_replays_match_eager_packed_batches():
    graphed = Reranker(V2_TINY, device="cuda")
    eager = Reranker(V2_TINY, device="cuda", cuda_graphs=False)
    assert graphed.packed and graphed.cuda_graphs and not eager.cuda_graphs
    for count in (3, 17, 40, 17):  # new shapes are captured, a repeated one is replayed
        documents = [" ".join(["word"] * (n * 7 % 90 + 1)) + f" {n}" for n in range(count)]
        a = graphed.score_documents("which word?", documents, max_length=128).scores
        b = eager.score_documents("which word?", documents, max_length=128).scores
        assert a == pytest.approx(b, abs=2e-3)
    graphs = graphed.cross_encoder[0].packed_graphs
    assert graphs.enabled and 1 <= graphs.captured <= 6  # 40 documents are scored as two chunks


@pytest.mark.parametrize("folder", [V2_TINY, V1_TINY], ids=["v2", "v1"])
def test_cuda_fused_norms_match_eager_norms(folder):
    fused = Reranker(folder, device="cuda")
    eager = Reranker(folder, device="cuda", fused_norms=False)
    exact = Reranker(folder, device="cuda", dtype="float32", fused_norms=False)
    assert fused.fused_norms == fused_norms_available(torch.device("cuda")) and not eager.fused_norms
    documents = [" ".join(["word"] * (n * 13 % 200 + 1)) + f" {n}" for n in range(50)]
    scores = [r.score_documents("which word?", documents, max_length=256).scores for r in (fused, eager, exact)]
    assert not compile_failed()  # the kernel compiled and ran
    assert scores[0] == pytest.approx(scores[1], abs=1e-2)
    # The fused add runs in fp32, so it is at least about as close to fp32 as the eager one.
    assert (
        max(abs(a - b) for a, b in zip(scores[0], scores[2]))
        <= 1.5 * max(abs(a - b) for a, b in zip(scores[1], scores[2])) + 1e-3
    )


def test_cuda_token_budget_follows_memory():
    budget = resolve_target(RequestedSettings(device="cuda"), MachineCapabilities.probe("cuda")).token_budget
    assert 4096 <= budget <= 32768 and budget % 1024 == 0
    assert Reranker(V2_TINY, device="cuda", lazy=True).token_budget == budget
