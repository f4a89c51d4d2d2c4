"""Every entry point runs jina-reranker-v3 unchanged: LlamaIndex, LangChain, Haystack, the server, the CLI."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import FIXTURES

from jina_local_rerank import Reranker

V3_TINY = FIXTURES / "jina-v3-tiny"
QUERY = "Which foods are rich in vitamin C?"
TEXTS = [
    "Oranges, kiwis and red peppers are among the foods with the most vitamin C.",
    "Der Zug nach Hamburg hat heute zwanzig Minuten Verspätung.",
    "Las fresas y el brócoli aportan mucha vitamina C.",
    "柑橘类水果和猕猴桃含有丰富的维生素C。",
    " ".join(["The museum is closed on Mondays but open late on Thursdays."] * 60),
]


@pytest.fixture(scope="module")
def core():
    return Reranker(V3_TINY, device="cpu", dtype="float32")


def _expected(core, top_n=None):
    return core.rerank(QUERY, TEXTS, top_n=top_n)


@pytest.mark.slow
def test_llama_index_postprocessor_in_a_query_engine(core):
    pytest.importorskip("llama_index.core")
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from llama_index.postprocessor.jina_local_rerank import JinaLocalRerank

    postprocessor = JinaLocalRerank(reranker=core, top_n=3)
    nodes = [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.5) for i, t in enumerate(TEXTS)]
    expected = _expected(core, 3)
    for out in (
        postprocessor.postprocess_nodes(nodes, query_bundle=QueryBundle(QUERY)),
        asyncio.run(postprocessor.apostprocess_nodes(nodes, query_bundle=QueryBundle(QUERY))),
    ):
        assert [n.node.node_id for n in out] == [f"n{r.index}" for r in expected]
        assert [n.score for n in out] == pytest.approx([r.relevance_score for r in expected], abs=1e-6)
        assert all(-1.0 <= n.score <= 1.0 for n in out)

    index = VectorStoreIndex.from_documents([Document(text=t) for t in TEXTS], embed_model=MockEmbedding(embed_dim=8))
    engine = index.as_query_engine(similarity_top_k=len(TEXTS), node_postprocessors=[postprocessor], llm=MockLLM())
    response = engine.query(QUERY)
    # v3 is listwise: the documents are scored in the order the retriever hands them over.
    retrieved = [n.node.get_content() for n in index.as_retriever(similarity_top_k=len(TEXTS)).retrieve(QUERY)]
    in_retrieval_order = core.rerank(QUERY, retrieved, top_n=3)
    assert [n.node.get_content() for n in response.source_nodes] == [r.document for r in in_retrieval_order]
    assert [n.score for n in response.source_nodes] == pytest.approx(
        [r.relevance_score for r in in_retrieval_order], abs=1e-6
    )


@pytest.mark.slow
def test_langchain_compressor_and_cross_encoder(core):
    pytest.importorskip("langchain_classic")
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
    from langchain_core.documents import Document
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_core.vectorstores import InMemoryVectorStore
    from langchain_jina_local import JinaLocalCrossEncoder, JinaLocalRerank

    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
    store.add_documents([Document(page_content=t, id=f"id-{i}") for i, t in enumerate(TEXTS)])
    retriever = ContextualCompressionRetriever(
        base_compressor=JinaLocalRerank(reranker=core, top_n=3),
        base_retriever=store.as_retriever(search_kwargs={"k": len(TEXTS)}),
    )
    # The retriever hands documents over in its own order, and v3 is listwise: order changes scores.
    documents = retriever.invoke(QUERY)
    assert len(documents) == 3
    assert all(-1.0 <= d.metadata["relevance_score"] <= 1.0 for d in documents)
    scores = [d.metadata["relevance_score"] for d in documents]
    assert scores == sorted(scores, reverse=True)

    direct = JinaLocalRerank(reranker=core, top_n=3).rerank(TEXTS, QUERY)
    expected = _expected(core, 3)
    assert [hit["index"] for hit in direct] == [r.index for r in expected]

    cross = JinaLocalCrossEncoder(reranker=core)
    pair_scores = cross.score([(QUERY, t) for t in TEXTS[:3]])
    assert pair_scores == pytest.approx(core.compute_score([[QUERY, t] for t in TEXTS[:3]]), abs=1e-6)
    out = CrossEncoderReranker(model=cross, top_n=2).compress_documents(
        [Document(page_content=t) for t in TEXTS], QUERY
    )
    assert len(out) == 2


@pytest.mark.slow
def test_haystack_pipeline(core):
    pytest.importorskip("haystack")
    from haystack import Document, Pipeline
    from haystack.utils import ComponentDevice
    from haystack_integrations.components.rankers.jina_local import JinaLocalRanker

    ranker = JinaLocalRanker(model=str(V3_TINY), device=ComponentDevice.from_str("cpu"), dtype="float32", top_k=3)
    pipe = Pipeline()
    pipe.add_component("ranker", ranker)
    documents = [Document(content=t, id=f"d{i}") for i, t in enumerate(TEXTS)]
    expected = _expected(core, 3)
    out = pipe.run({"ranker": {"query": QUERY, "documents": documents}})["ranker"]["documents"]
    assert [d.id for d in out] == [f"d{r.index}" for r in expected]
    assert [d.score for d in out] == pytest.approx([r.relevance_score for r in expected], abs=1e-6)
    # score_threshold is on v3's scale: cosines, which can be negative.
    everything = ranker.run(QUERY, documents)["documents"]
    cut = everything[1].score
    assert [d.id for d in ranker.run(QUERY, documents, score_threshold=cut)["documents"]] == [
        d.id for d in everything[:2]
    ]
    assert Pipeline.loads(pipe.dumps()).run({"ranker": {"query": QUERY, "documents": documents}})


@pytest.fixture(scope="module")
def server(core):
    pytest.importorskip("fastapi")
    from jina_local_rerank.server import create_app
    from jina_local_rerank.server.background import serve_in_thread

    with serve_in_thread(create_app({"jina-reranker-v3-tiny": core})) as url:
        yield url


def test_server_jina_and_cohere_schemas(server, core):
    expected = _expected(core, 3)
    body = {"model": "jina-reranker-v3-tiny", "query": QUERY, "documents": TEXTS, "top_n": 3, "return_documents": True}
    answer = httpx.post(f"{server}/v1/rerank", json=body, timeout=60).json()
    assert [hit["index"] for hit in answer["results"]] == [r.index for r in expected]
    assert [hit["relevance_score"] for hit in answer["results"]] == pytest.approx(
        [r.relevance_score for r in expected], abs=1e-6
    )
    assert [hit["document"]["text"] for hit in answer["results"]] == [r.document for r in expected]
    assert answer["usage"]["total_tokens"] == core.score_documents(QUERY, TEXTS).total_tokens

    cohere = httpx.post(f"{server}/v2/rerank", json={"query": QUERY, "documents": TEXTS, "top_n": 2}, timeout=60)
    assert [hit["index"] for hit in cohere.json()["results"]] == [r.index for r in expected[:2]]


@pytest.mark.slow
def test_server_concurrent_requests_share_batches_and_keep_their_own_scores(server, core):
    requests = [(QUERY, TEXTS[: 2 + i % 4]) for i in range(8)]
    expected = [core.score_documents(q, d).scores for q, d in requests]

    def post(request):
        query, documents = request
        answer = httpx.post(f"{server}/v1/rerank", json={"query": query, "documents": documents}, timeout=60).json()
        return [hit["relevance_score"] for hit in sorted(answer["results"], key=lambda hit: hit["index"])]

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(post, requests))
    for scores, reference in zip(got, expected):
        assert scores == pytest.approx(reference, abs=1e-5)


def test_server_refuses_a_nested_marker_with_422(server):
    body = {"query": QUERY, "documents": ["ok", "bad <|rerank_<|embed_token|>token|>"]}
    answer = httpx.post(f"{server}/v1/rerank", json=body, timeout=60)
    assert answer.status_code == 422
    assert "documents[1]" in answer.json()["detail"]
    assert httpx.post(f"{server}/v1/rerank", json={"query": QUERY, "documents": []}, timeout=60).status_code < 500


@pytest.mark.slow
def test_cli_demo_ranks_the_model_card_example(capsys):
    from jina_local_rerank.cli import main

    assert main(["demo", "--model", str(V3_TINY), "--device", "cpu"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line[:4].strip().isdigit()]
    assert [int(row.split()[0]) for row in rows] == list(range(1, 11))
    scores = [float(row.split()[1]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in scores)
