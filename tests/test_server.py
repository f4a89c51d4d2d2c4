"""A real server on 127.0.0.1 with the tiny model, driven by real clients: LlamaIndex's JinaRerank,
jina-haystack's JinaRanker and plain httpx, plus a bounded load test."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytest.importorskip("fastapi")

from benchmarks_path import server_load
from conftest import V1_TINY, V2_TINY

from jina_local_rerank import Reranker
from jina_local_rerank.server import ServerLimits, create_app
from jina_local_rerank.server.background import serve_in_thread

QUERY = "Organic skincare products for sensitive skin"
DOCS = [
    "Organic skincare for sensitive skin with aloe vera and chamomile.",
    "New makeup trends focus on bold colors and innovative techniques",
    "Bio-Hautpflege für empfindliche Haut mit Aloe Vera und Kamille",
    " ".join(["The train to Berlin leaves at 9:45 from platform 7."] * 80),
]
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def core():
    return Reranker(V2_TINY, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def server(core):
    v1 = Reranker(V1_TINY, device="cpu", dtype="float32")
    app = create_app(
        {"jina-v2-tiny": core, "jina-v1-tiny": v1},
        api_key=KEY,
        limits=ServerLimits(max_documents=50, max_document_chars=20_000, max_body_bytes=200_000),
    )
    with serve_in_thread(app) as url:
        yield url


def test_jina_schema_with_object_documents(server, core):
    documents = [DOCS[0], {"text": DOCS[1], "source": "blog", "n": 3}, {"text": DOCS[2]}, DOCS[3]]
    body = {
        "model": "jina-v2-tiny",
        "query": {"text": QUERY},
        "documents": documents,
        "top_n": 3,
        "return_documents": True,
    }
    answer = httpx.post(f"{server}/v1/rerank", json=body, headers=AUTH).json()
    expected = core.rerank(QUERY, DOCS, top_n=3)
    assert [r["index"] for r in answer["results"]] == [r.index for r in expected]
    assert [r["relevance_score"] for r in answer["results"]] == pytest.approx(
        [r.relevance_score for r in expected], abs=1e-6
    )
    by_index = {r["index"]: r["document"] for r in answer["results"]}
    if 1 in by_index:
        assert by_index[1] == {"text": DOCS[1], "source": "blog", "n": 3}
    assert answer["model"] == "jina-v2-tiny" and answer["usage"]["total_tokens"] > 0
    assert answer["id"] and answer["meta"]["billed_units"]["search_units"] == 1  # also a Cohere v1 response
    without = httpx.post(f"{server}/v1/rerank", json={**body, "return_documents": False}, headers=AUTH).json()
    assert all("document" not in r for r in without["results"])


def test_cohere_v2_schema(server, core):
    body = {"model": "jina-v1-tiny", "query": QUERY, "documents": DOCS}
    answer = httpx.post(f"{server}/v2/rerank", json=body, headers=AUTH).json()
    assert [set(r) for r in answer["results"]] == [{"index", "relevance_score"}] * len(DOCS)
    assert sorted(r["index"] for r in answer["results"]) == [0, 1, 2, 3]


@pytest.mark.slow
def test_llama_index_jina_rerank_client(server, core):
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.postprocessor.jinaai_rerank import JinaRerank

    client = JinaRerank(base_url=f"{server}/v1", api_key=KEY, model="jina-v2-tiny", top_n=2)
    nodes = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in DOCS]
    out = client.postprocess_nodes(nodes, query_str=QUERY)
    expected = core.rerank(QUERY, DOCS, top_n=2)
    assert [n.node.get_content() for n in out] == [r.document for r in expected]
    assert [n.score for n in out] == pytest.approx([r.relevance_score for r in expected], abs=1e-6)


def test_haystack_jina_ranker_client(server, core):
    from haystack import Document
    from haystack.utils import Secret
    from haystack_integrations.components.rankers.jina import JinaRanker

    ranker = JinaRanker(model="jina-v2-tiny", api_key=Secret.from_token(KEY), top_k=3, base_url=f"{server}/v1/rerank")
    out = ranker.run(query=QUERY, documents=[Document(content=t) for t in DOCS])["documents"]
    expected = core.rerank(QUERY, DOCS, top_n=3)
    assert [d.content for d in out] == [r.document for r in expected]
    assert [d.score for d in out] == pytest.approx([r.relevance_score for r in expected], abs=1e-6)


def test_models_health_metrics(server):
    models = httpx.get(f"{server}/v1/models", headers=AUTH).json()
    assert {m["id"] for m in models["data"]} == {"jina-v2-tiny", "jina-v1-tiny"}
    assert httpx.get(f"{server}/health").json()["status"] == "ok"
    metrics = httpx.get(f"{server}/metrics").text
    assert "jina_local_rerank_requests_total" in metrics and "jina_local_rerank_queue_depth" in metrics


@pytest.mark.parametrize(
    ("request_kwargs", "status", "message"),
    [
        ({"json": {"model": "jina-v2-tiny", "query": QUERY, "documents": DOCS}, "headers": {}}, 401, "API key"),
        ({"json": {"model": "nope", "query": QUERY, "documents": DOCS}}, 404, "jina-v1-tiny"),
        ({"json": {"query": QUERY, "documents": DOCS}}, 422, "served models"),
        ({"content": b"{not json", "headers": {**AUTH, "content-type": "application/json"}}, 422, ""),
        ({"json": {"model": "jina-v2-tiny", "query": QUERY, "documents": DOCS, "top_n": 0}}, 422, "top_n"),
        ({"json": {"model": "jina-v2-tiny", "query": QUERY, "documents": [1, None]}}, 422, ""),
        ({"json": {"model": "jina-v2-tiny", "query": QUERY, "documents": ["x"] * 51}}, 413, "51 documents"),
        ({"json": {"model": "jina-v2-tiny", "query": QUERY, "documents": ["x" * 20_001]}}, 413, "documents[0]"),
        ({"json": {"model": "jina-v2-tiny", "query": QUERY, "documents": ["x" * 19_000] * 11}}, 413, "larger than"),
        ({"json": {"model": "jina-v2-tiny", "query": QUERY, "documents": DOCS, "bogus": 1}}, 422, "bogus"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(server, request_kwargs, status, message):
    kwargs = {"headers": AUTH, **request_kwargs}
    response = httpx.post(f"{server}/v1/rerank", **kwargs)
    assert response.status_code == status
    assert message in json.dumps(response.json())


def test_empty_documents_and_whitespace_are_answered(server):
    answer = httpx.post(
        f"{server}/v1/rerank", json={"model": "jina-v2-tiny", "query": QUERY, "documents": []}, headers=AUTH
    ).json()
    assert answer["results"] == []
    answer = httpx.post(
        f"{server}/v1/rerank", json={"model": "jina-v2-tiny", "query": "", "documents": ["", " "]}, headers=AUTH
    )
    assert answer.status_code == 200 and len(answer.json()["results"]) == 2


@pytest.mark.slow
def test_overload_answers_503_with_retry_after():
    reranker = Reranker(V2_TINY, device="cpu", dtype="float32")
    app = create_app([reranker], limits=ServerLimits(max_queue=1, max_batch_documents=1, max_wait_ms=0))
    body = {"query": QUERY, "documents": DOCS * 10}
    with serve_in_thread(app) as url, ThreadPoolExecutor(max_workers=24) as pool:
        responses = list(pool.map(lambda _: httpx.post(f"{url}/v1/rerank", json=body, timeout=60), range(48)))
    statuses = {r.status_code for r in responses}
    assert statuses <= {200, 503} and 503 in statuses and 200 in statuses
    assert all(r.headers.get("retry-after") == "1" for r in responses if r.status_code == 503)


@pytest.mark.slow
def test_concurrent_requests_share_batches_and_get_serial_scores(core):
    app = create_app([core], limits=ServerLimits(max_wait_ms=20))
    expected = {i: core.rerank(QUERY, DOCS[i:] + DOCS[:i]) for i in range(4)}
    with serve_in_thread(app) as url:

        async def run():
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                return await asyncio.gather(
                    *(
                        client.post("/v1/rerank", json={"query": QUERY, "documents": DOCS[i % 4 :] + DOCS[: i % 4]})
                        for i in range(24)
                    )
                )

        responses = asyncio.run(run())
    for i, response in enumerate(responses):
        got = response.json()["results"]
        assert [r["index"] for r in got] == [r.index for r in expected[i % 4]]
        assert [r["relevance_score"] for r in got] == pytest.approx(
            [r.relevance_score for r in expected[i % 4]], abs=1e-5
        )


@pytest.mark.slow
def test_bounded_load_has_no_errors(core):
    app = create_app({"jina-v2-tiny": core})
    with serve_in_thread(app) as url:
        result = asyncio.run(server_load.drive(url, "jina-v2-tiny", requests=2000, concurrency=32))
    assert result.errors == 0, result.statuses
    assert len(result.latencies_ms) == 2000
