"""JinaLocalRerank inside real LlamaIndex objects: a VectorStoreIndex, a query engine, sync and async."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("llama_index.core")

from conftest import V2_TINY
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, CBEventType
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode
from llama_index.postprocessor.jina_local_rerank import JinaLocalRerank
from pydantic import Field

from jina_local_rerank import Reranker

QUERY = "Organic skincare products for sensitive skin"
TEXTS = [
    "Organic skincare for sensitive skin with aloe vera and chamomile.",
    "New makeup trends focus on bold colors and innovative techniques",
    "Bio-Hautpflege für empfindliche Haut mit Aloe Vera und Kamille",
    "Neue Make-up-Trends setzen auf kräftige Farben und innovative Techniken",
    "Cuidado de la piel orgánico para piel sensible con aloe vera y manzanilla",
    "针对敏感肌专门设计的天然有机护肤产品",
    " ".join(["The train to Berlin leaves at 9:45 from platform 7."] * 80),  # long: several windows
]


class EventCollector(BaseEventHandler):
    events: list = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "EventCollector"

    def handle(self, event, **kwargs) -> None:
        self.events.append(event)


class CallbackCollector(BaseCallbackHandler):
    def __init__(self) -> None:
        super().__init__([], [])
        self.starts: list = []
        self.ends: list = []

    def on_event_start(self, event_type, payload=None, event_id="", parent_id="", **kwargs):
        if event_type == CBEventType.RERANKING:
            self.starts.append(payload)
        return event_id

    def on_event_end(self, event_type, payload=None, event_id="", **kwargs):
        if event_type == CBEventType.RERANKING:
            self.ends.append(payload)

    def start_trace(self, trace_id=None):
        pass

    def end_trace(self, trace_id=None, trace_map=None):
        pass


@pytest.fixture(scope="module")
def index():
    documents = [
        Document(text=t, metadata={"position": i}, excluded_embed_metadata_keys=["position"])
        for i, t in enumerate(TEXTS)
    ]
    return VectorStoreIndex.from_documents(documents, embed_model=MockEmbedding(embed_dim=8))


@pytest.fixture(scope="module")
def core():
    return Reranker(V2_TINY, device="cpu", dtype="float32")


def _postprocessor(**kwargs) -> JinaLocalRerank:
    return JinaLocalRerank(model=str(V2_TINY), device="cpu", dtype="float32", **kwargs)


def _expected(core, nodes, top_n):
    texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    return [(texts[r.index], r.relevance_score) for r in core.rerank(QUERY, texts, top_n=top_n)]


def test_is_a_node_postprocessor():
    assert BaseNodePostprocessor in JinaLocalRerank.__mro__
    assert JinaLocalRerank.class_name() == "JinaLocalRerank"


def test_query_engine_sync_and_async_match_the_core(index, core):
    rerank = _postprocessor(top_n=3)
    engine = index.as_query_engine(similarity_top_k=len(TEXTS), node_postprocessors=[rerank], llm=MockLLM())
    retrieved = index.as_retriever(similarity_top_k=len(TEXTS)).retrieve(QUERY)
    expected = _expected(core, retrieved, 3)

    for response in (engine.query(QUERY), asyncio.run(engine.aquery(QUERY))):
        got = [(n.node.get_content(metadata_mode=MetadataMode.EMBED), n.score) for n in response.source_nodes]
        assert [text for text, _ in got] == [text for text, _ in expected]
        assert [score for _, score in got] == pytest.approx([score for _, score in expected], abs=1e-6)
        assert all(type(n.score) is float for n in response.source_nodes)


def test_nodes_are_not_mutated_and_retrieval_score_is_kept(core):
    nodes = [NodeWithScore(node=TextNode(text=t, metadata={"k": i}), score=0.5 + i) for i, t in enumerate(TEXTS[:4])]
    before = [(n.score, dict(n.node.metadata)) for n in nodes]
    out = _postprocessor(top_n=4, keep_retrieval_score=True).postprocess_nodes(nodes, query_str=QUERY)
    assert [(n.score, dict(n.node.metadata)) for n in nodes] == before
    by_text = {n.node.get_content(): n for n in nodes}
    for result in out:
        original = by_text[result.node.get_content()]
        assert result.node.metadata["retrieval_score"] == original.score
        assert "retrieval_score" not in result.node.get_content(metadata_mode=MetadataMode.LLM)
    assert [n.score for n in out] == pytest.approx([s for _, s in _expected(core, nodes, 4)], abs=1e-6)


def test_events_and_callbacks_fire_also_on_empty_input():
    collector = EventCollector()
    collector.events = []
    get_dispatcher().add_event_handler(collector)
    callbacks = CallbackCollector()
    rerank = _postprocessor(top_n=2, callback_manager=CallbackManager([callbacks]))
    assert rerank.postprocess_nodes([], query_str=QUERY) == []
    nodes = [NodeWithScore(node=TextNode(text=t), score=1.0) for t in TEXTS[:3]]
    assert len(asyncio.run(rerank.apostprocess_nodes(nodes, query_str=QUERY))) == 2
    names = [type(e).__name__ for e in collector.events if "ReRank" in type(e).__name__]
    assert names == ["ReRankStartEvent", "ReRankEndEvent", "ReRankStartEvent", "ReRankEndEvent"]
    assert len(callbacks.starts) == 2 and len(callbacks.ends) == 2


def test_missing_query_is_a_clear_error():
    with pytest.raises(ValueError, match="needs a query"):
        _postprocessor().postprocess_nodes([NodeWithScore(node=TextNode(text="x"))])


def test_round_trip_shares_one_model_and_holds_no_secrets():
    first = _postprocessor(top_n=2, max_length=128, overlap=16)
    data = first.to_dict()
    assert data["class_name"] == "JinaLocalRerank"
    assert not any("token" in key or "key" in key for key in data)
    second = JinaLocalRerank.from_dict(data)
    assert second.to_dict() == data
    assert second.reranker is first.reranker  # one loaded model for the same settings
    ready = Reranker(V2_TINY, device="cpu", dtype="float32", lazy=True)
    assert JinaLocalRerank(reranker=ready).reranker is ready


def test_cache_size_makes_a_repeated_query_run_no_forward(index):
    rerank = _postprocessor(top_n=3, cache_size=64)
    engine = index.as_query_engine(similarity_top_k=len(TEXTS), node_postprocessors=[rerank], llm=MockLLM())
    cache = rerank.reranker.cache
    assert cache is not None and cache.capacity == 64
    first = [(n.node.node_id, n.score) for n in engine.query(QUERY).source_nodes]
    misses = cache.misses
    second = [(n.node.node_id, n.score) for n in asyncio.run(engine.aquery(QUERY)).source_nodes]
    assert second == first  # the very floats: a hit returns what was first computed
    assert cache.misses == misses and cache.hits >= len(TEXTS)
    data = rerank.to_dict()
    assert data["cache_size"] == 64
    assert JinaLocalRerank.from_dict(data).reranker is rerank.reranker  # same settings: same model and cache
    assert _postprocessor(cache_size=0).reranker.cache is None
    assert JinaLocalRerank(reranker=rerank.reranker).cache_size == 64
    with pytest.raises(ValueError, match="cache_size"):
        _postprocessor(cache_size=-1)
    with pytest.raises(ValueError, match="cache_size"):
        _postprocessor(cache_size=True)
