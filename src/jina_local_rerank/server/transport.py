"""Running the app under uvicorn with the connection-level protections the app itself cannot give.

uvicorn's h11 protocol closes idle keep-alive connections, but a client that trickles its request
head (one header byte every few seconds) resets nothing and is never closed. ``HeadTimeoutProtocol``
adds a deadline for a complete request head, counted from connection start or from the end of the
previous response; bodies are bounded by ``guard.RequestGuard`` (read timeout, size limit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from jina_local_rerank.server.settings import ServerLimits

_BUSY_BODY = b'{"detail": "Server busy: too many open connections. Retry shortly."}'
TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol plus: no request in flight and no complete head within ``head_timeout_s``
    means the connection is closed; a connection beyond ``max_connections`` is answered 503 at once."""

    head_timeout_s: float = 30.0
    max_connections: int = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.write(TOO_MANY_CONNECTIONS)
            transport.close()
            return
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        in_flight = self.cycle is not None and not self.cycle.response_complete
        if not in_flight and not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(limits: ServerLimits) -> type[HeadTimeoutProtocol]:
    """``HeadTimeoutProtocol`` with the limits' head deadline and connection cap (uvicorn takes a class)."""
    settings = {"head_timeout_s": limits.read_timeout_s, "max_connections": limits.max_connections}
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,), settings)


def uvicorn_config(app: Any, host: str, port: int, limits: ServerLimits, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=guarded_protocol(limits),
        timeout_keep_alive=max(1, round(limits.keep_alive_s)),
    )


class AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls ``on_started`` once it listens (for the one-line startup message)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started()


def run_server(
    app: Any,
    host: str,
    port: int,
    limits: ServerLimits,
    *,
    log_level: str = "warning",
    on_started: Callable[[], None] | None = None,
) -> None:
    """Serve ``app`` until interrupted."""
    AnnouncingServer(uvicorn_config(app, host, port, limits, log_level), on_started).run()
