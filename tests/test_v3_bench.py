"""The benchmark's jina-reranker-v3 shape: random Qwen3 weights, the real tokenizer, reported like the others."""

from __future__ import annotations

from importlib import resources

import pytest

from jina_local_rerank.cli import bench
from jina_local_rerank.models.checkpoint import Architecture


def test_v3_shape_is_qwen3_0_6b():
    shape = bench.SHAPES["v3"]
    assert shape.architecture is Architecture.JINA_V3
    assert (shape.hidden, shape.layers, shape.heads, shape.kv_heads, shape.head_dim) == (1024, 28, 16, 8, 128)
    assert (shape.intermediate, shape.vocab) == (3072, 151936)


def test_listwise_flop_count_matches_the_formula():
    shape = bench.SHAPES["v3"]
    per_token = 2 * 28 * (1024 * (2 * 2048 + 2 * 1024) + 3 * 1024 * 3072)
    assert bench.listwise_flops(shape, [100]) == per_token * 100 + 2 * 28 * 100 * 100 * 2048


@pytest.mark.slow
def test_smoke_v3_benchmark_reports_every_column(tmp_path):
    rows = bench.run("smoke-v3", device="cpu", documents=6, repeats=1, queries=1)
    assert [r.engine for r in rows] == ["one block per forward", "Reranker (defaults)"]
    ours = rows[1]
    assert ours.pairs_per_s > 0 and ours.top3_agreement is not None
    # Both rows, the baseline too, are multiples of the machine's floors, measured as for the cross-encoders.
    assert all(r.floor_ratio and r.accurate_floor_ratio and r.extra["accurate_matmul_tflops"] > 0 for r in rows)
    assert ours.extra["blocks"] >= 1 and ours.extra["prompt_tokens"] > 0
    assert "| smoke-v3 | 6 docs |" in bench.to_markdown(rows)
    # Only tokenizer files (and the config) ship as assets; weights are random at run time.
    names = {item.name for item in (resources.files("jina_local_rerank.cli.bench") / "assets" / "v3").iterdir()}
    assert names == {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "config.json",
    }
