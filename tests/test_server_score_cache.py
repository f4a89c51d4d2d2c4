"""The score cache behind the server: a repeated request is answered from the cache, and ``/metrics``
says so (hits, misses, evictions, size, capacity, hit rate per served model)."""

from __future__ import annotations

import re

import httpx
import pytest

pytest.importorskip("fastapi")

from conftest import V1_TINY, V2_TINY
from test_server_cli import first_line, start_serve

from jina_local_rerank import Reranker
from jina_local_rerank.cli.main import main
from jina_local_rerank.server import create_app
from jina_local_rerank.server.background import serve_in_thread

BODY = {"query": "Organic skincare products for sensitive skin", "documents": ["Organic skincare.", "Makeup.", "Tea."]}


def metric(text: str, name: str, model: str) -> float:
    """The value of ``name{model="..."}`` in Prometheus text; fails if it is not there."""
    found = re.search(rf'^{re.escape(name)}\{{model="{re.escape(model)}"\}} (\S+)$', text, re.MULTILINE)
    assert found, f"{name} for {model} missing from /metrics"
    return float(found.group(1))


def test_a_repeated_request_is_a_cache_hit_on_metrics() -> None:
    cached = Reranker(V2_TINY, device="cpu", dtype="float32", cache_size=100)
    plain = Reranker(V1_TINY, device="cpu", dtype="float32")
    app = create_app({"cached": cached, "plain": plain})
    with serve_in_thread(app) as url:
        first = httpx.post(f"{url}/v1/rerank", json={**BODY, "model": "cached"})
        text = httpx.get(f"{url}/metrics").text
        assert metric(text, "jina_local_rerank_score_cache_hits_total", "cached") == 0
        assert metric(text, "jina_local_rerank_score_cache_misses_total", "cached") == 3
        second = httpx.post(f"{url}/v1/rerank", json={**BODY, "model": "cached"})
        cohere = httpx.post(f"{url}/v2/rerank", json={**BODY, "model": "cached"})
        text = httpx.get(f"{url}/metrics").text
    assert first.status_code == second.status_code == cohere.status_code == 200
    assert second.json()["results"] == first.json()["results"]  # the very same scores
    assert metric(text, "jina_local_rerank_score_cache_hits_total", "cached") == 6
    assert metric(text, "jina_local_rerank_score_cache_misses_total", "cached") == 3
    assert metric(text, "jina_local_rerank_score_cache_evictions_total", "cached") == 0
    assert metric(text, "jina_local_rerank_score_cache_size", "cached") == 3
    assert metric(text, "jina_local_rerank_score_cache_capacity", "cached") == 100
    assert metric(text, "jina_local_rerank_score_cache_hit_rate", "cached") == pytest.approx(6 / 9)
    assert 'model="plain"' not in "\n".join(line for line in text.splitlines() if "score_cache" in line)
    assert cached.cache is not None and cached.cache.hits == 6


def test_serve_refuses_a_negative_cache_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--model", str(V2_TINY), "--device", "cpu", "--cache-size", "-1"]) == 2
    assert "cache_size must be a non-negative integer, got -1" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_cache_size_counts_hits_on_metrics() -> None:
    process, url = start_serve("--model", str(V2_TINY), "--dtype", "float32", "--cache-size", "10")
    try:
        line = first_line(process)
        assert "jina-v2-tiny (cpu, float32)" in line and "[score cache: 10 entries]" in line
        for _ in range(2):
            assert httpx.post(f"{url}/v1/rerank", json=BODY).status_code == 200
        text = httpx.get(f"{url}/metrics").text
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert metric(text, "jina_local_rerank_score_cache_capacity", "jina-v2-tiny") == 10
    assert metric(text, "jina_local_rerank_score_cache_size", "jina-v2-tiny") == 3
    assert metric(text, "jina_local_rerank_score_cache_misses_total", "jina-v2-tiny") == 3
    assert metric(text, "jina_local_rerank_score_cache_hits_total", "jina-v2-tiny") == 3
    assert metric(text, "jina_local_rerank_score_cache_hit_rate", "jina-v2-tiny") == 0.5
