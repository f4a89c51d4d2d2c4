"""Client mistakes never become 500s, errors never echo the input, types are strict, metrics use
route templates, auth and health leak nothing; an internal failure is a logged 500 with a request id."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

pytest.importorskip("fastapi")

from conftest import V2_TINY

from jina_local_rerank import Reranker
from jina_local_rerank.server import ServerLimits, create_app
from jina_local_rerank.server.background import serve_in_thread

QUERY = "Organic skincare products for sensitive skin"
DOCS = ["Organic skincare for sensitive skin with aloe vera.", "New makeup trends focus on bold colors."]
JSON = {"content-type": "application/json"}
MAX_ERROR_BYTES = 8192


@pytest.fixture(scope="module")
def core():
    return Reranker(V2_TINY, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def url(core):
    with serve_in_thread(create_app([core], limits=ServerLimits(max_body_bytes=100_000))) as base:
        yield base


def post_raw(url: str, path: str, raw: bytes) -> httpx.Response:
    return httpx.post(f"{url}{path}", content=raw, headers=JSON, timeout=60)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("path", ["/v1/rerank", "/v2/rerank"])
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"query": NaN, "documents": []}', "NaN"),
        (b'{"query": "q", "documents": ["d"], "top_n": Infinity}', "Infinity"),
        (b'{"query": "q", "documents": ["d"], "top_n": -Infinity}', "Infinity"),
        (b'{"query": "q", "documents": ["d"], "top_n": 1e400}', "1e400"),
        (b'{"query": "q", "documents": ["d"], "extra": ' + nested(400) + b"}", "nested deeper"),
        (nested(5000), "nested deeper"),
        (b'{"query": "q", "documents": ["d"], "\\ud800": 1}', "Extra inputs"),
        (b'{"query": "q", "documents": ["d"], "extra": "' + b"x" * 50_000 + b'"}', "Extra inputs"),
        (b'{"query": "q", "documents": ["d"], "top_n": ' + b"9" * 5000 + b"}", "Invalid JSON"),
        (b'{"query": "q", "documents": ["d"]', "Invalid JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"", "empty"),
    ],
)
def test_malformed_bodies_are_422_with_a_bounded_message(url, path, raw, message):
    response = post_raw(url, path, raw)
    assert response.status_code == 422, response.text
    assert len(response.content) < MAX_ERROR_BYTES
    body = response.json()
    assert message in json.dumps(body, ensure_ascii=False)
    assert "x" * 200 not in response.text  # the input is never echoed
    assert body["request_id"] == response.headers["x-request-id"]


def test_lone_surrogates_in_texts_are_replaced_and_scored(url, core):
    raw = (
        b'{"query": "skin\\ud800care", "documents": ["aloe \\udfff vera", {"text": "x\\ud83d", "\\udc00k": "\\ud800"}]}'
    )
    response = post_raw(url, "/v1/rerank", raw)
    assert response.status_code == 200, response.text
    expected = core.rerank("skin\ufffdcare", ["aloe \ufffd vera", "x\ufffd"])
    got = response.json()["results"]
    assert [r["index"] for r in got] == [r.index for r in expected]
    assert [r["relevance_score"] for r in got] == pytest.approx([r.relevance_score for r in expected], abs=1e-6)
    echoed = {r["index"]: r["document"] for r in got}
    assert echoed[1] == {"text": "x\ufffd", "\ufffdk": "\ufffd"}
    v2 = post_raw(url, "/v2/rerank", b'{"query": "\\ud800", "documents": ["\\udbff\\udfff ok", "\\ud800"]}')
    assert v2.status_code == 200 and len(v2.json()["results"]) == 2


@pytest.mark.parametrize("path", ["/v1/rerank", "/v2/rerank"])
@pytest.mark.parametrize(
    ("field", "value"),
    [("top_n", True), ("top_n", "2"), ("top_n", 2.0), ("top_n", 0), ("query", 5), ("documents", "one")],
)
def test_types_are_strict(url, path, field, value):
    body = {"query": QUERY, "documents": DOCS, field: value}
    response = httpx.post(f"{url}{path}", json=body, timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]


@pytest.mark.parametrize("value", ["true", 1, None])
def test_return_documents_is_a_strict_boolean(url, value):
    body = {"query": QUERY, "documents": DOCS, "return_documents": value}
    assert httpx.post(f"{url}/v1/rerank", json=body, timeout=60).status_code == 422


def test_chunked_body_over_the_limit_is_413(url):
    def chunks():
        for _ in range(300):
            yield b"x" * 1000

    response = httpx.post(f"{url}/v1/rerank", content=chunks(), headers=JSON, timeout=60)
    assert response.status_code == 413
    assert "100000 bytes" in response.json()["detail"]
    assert response.headers["connection"] == "close"


def test_declared_body_over_the_limit_is_413(url):
    response = post_raw(url, "/v2/rerank", b" " * 100_001)
    assert response.status_code == 413


def test_metrics_label_route_templates_and_one_label_for_unmatched(url):
    for path in ["/nope/1", "/nope/2", "/v1/rerank/../x", "/" + "a" * 300]:
        assert httpx.get(f"{url}{path}").status_code == 404
    assert httpx.post(f"{url}/v2/rerank", json={"query": QUERY, "documents": DOCS}).status_code == 200
    assert httpx.get(f"{url}/v1/rerank").status_code == 405
    text = httpx.get(f"{url}/metrics").text
    endpoints = {
        line.split('endpoint="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("jina_local_rerank_requests_total{")
    }
    assert "unmatched" in endpoints and "/v2/rerank" in endpoints and "/v1/rerank" in endpoints
    assert endpoints <= {"unmatched", "/v1/rerank", "/v2/rerank", "/v1/models", "/health", "/metrics"}


def test_health_and_models_show_names_not_paths(url):
    health = httpx.get(f"{url}/health").json()
    assert health == {"status": "ok", "models": ["jina-v2-tiny"]}
    models = httpx.get(f"{url}/v1/models").json()["data"]
    assert [m["id"] for m in models] == ["jina-v2-tiny"]
    assert str(V2_TINY.parent) not in httpx.get(f"{url}/health").text + httpx.get(f"{url}/v1/models").text
    answer = httpx.post(f"{url}/v1/rerank", json={"model": "jina-v2-tiny", "query": QUERY, "documents": DOCS})
    assert answer.status_code == 200 and answer.json()["model"] == "jina-v2-tiny"


def test_api_key_is_required_on_api_routes_only(core):
    key = "s3cret-κey"
    with serve_in_thread(create_app([core], api_key=key)) as base:
        body = {"query": QUERY, "documents": DOCS}
        right = {"Authorization": f"Bearer {key}".encode()}
        assert httpx.post(f"{base}/v1/rerank", json=body, headers=right).status_code == 200
        for header in ["", "Bearer x", "Bearer s3cret-κez", f"bearer {key}", f"Bearer {key}x", key]:
            sent = {"Authorization": header.encode()} if header else {}
            response = httpx.post(f"{base}/v1/rerank", json=body, headers=sent)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{base}/v1/models").status_code == 401
        assert httpx.get(f"{base}/health").status_code == 200


class FailingReranker(Reranker):
    """A real reranker whose scoring hits an internal bug (a ValueError deep inside)."""

    def score_many(self, requests, **kwargs):  # type: ignore[override]
        raise ValueError("internal bug: /srv/secret/path")


def test_internal_failure_is_500_with_request_id_and_a_logged_traceback(caplog):
    broken = FailingReranker(V2_TINY, device="cpu", dtype="float32")
    with caplog.at_level(logging.ERROR), serve_in_thread(create_app([broken])) as base:
        response = httpx.post(f"{base}/v1/rerank", json={"query": QUERY, "documents": DOCS})
        invalid = httpx.post(f"{base}/v1/rerank", json={"query": 5, "documents": DOCS})
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    body = response.json()
    assert body["request_id"] == request_id and request_id in body["detail"]
    assert "Traceback" not in response.text and "secret" not in response.text and "ValueError" not in response.text
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "internal bug" in str(logged[0].exc_info[1])
    assert invalid.status_code == 422  # only request validation is a 422; the internal failure is a 500


def test_too_many_documents_is_413_before_each_is_validated(core):
    with serve_in_thread(create_app([core], limits=ServerLimits(max_documents=3))) as base:
        response = httpx.post(f"{base}/v1/rerank", json={"query": QUERY, "documents": [1, None, {}, []]})
    assert response.status_code == 413 and "4 documents exceed the limit of 3" in response.json()["detail"]


def test_openapi_documents_the_request_bodies(url):
    spec = httpx.get(f"{url}/openapi.json").json()
    for path, fields in [("/v1/rerank", {"query", "documents", "return_documents"}), ("/v2/rerank", {"priority"})]:
        schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert fields <= set(schema["properties"]) and "$defs" not in json.dumps(schema)
