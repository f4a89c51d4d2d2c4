"""Generated JSON bodies (random types, nesting, unicode with lone surrogates, NaN/Infinity, huge
numbers) against a real server: never a 500, always a JSON answer of bounded size."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")

from conftest import V2_TINY

from jina_local_rerank import Reranker
from jina_local_rerank.ranking import rank_order
from jina_local_rerank.server import ServerLimits, create_app
from jina_local_rerank.server.background import serve_in_thread

MAX_ERROR_BYTES = 8192


@dataclass(frozen=True)
class RawNumber:
    """A number token Python's ``json`` would not write: ``1e400``, a 400-digit integer."""

    token: str


texts = st.text(st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "\x00", "\u2028"])), max_size=40)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([RawNumber("1e400"), RawNumber("-1e999"), RawNumber("9" * 400), RawNumber("1E-400")]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=20,
)
documents = st.lists(
    st.one_of(texts, st.fixed_dictionaries({"text": texts}, optional={"id": values}), values), max_size=4
)
requests = st.one_of(
    values,
    st.fixed_dictionaries(
        {"query": st.one_of(texts, values), "documents": st.one_of(documents, values)},
        optional={
            "model": st.one_of(st.just("jina-v2-tiny"), texts, values),
            "top_n": st.one_of(st.integers(-3, 6), values),
            "return_documents": st.one_of(st.booleans(), values),
            "priority": values,
            "extra": values,
        },
    ),
)


def dump(value: object) -> str:
    """JSON text with everything Python's ``json`` would refuse or rewrite left in as the client sent it."""
    if isinstance(value, RawNumber):
        return value.token
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return "[" + ",".join(dump(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{dump(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)  # ensure_ascii: lone surrogates go out as \\udxxx escapes


@pytest.fixture(scope="module")
def url():
    reranker = Reranker(V2_TINY, device="cpu", dtype="float32")
    with serve_in_thread(create_app([reranker], limits=ServerLimits(max_body_bytes=64_000))) as base:
        yield base


@pytest.fixture(scope="module")
def client(url):
    with httpx.Client(base_url=url, timeout=60) as session:
        yield session


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=requests, path=st.sampled_from(["/v1/rerank", "/v2/rerank"]), nesting=st.integers(0, 3))
def test_generated_bodies_never_get_a_500(client, body, path, nesting):
    raw = dump(body)
    if nesting == 3:  # some bodies wrapped deeply, as an attacker would
        raw = '{"query": "q", "documents": [], "x": ' + "[" * 300 + raw + "]" * 300 + "}"
    response = client.post(
        path, content=raw.encode("utf-8", "surrogatepass"), headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, (response.status_code, response.text[:500])
    answer = response.json()
    if response.status_code == 200:
        assert len(response.content) <= 4 * len(raw) + 4096
        scores = [hit["relevance_score"] for hit in answer["results"]]
        assert scores == sorted(scores, reverse=True)
    else:
        assert len(response.content) < MAX_ERROR_BYTES
        assert "detail" in answer


@given(st.lists(st.floats(allow_nan=False), max_size=30), st.one_of(st.none(), st.integers(1, 40)))
def test_rank_order_is_best_first_with_ties_in_input_order(scores, top_n):
    order = rank_order(scores, top_n)
    expected = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    assert order == (expected if top_n is None else expected[:top_n])
    assert all(scores[a] > scores[b] or (scores[a] == scores[b] and a < b) for a, b in itertools.pairwise(order))
