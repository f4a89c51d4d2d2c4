"""Strict JSON reading for request bodies: the only parser between raw bytes and the schemas.

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``1e400`` (a float overflow) and keeps lone
surrogate escapes; none of them can be written back as JSON, so here non-finite numbers are a 422,
every string and key is cleaned (lone surrogates become U+FFFD), and nesting is bounded.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from jina_local_rerank.server.context import context_of
from jina_local_rerank.server.errors import InvalidRequest, validation_error
from jina_local_rerank.server.schemas import clean_text

MAX_DEPTH = 32

Schema = TypeVar("Schema", bound=BaseModel)


async def read_request(request: Request, schema: type[Schema]) -> Schema:
    """The body as ``schema``: strict JSON, then the server's document limit (an oversized list is
    refused before pydantic walks it), then the schema; every failure is a 4xx naming the problem."""
    data = parse_json_body(await request.body())
    context_of(request).scorer.check_document_count(data)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _reject_constant(name: str) -> float:
    raise InvalidRequest(f"Invalid JSON: {name} is not a number JSON allows.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidRequest(f"Invalid JSON: the number {text[:40]} is too large for a 64-bit float.")
    return value


def parse_json_body(raw: bytes) -> Any:
    """The decoded body; ``InvalidRequest`` (422) naming the problem if it is not strict, finite JSON."""
    if not raw.strip():
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The request body is not UTF-8 (invalid byte at offset {exc.start}).") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from None
    except RecursionError:
        raise InvalidRequest(f"Invalid JSON: nested deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise InvalidRequest(f"Invalid JSON: {str(exc)[:120]}") from None
    return _cleaned(value)


def _cleaned(value: Any) -> Any:
    """``value`` with every string and key cleaned, refusing nesting deeper than ``MAX_DEPTH`` (iterative)."""
    if isinstance(value, str):
        return clean_text(value)
    root: list[Any] = [value]
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidRequest(f"The request is nested deeper than {MAX_DEPTH} levels.")
        if isinstance(container, dict):
            items = list(container.items())
            if any(isinstance(key, str) and clean_text(key) is not key for key, _ in items):
                container.clear()
                container.update((clean_text(key), item) for key, item in items)
                items = list(container.items())
            for key, item in items:
                if isinstance(item, str):
                    container[key] = clean_text(item)
                elif isinstance(item, (dict, list)):
                    stack.append((item, depth + 1))
        else:
            for position, item in enumerate(container):
                if isinstance(item, str):
                    container[position] = clean_text(item)
                elif isinstance(item, (dict, list)):
                    stack.append((item, depth + 1))
    return root[0]
