"""The CPU default dtype: scores independent of batch-mates, memory flat whatever the batch shapes."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import V1_TINY, V2_TINY

from jina_local_rerank import Reranker
from jina_local_rerank.runtime import hardware

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"v2": V2_TINY, "v1": V1_TINY}


def test_cpu_default_is_float32_whatever_the_cpu_offers():
    assert hardware.default_dtype(torch.device("cpu")) is torch.float32
    assert Reranker(V2_TINY, device="cpu", lazy=True).dtype is torch.float32


def _words(rng: random.Random, count: int) -> str:
    vocabulary = [
        "organic",
        "skin",
        "care",
        "gentle",
        "cream",
        "sensitive",
        "train",
        "Berlin",
        "platform",
        "aloe",
        "the",
        "of",
        "and",
    ]
    return " ".join(rng.choice(vocabulary) for _ in range(count))


@pytest.fixture(scope="module", params=list(FOLDERS))
def default_reranker(request):
    return Reranker(FOLDERS[request.param], device="cpu")  # the default dtype, as users get it


def test_identical_inputs_in_one_call_get_identical_scores(default_reranker):
    rng = random.Random(1)
    document = _words(rng, 40)
    others = [_words(rng, rng.randint(1, 200)) for _ in range(6)]
    documents = [document, *others[:3], document, *others[3:], document]
    scores = default_reranker.compute_score([["organic skin care", d] for d in documents])
    assert scores[0] == scores[4] == scores[-1]
    ranked = default_reranker.rerank("organic skin care", documents)
    by_index = {r.index: r.relevance_score for r in ranked}
    assert by_index[0] == by_index[4] == by_index[len(documents) - 1]


def test_a_score_does_not_depend_on_its_batch_mates(default_reranker):
    rng = random.Random(2)
    query, document = "gentle cream for sensitive skin", _words(rng, 60)
    alone = default_reranker.compute_score([query, document])
    for trial in range(3):
        mates = [[query, _words(rng, rng.randint(1, 200))] for _ in range(rng.randint(1, 8))]
        mates.insert(rng.randint(0, len(mates)), [query, document])
        position = mates.index([query, document])
        together = default_reranker.compute_score(mates, batch_size=rng.choice([None, 2, 16]))
        assert abs(together[position] - alone) <= 1e-4, trial
        windowed = default_reranker.rerank(query, [m[1] for m in mates])
        assert abs(next(r.relevance_score for r in windowed if r.index == position) - alone) <= 1e-4


# A fresh interpreter, so the memory it reports is this workload's alone.
MEMORY_SCRIPT = """
import json, random, sys
from jina_local_rerank import Reranker

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

reranker = Reranker(sys.argv[1], device="cpu")
rng = random.Random(0)
vocabulary = "organic skin care gentle cream sensitive train Berlin platform aloe the of and".split()
def text(count):
    return " ".join(rng.choice(vocabulary) for _ in range(count))
samples = {}
for call in range(int(sys.argv[2])):
    documents = [text(rng.randint(1, 150)) for _ in range(rng.randint(1, 4))]
    if call % 2:
        reranker.rerank(text(rng.randint(1, 40)), documents)
    else:
        reranker.compute_score([[text(rng.randint(1, 40)), d] for d in documents])
    if call in (74, int(sys.argv[2]) - 1):
        samples[call] = rss_mb()
print(json.dumps({"dtype": str(reranker.dtype), "rss_mb": samples}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads resident memory from /proc")
@pytest.mark.parametrize("name", list(FOLDERS))
def test_memory_stays_flat_over_hundreds_of_random_batch_shapes(name):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(FOLDERS[name]), "300"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    after_warm_up, at_end = report["rss_mb"]["74"], report["rss_mb"]["299"]
    assert report["dtype"] == "torch.float32"
    assert at_end - after_warm_up < 150, report
    print(report)
