"""JinaLocalRerank behind a real ContextualCompressionRetriever over an InMemoryVectorStore."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_classic")

from conftest import V2_TINY
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_jina_local import JinaLocalCrossEncoder, JinaLocalRerank

from jina_local_rerank import Reranker

QUERY = "Organic skincare products for sensitive skin"
TEXTS = [
    "Organic skincare for sensitive skin with aloe vera and chamomile.",
    "New makeup trends focus on bold colors and innovative techniques",
    "Bio-Hautpflege für empfindliche Haut mit Aloe Vera und Kamille",
    "Neue Make-up-Trends setzen auf kräftige Farben und innovative Techniken",
    "针对敏感肌专门设计的天然有机护肤产品",
    " ".join(["The train to Berlin leaves at 9:45 from platform 7."] * 80),  # long: several windows
]
SETTINGS = {"model": str(V2_TINY), "device": "cpu", "dtype": "float32"}


@pytest.fixture(scope="module")
def core():
    return Reranker(V2_TINY, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def store():
    vectorstore = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
    vectorstore.add_documents(
        [
            Document(page_content=t, metadata={"source": f"doc-{i}", "tags": ["a"]}, id=f"id-{i}")
            for i, t in enumerate(TEXTS)
        ]
    )
    return vectorstore


def test_contextual_compression_invoke_and_ainvoke_match_the_core(store, core):
    retriever = ContextualCompressionRetriever(
        base_compressor=JinaLocalRerank(top_n=3, **SETTINGS),
        base_retriever=store.as_retriever(search_kwargs={"k": len(TEXTS)}),
    )
    expected = core.rerank(QUERY, TEXTS, top_n=3)
    for documents in (retriever.invoke(QUERY), asyncio.run(retriever.ainvoke(QUERY))):
        assert [d.page_content for d in documents] == [r.document for r in expected]
        assert [d.metadata["relevance_score"] for d in documents] == pytest.approx(
            [r.relevance_score for r in expected], abs=1e-6
        )
        assert [d.id for d in documents] == [f"id-{r.index}" for r in expected]
        assert [d.metadata["source"] for d in documents] == [f"doc-{r.index}" for r in expected]
        assert all(type(d.metadata["relevance_score"]) is float for d in documents)


def test_inputs_are_not_mutated_and_nothing_is_dropped(core):
    documents = [Document(page_content=t, metadata={"tags": ["x"]}, id=str(i)) for i, t in enumerate(TEXTS)]
    out = JinaLocalRerank(top_n=None, **SETTINGS).compress_documents(documents, QUERY)
    assert sorted(d.id for d in out) == sorted(d.id for d in documents)
    assert all("relevance_score" not in d.metadata for d in documents)
    out[0].metadata["added"] = True  # the metadata dict is a copy ...
    assert all("added" not in d.metadata for d in documents)
    by_id = {d.id: d for d in documents}
    assert all(d.metadata["tags"] is by_id[d.id].metadata["tags"] for d in out)  # ... its values are shared
    assert JinaLocalRerank(**SETTINGS).compress_documents([], QUERY) == []


def test_is_a_document_compressor_sharing_one_model():
    first, second = JinaLocalRerank(**SETTINGS), JinaLocalRerank(top_n=5, **SETTINGS)
    assert isinstance(first, BaseDocumentCompressor)
    assert first.core is second.core
    ready = Reranker(V2_TINY, device="cpu", lazy=True)
    assert JinaLocalRerank(reranker=ready).core is ready
    assert "reranker" not in first.model_dump()


def test_cross_encoder_swaps_into_cross_encoder_reranker(core):
    reranker = CrossEncoderReranker(model=JinaLocalCrossEncoder(**SETTINGS), top_n=2)
    documents = [Document(page_content=t) for t in TEXTS[:5]]
    out = reranker.compress_documents(documents, QUERY)
    expected = core.rerank(QUERY, TEXTS[:5], top_n=2)
    assert [d.page_content for d in out] == [r.document for r in expected]
    scores = JinaLocalCrossEncoder(**SETTINGS).score([(QUERY, t) for t in TEXTS[:2]])
    assert scores == pytest.approx(core.compute_score([[QUERY, t] for t in TEXTS[:2]]), abs=1e-6)
    assert all(type(s) is float for s in scores)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        JinaLocalRerank(top_n=0, **SETTINGS)
    with pytest.raises(ValueError):
        JinaLocalRerank(unknown_field=1, **SETTINGS)


def test_metadata_values_that_cannot_be_copied_are_passed_through(core):
    import threading

    lock = threading.Lock()
    generator = (i for i in range(3))
    documents = [
        Document(page_content=t, metadata={"lock": lock, "stream": generator, "n": i}) for i, t in enumerate(TEXTS)
    ]
    out = JinaLocalRerank(top_n=None, **SETTINGS).compress_documents(documents, QUERY)
    assert len(out) == len(documents)
    assert all(d.metadata["lock"] is lock and d.metadata["stream"] is generator for d in out)
    assert all(set(d.metadata) == {"lock", "stream", "n"} for d in documents)


def test_cache_size_makes_a_repeated_query_run_no_forward(store):
    compressor = JinaLocalRerank(top_n=3, cache_size=64, **SETTINGS)
    retriever = ContextualCompressionRetriever(
        base_compressor=compressor, base_retriever=store.as_retriever(search_kwargs={"k": len(TEXTS)})
    )
    cache = compressor.core.cache
    assert cache is not None and cache.capacity == 64
    first = [(d.id, d.metadata["relevance_score"]) for d in retriever.invoke(QUERY)]
    misses = cache.misses
    second = [(d.id, d.metadata["relevance_score"]) for d in asyncio.run(retriever.ainvoke(QUERY))]
    assert second == first and cache.misses == misses and cache.hits >= len(TEXTS)
    # The cross-encoder with the same settings shares the model, and so the cache.
    assert JinaLocalCrossEncoder(cache_size=64, **SETTINGS).core is compressor.core
    assert JinaLocalRerank(**SETTINGS).core.cache is None
    for bad in (-1, True, "8"):
        with pytest.raises(ValueError, match="cache_size"):
            JinaLocalRerank(cache_size=bad, **SETTINGS)
