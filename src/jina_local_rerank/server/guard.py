"""The ASGI layer around the app: request ids, metrics by route template, the body limit and read
timeout, and the last line of defence that turns an unexpected exception into a logged 500.

The body is read here in full, before any route runs: a body over ``max_body_bytes`` is a 413
whether its length was declared or it came chunked, and a body that trickles in slower than
``read_timeout_s`` is a 408. Both answers close the connection. The route then reads the buffered
body; later ``receive()`` calls go to the server, so a route can still notice the client leaving.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match

from jina_local_rerank.server.errors import REQUEST_ID_HEADER, ClientGone, error_body, internal_error_message, logger
from jina_local_rerank.server.metrics import UNMATCHED, ServerMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _ClientDisconnected(Exception):
    pass


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The path template of the route ``scope`` goes to (``/v1/rerank``), or ``"unmatched"``."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            return str(getattr(route, "path", UNMATCHED))
    return UNMATCHED


class RequestGuard:
    """Pure ASGI middleware (no per-request task or body copy beyond the one buffer)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[BaseRoute],
        metrics: ServerMetrics,
        max_body_bytes: int,
        read_timeout_s: float,
    ) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["arrived"] = time.monotonic()
        endpoint = route_template(self.routes, scope)
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        try:
            refusal = self._declared_too_large(scope)
            body = b"" if refusal else await self._read_body(receive)
            if refusal or len(body) > self.max_body_bytes:
                await _answer(send_with_id, 413, self._too_large_message(), request_id, close=True)
            else:
                await self.app(scope, _replay(body, receive), send_with_id)
        except _BodyTooLarge:
            await _answer(send_with_id, 413, self._too_large_message(), request_id, close=True)
        except _BodyTimedOut:
            message = f"The request body was not received within {self.read_timeout_s:g} s."
            await _answer(send_with_id, 408, message, request_id, close=True)
        except (_ClientDisconnected, ClientGone):
            status = 499  # nginx's "client closed request": nobody reads the answer
        except Exception:  # noqa: BLE001 - the last line of defence: log it, answer 500 without details
            logger.exception("Internal error in %s %s (request id %s)", scope.get("method"), endpoint, request_id)
            if not response_started:
                await _answer(send_with_id, 500, internal_error_message(request_id), request_id, close=False)
        finally:
            self.metrics.observe(endpoint, status, time.perf_counter() - started)

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                return value.isdigit() and int(value) > self.max_body_bytes
        return False

    def _too_large_message(self) -> str:
        return f"Request body is larger than the limit of {self.max_body_bytes} bytes."

    async def _read_body(self, receive: Receive) -> bytes:
        """The whole body within ``read_timeout_s``; stops reading as soon as it passes the limit."""
        deadline = time.monotonic() + self.read_timeout_s
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _BodyTimedOut
            try:
                message = await asyncio.wait_for(receive(), remaining)
            except TimeoutError:
                raise _BodyTimedOut from None
            if message["type"] == "http.disconnect":
                raise _ClientDisconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _BodyTooLarge(Exception):
    pass


class _BodyTimedOut(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the buffered body once, then defers to the server's."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _answer(send: Send, status: int, detail: str, request_id: str, *, close: bool) -> None:
    body = json.dumps(error_body(detail, request_id)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
