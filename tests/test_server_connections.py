"""Slow clients: connections that trickle their request head or body, or sit idle, are closed after
the read timeout, and the server keeps answering everyone else while hundreds of them are open."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

pytest.importorskip("fastapi")

from conftest import V2_TINY

from jina_local_rerank import Reranker
from jina_local_rerank.server import ServerLimits, create_app
from jina_local_rerank.server.background import serve_in_thread

TRICKLERS = 500
READ_TIMEOUT_S = 1.0
GIVE_UP_S = 15.0  # every trickler stops by itself after this, closed or not
BODY = {"query": "Organic skincare products for sensitive skin", "documents": ["Organic skincare.", "Makeup."]}


async def trickle(host: str, port: int, kind: str) -> float | None:
    """Send a request a byte at a time; return when the server closed the connection (seconds), or None."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    if kind == "head":
        pending = b"POST /v1/rerank HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
    elif kind == "body":
        writer.write(
            b"POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
        )
        pending = b" " * 4096
    else:  # idle: connects and never sends anything
        pending = b""
    try:
        while time.monotonic() - started < GIVE_UP_S:
            if pending:
                writer.write(pending[:1])
                pending = pending[1:]
                await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(4096), 0.2)
            except TimeoutError:
                continue
            if not data:
                return time.monotonic() - started
            while data:  # a 408 answer, then the close
                data = await asyncio.wait_for(reader.read(4096), GIVE_UP_S)
            return time.monotonic() - started
    except (TimeoutError, ConnectionError):
        return time.monotonic() - started
    finally:
        writer.close()
    return None


def ensure_file_descriptors(needed: int) -> None:
    """Client and server share this process: each trickler costs two descriptors."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@pytest.mark.slow
def test_trickling_and_idle_connections_are_closed_while_others_are_served():
    ensure_file_descriptors(2 * TRICKLERS + 512)
    reranker = Reranker(V2_TINY, device="cpu", dtype="float32")
    limits = ServerLimits(read_timeout_s=READ_TIMEOUT_S, keep_alive_s=1)
    with serve_in_thread(create_app([reranker], limits=limits)) as url:
        host, port = url.removeprefix("http://").split(":")

        async def scenario():
            kinds = ["head", "body", "idle"]
            tricklers = [asyncio.ensure_future(trickle(host, int(port), kinds[i % 3])) for i in range(TRICKLERS)]
            await asyncio.sleep(0.5)
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                started = time.monotonic()
                answers = [await client.post("/v1/rerank", json=BODY) for _ in range(3)]
                served_in = time.monotonic() - started
            return await asyncio.gather(*tricklers), answers, served_in

        closed_after, answers, served_in = asyncio.run(scenario())
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert served_in < 10, served_in
    still_open = [i for i, seconds in enumerate(closed_after) if seconds is None]
    assert not still_open, f"{len(still_open)} slow connections were never closed"
    assert max(s for s in closed_after if s is not None) < READ_TIMEOUT_S + 8


def test_idle_keep_alive_connection_is_closed():
    reranker = Reranker(V2_TINY, device="cpu", dtype="float32", lazy=True)
    with serve_in_thread(create_app([reranker], limits=ServerLimits(keep_alive_s=1, read_timeout_s=1))) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = connection.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" not in answer.lower()
            started = time.monotonic()
            assert connection.recv(4096) == b""  # closed by the server, not by the 10 s socket timeout
            assert time.monotonic() - started < 5


def test_connections_beyond_the_limit_get_503_with_retry_after():
    reranker = Reranker(V2_TINY, device="cpu", dtype="float32", lazy=True)
    with serve_in_thread(create_app([reranker], limits=ServerLimits(max_connections=4))) as url:
        host, port = url.removeprefix("http://").split(":")
        held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(4)]
        try:
            time.sleep(0.2)
            refused = httpx.get(f"{url}/health")
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert "too many open connections" in refused.json()["detail"]
        finally:
            for connection in held:
                connection.close()
        time.sleep(0.2)
        assert httpx.get(f"{url}/health").status_code == 200


def test_a_body_that_does_not_arrive_in_time_is_408_and_closed():
    reranker = Reranker(V2_TINY, device="cpu", dtype="float32", lazy=True)
    with serve_in_thread(create_app([reranker], limits=ServerLimits(read_timeout_s=0.5))) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(b"POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            answer = b""
            while chunk := connection.recv(4096):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    assert b"0.5 s" in body and b"x-request-id" in head.lower()
