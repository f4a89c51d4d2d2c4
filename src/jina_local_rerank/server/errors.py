"""Every error the server answers, and the one place that turns exceptions into responses.

Client mistakes are 4xx with a bounded, serialisable body that never echoes the input; limits are
413 (too big), 429/503 with ``Retry-After`` (busy), 504 (deadline); anything else is a 500 whose body
carries only a request id (the traceback goes to the log, under the same id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from jina_local_rerank.errors import InvalidArgumentError

logger = logging.getLogger("jina_local_rerank.server")

REQUEST_ID_HEADER = "x-request-id"
MAX_ERRORS = 20
MAX_LOCATION_PART = 64
MAX_MESSAGE = 300


class ApiError(Exception):
    """An answer other than 200 that the server chose on purpose."""

    status = 400

    def __init__(self, detail: str | list[dict[str, Any]], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail if isinstance(detail, str) else "invalid request")
        self.detail = detail
        self.headers = dict(headers or {})


class InvalidRequest(ApiError):
    """The body is not a request we can read (bad JSON, wrong types, unknown fields)."""

    status = 422


class Unauthorized(ApiError):
    status = 401

    def __init__(self) -> None:
        super().__init__(
            "Missing or wrong API key: send 'Authorization: Bearer <key>'.", {"WWW-Authenticate": "Bearer"}
        )


class ModelNotServed(ApiError):
    status = 404


class TooLarge(ApiError):
    """The request asks for more than the limits allow (documents, characters, tokens, bytes)."""

    status = 413


class Busy(ApiError):
    """The model's queue is full: try again shortly."""

    status = 503

    def __init__(self, detail: str, retry_after_s: int = 1) -> None:
        super().__init__(detail, {"Retry-After": str(retry_after_s)})


class DeadlineExceeded(ApiError):
    """The request was not answered within ``request_timeout``; its queued work was dropped."""

    status = 504


class ClientGone(Exception):
    """The client disconnected before its answer was ready; nobody is left to answer."""


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _location(parts: Iterable[Any]) -> list[str | int]:
    out: list[str | int] = []
    for part in list(parts)[:16]:
        out.append(
            part if isinstance(part, int) and not isinstance(part, bool) else _short(str(part), MAX_LOCATION_PART)
        )
    return out


def describe_validation_errors(
    errors: Sequence[Mapping[str, Any]], prefix: Sequence[str] = ("body",)
) -> list[dict[str, Any]]:
    """Bounded ``{loc, msg, type}`` entries from pydantic's errors: the offending input is never included."""
    described = [
        {
            "loc": _location([*prefix, *error.get("loc", ())]),
            "msg": _short(str(error.get("msg", "")), MAX_MESSAGE),
            "type": _short(str(error.get("type", "")), MAX_LOCATION_PART),
        }
        for error in errors[:MAX_ERRORS]
    ]
    if len(errors) > MAX_ERRORS:
        described.append({"loc": [], "msg": f"... and {len(errors) - MAX_ERRORS} more errors", "type": "truncated"})
    return described


def validation_error(exc: ValidationError) -> InvalidRequest:
    return InvalidRequest(describe_validation_errors(exc.errors(include_input=False, include_url=False)))


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_body(detail: Any, request_id: str | None) -> dict[str, Any]:
    """The JSON of every error answer: ``detail`` and, when known, the request id."""
    body: dict[str, Any] = {"detail": detail}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def error_response(
    status: int, detail: Any, request_id: str | None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(detail, request_id), status_code=status, headers=dict(headers or {}))


def internal_error_message(request_id: str) -> str:
    return f"Internal server error (request id {request_id})."


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception a route can raise to its answer (unknown ones reach the guard: 500)."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.detail, request_id_of(request), exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, describe_validation_errors(list(exc.errors()), prefix=()), request_id_of(request))

    async def on_invalid_input(request: Request, exc: Exception) -> JSONResponse:
        # The core refused the request's content (e.g. a text jina-reranker-v3 cannot hold): the
        # client's mistake, found only once the model's rules applied. Other ValueErrors stay 500s.
        return error_response(422, _short(str(exc), MAX_MESSAGE), request_id_of(request))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        return error_response(exc.status_code, _short(detail, MAX_MESSAGE), request_id_of(request), exc.headers)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(InvalidArgumentError, on_invalid_input)
    app.add_exception_handler(StarletteHTTPException, on_http)
