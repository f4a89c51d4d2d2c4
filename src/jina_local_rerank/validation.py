"""Input checks that turn bad arguments into errors naming the argument and its position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _type_name(value: Any) -> str:
    return type(value).__name__


def check_query(query: Any) -> str:
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {_type_name(query)}.")
    return query


def check_documents(documents: Any) -> list[str]:
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
        raise TypeError(f"documents must be a list of str, got {_type_name(documents)}.")
    for position, document in enumerate(documents):
        if not isinstance(document, str):
            raise TypeError(f"documents[{position}] must be a str, got {_type_name(document)}.")
    return list(documents)


def is_single_pair(pairs: Any) -> bool:
    """Jina's rule: a pair is a sequence whose first item is a string."""
    return isinstance(pairs, (list, tuple)) and len(pairs) > 0 and isinstance(pairs[0], str)


def check_pairs(pairs: Any) -> list[tuple[str, str]]:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(f"sentence_pairs must be a list of [query, document] pairs, got {_type_name(pairs)}.")
    checked: list[tuple[str, str]] = []
    for position, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(
                f"sentence_pairs[{position}] must be a [query, document] pair of two str, got {pair!r:.80}."
            )
        for side, text in enumerate(pair):
            if not isinstance(text, str):
                raise TypeError(f"sentence_pairs[{position}][{side}] must be a str, got {_type_name(text)}.")
        checked.append((pair[0], pair[1]))
    return checked


def check_positive_int(name: str, value: Any, *, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}.")
    return value


def check_non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
    return value
