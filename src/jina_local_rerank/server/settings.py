"""The server's limits and timeouts in one place (each has a ``serve`` option; see docs/reliability.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerLimits:
    """What one request may ask for, and how long anyone may take; beyond it the answer is 4xx/5xx."""

    max_body_bytes: int = 10 * 1024 * 1024
    max_documents: int = 1000
    max_document_chars: int = 200_000
    max_query_chars: int = 20_000
    max_request_tokens: int = 500_000
    max_queue: int = 64
    max_wait_ms: float = 5.0
    max_batch_documents: int = 256
    request_timeout_s: float = 60.0
    read_timeout_s: float = 30.0
    keep_alive_s: float = 5.0
    max_connections: int = 1024

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_documents", "max_document_chars", "max_query_chars"):
            self._positive(name)
        for name in ("max_request_tokens", "max_queue", "max_batch_documents", "max_connections"):
            self._positive(name)
        for name in ("request_timeout_s", "read_timeout_s", "keep_alive_s"):
            self._positive(name)
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms!r}.")

    def _positive(self, name: str) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}.")

    def summary(self) -> str:
        """One line for the startup message."""
        return (
            f"body {self.max_body_bytes / 1024 / 1024:g} MiB, {self.max_documents} documents, "
            f"{self.max_document_chars} chars/document, {self.max_request_tokens} tokens/request, "
            f"queue {self.max_queue}, timeout {self.request_timeout_s:g} s, read timeout {self.read_timeout_s:g} s, "
            f"{self.max_connections} connections"
        )
