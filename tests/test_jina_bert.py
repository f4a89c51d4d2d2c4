"""JinaBERT pieces the fixtures cannot reach: the slope rule, blocked attention, long inputs."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
import torch

from jina_local_rerank import Reranker
from jina_local_rerank.models.architectures import jina_bert
from jina_local_rerank.models.architectures.jina_bert import (
    JinaBertConfig,
    JinaBertForSequenceClassification,
    alibi_slopes,
)


def test_slopes_for_twelve_heads_follow_the_rule():
    torch.manual_seed(0)
    config = JinaBertConfig(
        vocab_size=50, hidden_size=48, num_hidden_layers=1, num_attention_heads=12, intermediate_size=32
    )
    model = JinaBertForSequenceClassification(config)
    expected = [2.0**-k for k in range(1, 9)] + [2.0**-k for k in (0.5, 1.5, 2.5, 3.5)]
    assert model.bert.alibi_slopes.tolist() == pytest.approx(expected)
    assert alibi_slopes(8) == pytest.approx([2.0**-k for k in range(1, 9)])
    assert alibi_slopes(6) == pytest.approx([2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3])


def _eager_reference(model: JinaBertForSequenceClassification, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The reference math with the full [heads, L, L] bias, written out plainly."""
    bert, config = model.bert, model.config
    heads, dim = config.num_attention_heads, config.hidden_size // config.num_attention_heads
    length = ids.shape[1]
    pos = torch.arange(length)
    bias = -bert.alibi_slopes[:, None, None] * (pos[None, :, None] - pos[None, None, :]).abs()
    extended = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    h = bert.embeddings(ids, torch.zeros_like(ids))
    for layer in bert.encoder.layer:
        att = layer.attention.self
        q, k, v = (p(h).view(*h.shape[:2], heads, dim).transpose(1, 2) for p in (att.query, att.key, att.value))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim) + extended + bias, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(h.shape)
        h = layer.mlp(layer.attention.output(ctx, h))
    return model.classifier(bert.pooler(h[:, 0]))


def test_blocked_attention_equals_the_full_bias_reference(monkeypatch):
    torch.manual_seed(1)
    config = JinaBertConfig(
        vocab_size=100, hidden_size=48, num_hidden_layers=2, num_attention_heads=6, intermediate_size=64
    )
    model = JinaBertForSequenceClassification(config).eval()
    ids = torch.randint(5, 100, (2, 700))
    mask = torch.ones_like(ids)
    mask[1, 450:] = 0
    monkeypatch.setattr(jina_bert, "_QUERY_BLOCK", 128)
    with torch.inference_mode():
        blocked = model(ids, attention_mask=mask).logits
        reference = _eager_reference(model, ids, mask)
        alone = model(ids[1:, :450]).logits
    assert blocked.reshape(-1).tolist() == pytest.approx(reference.reshape(-1).tolist(), abs=1e-4)
    assert blocked[1].item() == pytest.approx(alone[0].item(), abs=1e-4)


@pytest.mark.slow
def test_an_8192_token_pair_stays_under_3_gb(tmp_path):
    """Turbo-sized model (6 layers, 384 hidden, 12 heads), one 8192-token pair, peak RSS of a fresh process."""
    script = textwrap.dedent(
        """
        import resource, torch
        from jina_local_rerank.models.architectures.jina_bert import JinaBertConfig, JinaBertForSequenceClassification
        torch.manual_seed(0)
        model = JinaBertForSequenceClassification(JinaBertConfig()).eval()
        ids = torch.randint(5, 61000, (1, 8192))
        with torch.inference_mode():
            logit = model(ids).logits
        assert torch.isfinite(logit).all()
        # VmHWM (KiB), not ru_maxrss: ru_maxrss carries over the parent's peak through fork/exec.
        try:
            print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))
        except OSError:
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=True)
    peak_gib = int(out.stdout.strip().splitlines()[-1]) / 1024**2
    assert peak_gib < 3.0, f"peak RSS {peak_gib:.2f} GiB"


@pytest.mark.hub
def test_real_v1_turbo_ranks_the_seed_example():
    reranker = Reranker("jinaai/jina-reranker-v1-turbo-en")
    documents = [
        "Eco-friendly kitchenware for modern homes",
        "Biodegradable cleaning supplies for eco-conscious consumers",
        "Organic cotton baby clothes for sensitive skin",
        "Natural organic skincare range for sensitive skin",
        "Tech gadgets for smart homes: 2024 edition",
        "Sustainable gardening tools and compost solutions",
        "Sensitive skin-friendly facial cleansers and toners",
        "Organic food wraps and storage solutions",
        "All-natural pet food for dogs with allergies",
        "Yoga mats made from recycled materials",
    ]
    results = reranker.rerank("Organic skincare products for sensitive skin", documents)
    assert results[0].document == "Natural organic skincare range for sensitive skin"
    assert reranker.max_length == 8192
