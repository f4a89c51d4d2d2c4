"""The fused residual LayerNorm: only where it can run, and exactly the eager math everywhere else."""

from __future__ import annotations

import pytest
import torch
from conftest import V1_TINY, V2_TINY

from jina_local_rerank import Reranker
from jina_local_rerank.models.architectures import xlm_roberta_v2
from jina_local_rerank.runtime.cuda import (
    add_layer_norm,
    fused_norms_available,
    is_marked,
    mark_fused_norms,
)


@pytest.mark.parametrize("folder", [V2_TINY, V1_TINY], ids=["v2", "v1"])
def test_fused_norms_need_cuda_and_triton(folder):
    assert Reranker(folder, device="cpu").fused_norms is False
    with pytest.raises(ValueError, match="fused_norms=True needs .*CUDA device with Triton"):
        Reranker(folder, device="cpu", fused_norms=True)


def test_marked_norm_off_cuda_runs_the_eager_math():
    norm = torch.nn.LayerNorm(8)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    assert mark_fused_norms(torch.nn.Sequential(norm, torch.nn.Linear(8, 8))) == 1
    x, residual = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    torch.testing.assert_close(add_layer_norm(x, residual, norm), norm(x + residual), rtol=0, atol=0)
    assert not fused_norms_available(torch.device("cpu"))


def test_v2_blocks_route_through_the_fused_call():
    """transformers' XLM-R block outputs are re-routed; the scores stay the same (CPU: eager math)."""
    plain = Reranker(V2_TINY, device="cpu", dtype="float32")
    routed = Reranker(V2_TINY, device="cpu", dtype="float32")
    module = routed.cross_encoder[0]
    module.use_fused_norms()
    norms = [m for m in module.model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(is_marked(m) for m in norms)
    layer = module.model.roberta.encoder.layer[0]
    for output in (layer.attention.output, layer.output):
        assert output.forward.__func__ is xlm_roberta_v2._output_forward
    pairs = [["which item?", " ".join(["organic skincare"] * n)] for n in (1, 9, 30)]
    assert routed.compute_score(pairs) == pytest.approx(plain.compute_score(pairs), abs=0)
