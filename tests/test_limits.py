"""Hard limits: huge texts cost bounded work, JinaBERT refuses lengths it was not trained for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import V1_TINY, V2_TINY

from jina_local_rerank import Reranker

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter, so the memory it reports is this workload's and nobody else's.
HUGE_PAIR_SCRIPT = """
import json, sys, time
from jina_local_rerank import Reranker

def rss_mb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024

reranker = Reranker(sys.argv[1], device="cpu")
reranker.compute_score(["warm up", "the model"])
query = "organic skin care for sensitive skin " * 28000  # about 1 MB each
document = "gentle creams calm the skin; " * 35000
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # resets the peak (VmHWM) to the current resident size
before = rss_mb("VmRSS")
start = time.perf_counter()
score = reranker.compute_score([query, document])
ranked = reranker.rerank(query, ["gentle creams calm the skin"])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "extra_mb": rss_mb("VmHWM") - before, "score": score,
                  "chars": [len(query), len(document)], "ranked": ranked[0].relevance_score}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads peak memory from /proc")
@pytest.mark.parametrize("folder", [V2_TINY, V1_TINY], ids=["v2", "v1"])
def test_a_pair_of_one_megabyte_texts_costs_little_time_and_memory(folder):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", HUGE_PAIR_SCRIPT, str(folder)], capture_output=True, text=True, env=env, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert min(report["chars"]) >= 1_000_000
    assert 0.0 <= report["score"] <= 1.0 and 0.0 <= report["ranked"] <= 1.0
    assert report["seconds"] < 2.0, report
    assert report["extra_mb"] < 200, report


def test_huge_texts_score_as_their_heads(v2_reranker):
    head_query, head_document = "organic skin care " * 200, "gentle creams calm the skin " * 300
    huge = v2_reranker.compute_score([head_query * 50, head_document * 50])
    assert huge == v2_reranker.compute_score([head_query * 2, head_document * 2])
    ranked = v2_reranker.rerank(head_query * 200, ["gentle creams"])
    assert ranked[0].relevance_score == v2_reranker.rerank(head_query * 3, ["gentle creams"])[0].relevance_score


@pytest.fixture(scope="module")
def v1_reranker():
    return Reranker(V1_TINY, device="cpu", dtype="float32")


@pytest.mark.parametrize("max_length", [8193, 100_000])
def test_jina_bert_refuses_lengths_beyond_its_trained_length_before_any_work(v1_reranker, max_length):
    started = time.perf_counter()
    with pytest.raises(ValueError, match=rf"max_length={max_length} exceeds .* \(8192 tokens\).*allow_long_context"):
        v1_reranker.compute_score(["query", "document " * 20_000], max_length=max_length)
    with pytest.raises(ValueError, match="allow_long_context"):
        v1_reranker.rerank("query", ["document"], max_length=max_length)
    assert time.perf_counter() - started < 1.0  # refused up front, not after running the model


def test_jina_bert_takes_its_trained_length(v1_reranker):
    assert 0.0 <= v1_reranker.compute_score(["query", "document"], max_length=8192) <= 1.0


@pytest.mark.slow
def test_jina_bert_takes_longer_contexts_when_allowed():
    long_context = Reranker(V1_TINY, device="cpu", dtype="float32", allow_long_context=True)
    assert long_context.allow_long_context
    score = long_context.compute_score(["query", "document " * 9000], max_length=9000)
    assert 0.0 <= score <= 1.0


def test_position_table_models_ignore_the_opt_in(v2_reranker):
    lenient = Reranker(V2_TINY, device="cpu", dtype="float32", allow_long_context=True)
    for reranker in (v2_reranker, lenient):
        with pytest.raises(ValueError, match=r"max_length=2000 exceeds .* \(1024 tokens\)\.$"):
            reranker.compute_score(["query", "document"], max_length=2000)
