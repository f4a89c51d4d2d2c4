"""Run the app with uvicorn in a background thread (tests, notebooks, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jina_local_rerank.server.settings import ServerLimits
from jina_local_rerank.server.transport import AnnouncingServer, uvicorn_config


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Start a real uvicorn server (with the same protections as ``serve``), yield its base URL, stop it."""
    port = port or free_port(host)
    limits = getattr(getattr(app, "state", None), "limits", None) or ServerLimits()
    server = AnnouncingServer(uvicorn_config(app, host, port, limits))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("The rerank server did not start.")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
