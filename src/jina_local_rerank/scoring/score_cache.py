"""An opt-in LRU cache of scores, keyed by model identity and a fixed-size digest of the model input.

Repeated inputs (multi-turn RAG, pagination, retries) then cost no forward. A key never holds the
text itself: the model input (token ids, and token type ids where the model reads them) already
encodes query, document and truncation, and its 16-byte BLAKE2b digest stands for it, so an entry
has the same small size however long the texts are. ``capacity`` bounds the number of entries.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from jina_local_rerank.runtime.plan import ExecutionPlan
from jina_local_rerank.text import validation

V = TypeVar("V")

DIGEST_BYTES = 16

# What the model is: every entry of one cache shares this small tuple (one object, not a copy per entry).
ModelFingerprint = tuple[str, ...]
CacheKey = tuple[ModelFingerprint, bytes]


def input_digest(*token_arrays: Sequence[int] | None) -> bytes:
    """A 16-byte BLAKE2b digest of one model input: each array's int64 bytes, with its length.

    ``None`` (a model without token types) hashes differently from an empty array, and the lengths
    keep ``([1, 2], [3])`` apart from ``([1], [2, 3])``.
    """
    digest = hashlib.blake2b(digest_size=DIGEST_BYTES)
    for tokens in token_arrays:
        if tokens is None:
            digest.update(b"\xff" * 8)
            continue
        array = np.asarray(tokens, dtype=np.int64)
        digest.update(np.int64(array.size).tobytes())
        digest.update(array.tobytes())
    return digest.digest()


def model_fingerprint(model_name: str, revision: str | None, folder: Path, plan: ExecutionPlan) -> ModelFingerprint:
    """What makes one loaded model's scores: checkpoint (name, revision, resolved folder) and how it runs.

    The plan's description covers backend, precision or dtype, device, attention and the speed-ups,
    so a cache shared by two differently run models never serves one's scores to the other.
    """
    return (model_name, revision or "", str(folder), plan.describe())


@dataclass(frozen=True)
class CacheStats:
    """A consistent snapshot of a ``ScoreCache``'s counters."""

    hits: int
    misses: int
    evictions: int
    size: int
    capacity: int

    @property
    def hit_rate(self) -> float:
        """Hits over lookups; 0.0 before the first lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class ScoreCache(Generic[V]):
    """A thread-safe least-recently-used map from ``CacheKey`` to a scoring result.

    A lookup that finds its key counts a hit and makes the entry the most recent; one that does not
    counts a miss. Storing beyond ``capacity`` evicts the least recently used entries.
    """

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r:.80}.")
        self._capacity = capacity
        self._entries: OrderedDict[CacheKey, V] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def __repr__(self) -> str:
        stats = self.stats()
        return (
            f"ScoreCache(size={stats.size}, capacity={stats.capacity}, hits={stats.hits}, "
            f"misses={stats.misses}, evictions={stats.evictions})"
        )

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is held (counts nothing and leaves the order alone)."""
        with self._lock:
            return key in self._entries

    def get(self, key: CacheKey) -> V | None:
        """The value stored under ``key``, or ``None``."""
        return self.get_many([key])[0]

    def get_many(self, keys: Iterable[CacheKey]) -> list[V | None]:
        """``get`` of each key under one lock acquisition."""
        found: list[V | None] = []
        with self._lock:
            for key in keys:
                value = self._entries.get(key)
                if value is None:
                    self._misses += 1
                else:
                    self._hits += 1
                    self._entries.move_to_end(key)
                found.append(value)
        return found

    def put(self, key: CacheKey, value: V) -> None:
        """Store ``value`` as the most recent entry, evicting the least recent beyond capacity."""
        self.put_many([(key, value)])

    def put_many(self, items: Iterable[tuple[CacheKey, V]]) -> None:
        """``put`` of each item under one lock acquisition."""
        with self._lock:
            for key, value in items:
                if value is None:
                    raise ValueError("A score cache cannot store None.")
                self._entries[key] = value
                self._entries.move_to_end(key)
                while len(self._entries) > self._capacity:
                    self._entries.popitem(last=False)
                    self._evictions += 1

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = self._evictions = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._entries), self._capacity)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def hits(self) -> int:
        with self._lock:
            return self._hits

    @property
    def misses(self) -> int:
        with self._lock:
            return self._misses

    @property
    def evictions(self) -> int:
        with self._lock:
            return self._evictions

    @property
    def hit_rate(self) -> float:
        return self.stats().hit_rate


def make_score_cache(cache_size: object) -> ScoreCache[Any] | None:
    """``Reranker``'s ``cache_size``: ``None`` or ``0`` -> no cache; a positive int -> a cache of that many entries."""
    size = validation.check_non_negative_int("cache_size", cache_size, allow_none=True)
    return ScoreCache(size) if size else None
