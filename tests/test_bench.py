"""The benchmark keeps working (smoke mode: tiny models, seconds); its numbers live in docs/performance.md."""

from __future__ import annotations

import json

import pytest

from jina_local_rerank.cli import bench, main


@pytest.mark.slow
def test_smoke_benchmark_runs_and_reports_every_column(tmp_path, capsys):
    output = tmp_path / "rows.json"
    assert main(["bench", "--smoke", "--output", str(output)]) == 0
    rows = json.loads(output.read_text())
    assert [r["engine"] for r in rows] == ["CrossEncoder.predict", "Reranker (defaults)"] * 2
    ours = [r for r in rows if r["engine"] != "CrossEncoder.predict"]
    assert all(r["pairs_per_s"] > 0 and r["floor_ratio"] > 0 and r["top3_agreement"] is not None for r in ours)
    # Every row is a multiple of its own dtype's floor and of the accurate one; ours also carry the
    # agreement with fp32 on the trained checkpoint (0 for an fp32 default: the very same model).
    assert all(r["floor_ratio"] > 0 and r["accurate_floor_ratio"] > 0 for r in rows)
    assert all(r["trained_max_abs_delta"] is not None and r["trained_top10_same_order"] is not None for r in ours)
    out = capsys.readouterr().out
    assert "| smoke-v2 | 8 docs |" in out
    assert out.startswith("CPU: ") and "matmul TFLOP/s: fp32" in out and "accurate floor at" in out


@pytest.mark.slow
def test_throughput_workload_scores_every_request(tmp_path, capsys):
    output = tmp_path / "rows.json"
    assert main(["bench", "--smoke", "--requests", "3", "--output", str(output)]) == 0
    rows = [r for r in json.loads(output.read_text()) if r["workload"] == "3 x 8 docs"]
    assert [r["engine"] for r in rows] == ["CrossEncoder.predict", "Reranker (defaults)"] * 2
    # 24 pairs per call; ms/query is per query, so pairs/s = 8 pairs per query / its time.
    assert all(r["pairs_per_s"] == pytest.approx(8 / (r["ms_per_query"] / 1000)) for r in rows)
    assert "| smoke-v1 | 3 x 8 docs |" in capsys.readouterr().out


def test_flop_count_matches_the_formula():
    shape = bench.SHAPES["v2-base"]
    per_token = 2 * 12 * (4 * 768 * 768 + 2 * 768 * 3072)
    assert bench.workload_flops(shape, [100]) == per_token * 100 + 4 * 12 * 100 * 100 * 768


def test_requests_must_be_positive(capsys):
    assert main(["bench", "--smoke", "--requests", "0"]) == 2
    assert "--requests must be a positive integer" in capsys.readouterr().err
