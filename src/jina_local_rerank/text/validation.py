"""Input checks that turn bad arguments into errors naming the argument and its position.

Public: the adapters validate their constructor and run-time options with these same functions,
so every entry point accepts the same values and words its errors the same way.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from typing import Any

from jina_local_rerank.errors import InvalidArgumentError


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


def check_pairs(pairs: Any, name: str = "sentence_pairs") -> list[tuple[str, str]]:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(f"{name} must be a list of [query, document] pairs, got {_type_name(pairs)}.")
    checked: list[tuple[str, str]] = []
    for position, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"{name}[{position}] must be a [query, document] pair of two str, got {pair!r:.80}.")
        for side, text in enumerate(pair):
            if not isinstance(text, str):
                raise TypeError(f"{name}[{position}][{side}] must be a str, got {_type_name(text)}.")
        checked.append((pair[0], pair[1]))
    return checked


def check_positive_int(name: str, value: Any, *, allow_none: bool = True) -> int | None:
    """``value`` if it is an ``int`` >= 1 (``bool`` is not), or ``None`` where allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(
            f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r:.80}."
        )
    return value


def check_non_negative_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    """``value`` if it is an ``int`` >= 0 (``bool`` is not), or ``None`` where allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"{name} must be a non-negative integer, got {value!r:.80}.")
    return value


def check_score_threshold(name: str, value: Any) -> float | None:
    """``None`` or a finite real number (scores are compared with it), as a ``float``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be a finite number or None, got {value!r:.80}.")
    return float(value)


def check_bool(name: str, value: Any, *, allow_none: bool = False) -> bool | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        raise InvalidArgumentError(
            f"{name} must be True or False{' or None' if allow_none else ''}, got {value!r:.80}."
        )
    return value


def check_text_option(name: str, value: Any, *, allow_none: bool = False) -> str | None:
    """A ``str`` setting (model name, separator, dtype spelling)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"{name} must be a str{' or None' if allow_none else ''}, got {type(value).__name__}."
        )
    return value


def check_str_list(name: str, value: Any, *, allow_none: bool = True) -> list[str] | None:
    if value is None and allow_none:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidArgumentError(f"{name} must be a list of str, got {type(value).__name__}.")
    for position, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidArgumentError(f"{name}[{position}] must be a str, got {type(item).__name__}.")
    return list(value)


def check_window_sizes(max_length: int, max_query_length: int) -> None:
    """A window holds the query and at least as much document: ``max_length >= 2 * max_query_length``."""
    if max_length < 2 * max_query_length:
        raise InvalidArgumentError(
            f"max_length ({max_length}) must be at least 2 * max_query_length "
            f"(2 * {max_query_length} = {2 * max_query_length})."
        )


def check_rerank_options(
    *,
    max_length: Any = None,
    max_query_length: Any = None,
    overlap: Any = None,
    batch_size: Any = None,
) -> None:
    """Every option of ``Reranker.rerank`` that can be checked without the model, in one call.

    ``None`` leaves an option to the model's default (``overlap``: 80 for windowed models).
    """
    check_positive_int("max_length", max_length)
    check_positive_int("max_query_length", max_query_length)
    if overlap is not None:
        check_non_negative_int("overlap", overlap)
    check_positive_int("batch_size", batch_size)
    if max_length is not None and max_query_length is not None:
        check_window_sizes(max_length, max_query_length)


def reject_unknown_options(
    owner: str, given: Iterable[str], known: Iterable[str], renamed: dict[str, str] | None = None
) -> None:
    """Raise naming the first option ``owner`` does not take, and the one that was probably meant."""
    known = list(known)
    for name in given:
        if name in known:
            continue
        suggestion = (renamed or {}).get(name) or next(iter(difflib.get_close_matches(name, known, n=1)), None)
        hint = f" Did you mean {suggestion!r}?" if suggestion else f" It takes: {', '.join(sorted(known))}."
        raise InvalidArgumentError(f"{owner} got an unknown option {name!r}.{hint}")
