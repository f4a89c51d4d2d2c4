"""``bench --backend all``: every backend timed on the bench workload, agreement on a trained body."""

from __future__ import annotations

import pytest

from jina_local_rerank.cli import bench, build_parser


@pytest.mark.slow
def test_backend_rows_report_time_speedup_and_agreement() -> None:
    rows = bench.run_backends(
        "smoke-v1", documents=8, repeats=1, queries=2, engines=[("torch", "float32"), ("onnx", "float32")]
    )
    assert [r.engine for r in rows] == ["CrossEncoder.predict", "Reranker (torch)", "Reranker (onnx)"]
    assert all(r.ms_per_100_documents > 0 and r.speedup > 0 for r in rows)
    torch_row, onnx_row = rows[1], rows[2]
    assert torch_row.max_abs_delta == 0.0 and torch_row.top3_overlap == 1.0
    assert onnx_row.dtype == "float32"
    assert onnx_row.max_abs_delta is not None and onnx_row.max_abs_delta <= 1e-4
    assert onnx_row.top3_overlap == 1.0 and onnx_row.top10_overlap == 1.0
    table = bench.backends_markdown(rows)
    assert "ms / 100 docs" in table and "top-10 overlap" in table and table.count("\n") == 4


def test_agreement_queries_are_real_words_and_reproducible() -> None:
    from transformers import AutoTokenizer

    from jina_local_rerank.cli.bench import agreement_queries

    tokenizer = AutoTokenizer.from_pretrained(str(bench.trained_body_folder()))
    first = agreement_queries(tokenizer, 3, 12, seed=5)
    assert first == agreement_queries(tokenizer, 3, 12, seed=5)
    assert len(first) == 3 and all(len(docs) == 12 for _, docs in first)
    query, documents = first[0]
    assert all(word.isalpha() for word in query.split())
    assert any(set(query.split()) <= set(document.split()) for document in documents)


def test_bench_accepts_backend_all() -> None:
    assert build_parser().parse_args(["bench", "--backend", "all"]).backend == "all"
    assert build_parser().parse_args(["bench"]).backend == "torch"
