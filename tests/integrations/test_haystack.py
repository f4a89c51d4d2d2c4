"""JinaLocalRanker in a real Haystack Pipeline: BM25 retrieval, run and run_async, YAML round trip."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("haystack")

from conftest import V2_TINY
from haystack import Document, Pipeline
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import ComponentDevice, Secret
from haystack_integrations.components.rankers.jina_local import JinaLocalRanker

from jina_local_rerank import Reranker

QUERY = "organic skincare for sensitive skin"
TEXTS = [
    "Organic skincare for sensitive skin with aloe vera and chamomile.",
    "New makeup trends focus on bold colors and innovative techniques for skin",
    "Bio-Hautpflege für empfindliche Haut mit Aloe Vera und Kamille, organic",
    "Sensitive skin needs gentle care without perfume.",
    " ".join(["The train to Berlin leaves at 9:45 from platform 7 with organic snacks."] * 80),
]


def _ranker(**kwargs) -> JinaLocalRanker:
    return JinaLocalRanker(model=str(V2_TINY), device=ComponentDevice.from_str("cpu"), dtype="float32", **kwargs)


@pytest.fixture(scope="module")
def core():
    return Reranker(V2_TINY, device="cpu", dtype="float32")


@pytest.fixture()
def pipeline():
    store = InMemoryDocumentStore()
    store.write_documents([Document(content=t, meta={"n": i}, id=f"d{i}") for i, t in enumerate(TEXTS)])
    pipe = Pipeline()
    pipe.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=len(TEXTS)))
    pipe.add_component("ranker", _ranker(top_k=3))
    pipe.connect("retriever.documents", "ranker.documents")
    return pipe


def _expected(core, top_k):
    return [(f"d{r.index}", r.relevance_score) for r in core.rerank(QUERY, TEXTS)][:top_k]


def _got(result):
    return [(d.id, d.score) for d in result["ranker"]["documents"]]


def test_pipeline_run_and_run_async_match_the_core(pipeline, core):
    data = {"retriever": {"query": QUERY}, "ranker": {"query": QUERY}}
    expected = _expected(core, 3)
    for result in (pipeline.run(data), asyncio.run(pipeline.run_async(data))):
        got = _got(result)
        assert [i for i, _ in got] == [i for i, _ in expected]
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], abs=1e-6)
        assert all(type(s) is float for _, s in got)


def test_yaml_round_trip_gives_the_same_result(pipeline):
    data = {"retriever": {"query": QUERY}, "ranker": {"query": QUERY}}
    restored = Pipeline.loads(pipeline.dumps())
    assert _got(restored.run(data)) == _got(pipeline.run(data))


def test_to_dict_from_dict_keeps_settings_and_secrets_stay_env_vars():
    ranker = _ranker(top_k=4, score_threshold=0.2, max_length=256, meta_fields_to_embed=["title"])
    data = ranker.to_dict()
    assert data["init_parameters"]["token"] == {
        "type": "env_var",
        "env_vars": ["HF_API_TOKEN", "HF_TOKEN"],
        "strict": False,
    }
    assert data["init_parameters"]["device"] == {"type": "single", "device": "cpu"}
    assert JinaLocalRanker.from_dict(data).to_dict() == data
    with pytest.raises(ValueError):
        JinaLocalRanker(token=Secret.from_token("secret")).to_dict()


def test_run_copies_documents_and_applies_top_k_and_threshold(core):
    documents = [Document(content=t, score=0.123) for t in TEXTS]
    ranker = _ranker()
    out = ranker.run(QUERY, documents, top_k=2)["documents"]
    assert len(out) == 2 and all(d.score != 0.123 for d in out)
    assert all(d.score == 0.123 for d in documents)
    everything = ranker.run(QUERY, documents)["documents"]
    threshold = everything[2].score
    assert [d.id for d in ranker.run(QUERY, documents, score_threshold=threshold)["documents"]] == [
        d.id for d in everything[:3]
    ]


def test_empty_input_documents_without_content_and_bad_items():
    ranker = _ranker()
    assert ranker.run(QUERY, []) == {"documents": []}
    mixed = [Document(content=None, meta={"title": "skin care"}), Document(content=TEXTS[0])]
    out = ranker.run(QUERY, mixed)["documents"]
    assert len(out) == 2 and all(isinstance(d.score, float) for d in out)
    with pytest.raises(TypeError, match=r"documents\[1\] must be a haystack Document"):
        ranker.run(QUERY, [Document(content="a"), "b"])
    with pytest.raises(ValueError, match="top_k"):
        _ranker(top_k=0)


def test_warm_up_is_idempotent_and_shares_the_model():
    first, second = _ranker(), _ranker(top_k=2)
    first.warm_up()
    loaded = first.reranker
    first.warm_up()
    second.warm_up()
    assert first.reranker is loaded is second.reranker


def test_cache_size_survives_yaml_and_makes_a_repeated_query_run_no_forward():
    store = InMemoryDocumentStore()
    store.write_documents([Document(content=t, id=f"d{i}") for i, t in enumerate(TEXTS)])
    pipe = Pipeline()
    pipe.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=len(TEXTS)))
    pipe.add_component("ranker", _ranker(top_k=3, cache_size=64))
    pipe.connect("retriever.documents", "ranker.documents")
    data = {"retriever": {"query": QUERY}, "ranker": {"query": QUERY}}
    restored = Pipeline.loads(pipe.dumps())
    assert restored.get_component("ranker").cache_size == 64
    first = _got(pipe.run(data))
    cache = pipe.get_component("ranker").reranker.cache
    assert cache is not None and cache.capacity == 64
    misses = cache.misses
    # The restored pipeline's ranker has the same settings: it shares the model and its cache.
    assert _got(restored.run(data)) == first
    assert restored.get_component("ranker").reranker is pipe.get_component("ranker").reranker
    assert cache.misses == misses and cache.hits >= len(TEXTS)
    with pytest.raises(ValueError, match="cache_size"):
        _ranker(cache_size=-3)
