"""Per-request limits that need the model's view of a request: the token budget (413 with the
figure), the deadline (504, queued work dropped) and work abandoned by a client that left."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx
import pytest

pytest.importorskip("fastapi")

from conftest import V2_TINY

from jina_local_rerank import Reranker
from jina_local_rerank.server import ServerLimits, create_app
from jina_local_rerank.server.background import serve_in_thread

QUERY = "Organic skincare products for sensitive skin"
SHORT = ["Organic skincare for sensitive skin with aloe vera.", "New makeup trends focus on bold colors."]
HEAVY = 80  # long documents in a heavy request: a second or more on a CPU
LONG = " ".join(["The train to Berlin leaves at 9:45 from platform 7."] * 80)


@pytest.fixture(scope="module")
def core():
    return Reranker(V2_TINY, device="cpu", dtype="float32")


def metric(text: str, name: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values)


def test_token_budget_is_checked_before_scoring_and_names_the_figure(core):
    with serve_in_thread(create_app([core])) as base:
        usage = httpx.post(f"{base}/v1/rerank", json={"query": QUERY, "documents": SHORT}).json()["usage"]
    tokens = usage["total_tokens"]  # short documents: one window each, so the estimate is exact
    with serve_in_thread(create_app([core], limits=ServerLimits(max_request_tokens=tokens))) as base:
        body = {"query": QUERY, "documents": SHORT}
        assert httpx.post(f"{base}/v1/rerank", json=body).status_code == 200
        over = httpx.post(f"{base}/v2/rerank", json={**body, "documents": [*SHORT, "one more"]})
        assert over.status_code == 413
        figures = [int(n) for n in re.findall(r"\d+", over.json()["detail"])]
        assert tokens in figures and max(figures) > tokens
        scored = metric(httpx.get(f"{base}/metrics").text, "jina_local_rerank_documents_total")
        assert scored == len(SHORT)  # the refused request was never scored


async def _post(client: httpx.AsyncClient, body: dict, **kwargs) -> tuple[float, httpx.Response | Exception]:
    try:
        response = await client.post("/v1/rerank", json=body, **kwargs)
    except httpx.HTTPError as exc:
        return time.monotonic(), exc
    return time.monotonic(), response


class Gate:
    """Holds a heavy request inside the model until the test opens it, so the order of events is the
    test's, not the machine's speed: the real scoring runs once the gate opens."""

    def __init__(self, core: Reranker, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        score_many = core.score_many

        def gated(requests, *args, **kwargs):
            if any(len(documents) == HEAVY for _, documents in requests):
                self.entered.set()
                self.opened.wait(60)
            return score_many(requests, *args, **kwargs)

        monkeypatch.setattr(core, "score_many", gated)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 60), "the heavy request never reached the model"


async def _until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        await asyncio.sleep(0.02)


@pytest.mark.slow
def test_queued_work_of_a_client_that_left_is_dropped(core, monkeypatch):
    gate = Gate(core, monkeypatch)
    heavy = {"query": QUERY, "documents": [LONG] * HEAVY}
    small = {"query": QUERY, "documents": SHORT}
    app = create_app([core], limits=ServerLimits(max_wait_ms=0, max_batch_documents=HEAVY))
    with serve_in_thread(app) as base:

        def metrics() -> str:
            return httpx.get(f"{base}/metrics").text

        async def scenario():
            async with (
                httpx.AsyncClient(base_url=base, timeout=120) as first,
                httpx.AsyncClient(base_url=base, timeout=120) as others,
            ):
                running = asyncio.ensure_future(_post(first, heavy))
                await gate.wait_entered()  # the first heavy request is in the model
                gives_up = asyncio.ensure_future(_post(others, heavy, timeout=0.2))
                await _until(lambda: 'status="499"' in metrics())  # the server saw the client leave
                third = asyncio.ensure_future(_post(others, small))
                await asyncio.sleep(0.1)
                gate.opened.set()
                return await running, await gives_up, await third

        (_, first), (_, abandoned), (_, third) = asyncio.run(scenario())
        text = metrics()
    assert isinstance(first, httpx.Response) and first.status_code == 200
    assert isinstance(abandoned, httpx.TimeoutException)
    assert isinstance(third, httpx.Response) and third.status_code == 200
    # Dropped from the queue, or cancelled while its tokens were still being counted: never scored,
    # so the small third request did not wait for it.
    assert metric(text, "jina_local_rerank_dropped_documents_total") in (0, HEAVY)
    assert metric(text, "jina_local_rerank_documents_total") == HEAVY + len(SHORT)
    assert 'endpoint="/v1/rerank",status="499"' in text


@pytest.mark.slow
def test_deadline_answers_504_and_drops_the_queued_work(core, monkeypatch):
    gate = Gate(core, monkeypatch)
    heavy = {"query": QUERY, "documents": [LONG] * HEAVY}
    app = create_app([core], limits=ServerLimits(max_wait_ms=0, max_batch_documents=HEAVY, request_timeout_s=0.5))
    with serve_in_thread(app) as base:

        async def scenario():
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                first = asyncio.ensure_future(_post(client, heavy))
                await gate.wait_entered()
                second = asyncio.ensure_future(_post(client, heavy))
                answers = await first, await second  # both past their deadline while the gate is shut
                gate.opened.set()
                return answers

        (_, first), (_, second) = asyncio.run(scenario())
        assert isinstance(first, httpx.Response) and isinstance(second, httpx.Response)
        assert first.status_code == 504 and second.status_code == 504
        assert "0.5 s" in second.json()["detail"]
        deadline = time.monotonic() + 60
        while True:  # the heavy request already in the model finishes; the queued one never runs
            small = httpx.post(f"{base}/v1/rerank", json={"query": QUERY, "documents": SHORT})
            if small.status_code == 200 or time.monotonic() > deadline:
                break
        text = httpx.get(f"{base}/metrics").text
    assert small.status_code == 200
    # The first heavy request was in the model and finished; the queued one was dropped (or cancelled
    # while its tokens were counted): never scored. Small retries may have been scored or dropped too.
    scored = metric(text, "jina_local_rerank_documents_total")
    assert HEAVY <= scored < 2 * HEAVY and (scored - HEAVY) % len(SHORT) == 0
    assert 'endpoint="/v1/rerank",status="504"' in text
