"""The opt-in score cache: ``Reranker(..., cache_size=N)`` answers repeated model inputs without a forward.

Cached results equal uncached ones on every fixture family (v2, v1 windows; v3 blocks), repeated
calls return exactly the first floats, the LRU keeps at most N small entries whatever the text
size, and concurrent callers share it safely.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from conftest import FIXTURES, V1_TINY, V2_TINY
from hypothesis import given
from hypothesis import strategies as st
from strategies import PROPERTY_SETTINGS

from jina_local_rerank import InvalidArgumentError, Reranker
from jina_local_rerank.scoring.score_cache import DIGEST_BYTES, CacheStats, ScoreCache, input_digest

V3_TINY = FIXTURES / "jina-v3-tiny"
FOLDERS = {"v2": V2_TINY, "v1": V1_TINY, "v3": V3_TINY}

QUERY = "Organic skincare products for sensitive skin"
DOCUMENTS = [
    "Organic skincare for sensitive skin with aloe vera and chamomile.",
    "New makeup trends focus on bold colors and innovative techniques.",
    "Bio-Hautpflege für empfindliche Haut mit Aloe Vera und Kamille.",
    "Organic skincare for sensitive skin with aloe vera and chamomile.",  # a repeat: one model input
    "long text about skin care " * 120,  # several windows
]


def load(family: str, cache_size: int | None = None) -> Reranker:
    return Reranker(FOLDERS[family], device="cpu", dtype="float32", cache_size=cache_size)


@pytest.fixture(scope="module", params=list(FOLDERS))
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def uncached(family: str) -> Reranker:
    return load(family)


@pytest.fixture(scope="module")
def cached(family: str) -> Reranker:
    return load(family, cache_size=1000)


@pytest.fixture
def cache_of(cached: Reranker) -> Iterator[ScoreCache[object]]:
    assert cached.cache is not None
    cached.cache.clear()
    yield cached.cache


@contextmanager
def forwards() -> Iterator[list[int]]:
    """A live count of torch module calls in this process while scoring (a real global forward hook)."""
    calls = [0]

    def count(*_: object) -> None:
        calls[0] += 1

    handle = torch.nn.modules.module.register_module_forward_hook(count)
    try:
        yield calls
    finally:
        handle.remove()


# ---------------------------------------------------------------- the LRU itself


def key(number: int) -> tuple[tuple[str, ...], bytes]:
    return (("model",), input_digest([number]))


def test_lru_evicts_the_least_recently_used_at_capacity() -> None:
    cache: ScoreCache[float] = ScoreCache(2)
    cache.put(key(1), 0.1)
    cache.put(key(2), 0.2)
    assert cache.get(key(1)) == 0.1  # 1 is now the most recent
    cache.put(key(3), 0.3)  # evicts 2
    assert key(2) not in cache and key(1) in cache and key(3) in cache
    assert cache.get(key(2)) is None
    cache.put(key(4), 0.4)  # evicts 1 (3 was stored after 1 was read)
    assert key(1) not in cache
    assert cache.stats() == CacheStats(hits=1, misses=1, evictions=2, size=2, capacity=2)
    assert cache.hit_rate == 0.5 and cache.size == 2


def test_storing_a_key_again_refreshes_it_without_growing() -> None:
    cache: ScoreCache[float] = ScoreCache(2)
    cache.put_many([(key(1), 0.1), (key(2), 0.2), (key(1), 0.11)])
    cache.put(key(3), 0.3)  # 2 is the least recent now
    assert cache.get_many([key(1), key(2), key(3)]) == [0.11, None, 0.3]
    assert cache.size == 2 and cache.evictions == 1


def test_clear_drops_entries_and_counters() -> None:
    cache: ScoreCache[float] = ScoreCache(3)
    cache.put(key(1), 0.5)
    cache.get(key(1))
    cache.get(key(2))
    cache.clear()
    assert cache.stats() == CacheStats(0, 0, 0, 0, 3)
    assert cache.hit_rate == 0.0  # no lookups: no division by zero


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True, "3", None])
def test_capacity_must_be_a_positive_int(capacity: object) -> None:
    with pytest.raises(ValueError, match="capacity must be a positive integer"):
        ScoreCache(capacity)  # type: ignore[arg-type]


def test_the_lru_stays_consistent_under_concurrent_use() -> None:
    cache: ScoreCache[float] = ScoreCache(50)

    def work(seed: int) -> int:
        rng = np.random.default_rng(seed)
        for number in rng.integers(0, 200, size=2000):
            if cache.get(key(int(number))) is None:
                cache.put(key(int(number)), float(number))
        return seed

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    stats = cache.stats()
    assert stats.hits + stats.misses == 8 * 2000
    # Two threads may miss the same key and both store it: the second store adds no entry.
    assert stats.size == 50 and 0 < stats.evictions <= stats.misses - 50
    held = [(number, cache.get(key(number))) for number in range(200)]
    assert [value for number, value in held if value is not None] == [
        float(number) for number, value in held if value is not None
    ]
    assert sum(value is not None for _, value in held) == 50


def test_digests_are_small_and_tell_inputs_apart() -> None:
    assert len(input_digest(list(range(1_000_000)))) == DIGEST_BYTES  # the size of a key never depends on the text
    assert input_digest([1, 2], [3]) != input_digest([1], [2, 3])
    assert input_digest([1, 2], None) != input_digest([1, 2], [])
    assert input_digest([1, 2], [0, 0]) != input_digest([1, 2], [0, 1])
    assert input_digest([1, 2]) == input_digest(np.array([1, 2], dtype=np.int32))


# ---------------------------------------------------------------- Reranker(cache_size=...)


@pytest.mark.parametrize("size", [-1, 2.5, True, "10", [3]])
def test_a_bad_cache_size_is_refused_before_anything_loads(size: object) -> None:
    with pytest.raises(InvalidArgumentError, match="cache_size must be a non-negative integer"):
        Reranker("no/such-model-anywhere", cache_size=size, local_files_only=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [None, 0])
def test_no_cache_by_default_or_with_zero(size: int | None) -> None:
    assert Reranker(V2_TINY, lazy=True, cache_size=size).cache is None


def test_cached_results_equal_uncached_and_repeat_exactly(
    cached: Reranker, uncached: Reranker, cache_of: ScoreCache[object]
) -> None:
    first = cached.score_documents(QUERY, DOCUMENTS)
    reference = uncached.score_documents(QUERY, DOCUMENTS)
    np.testing.assert_allclose(first.scores, reference.scores, rtol=0, atol=1e-6)
    stored = cache_of.stats()
    assert stored.hits == 0 and stored.size == stored.misses > 0
    again = cached.score_documents(QUERY, DOCUMENTS)
    assert again.scores == first.scores  # exactly the floats computed the first time
    assert [w.input_ids for w in again.windows] == [w.input_ids for w in first.windows]
    assert cache_of.stats() == CacheStats(stored.size, stored.misses, 0, stored.size, 1000)  # all hits


def test_rerank_and_compute_score_use_the_cache(
    cached: Reranker, uncached: Reranker, cache_of: ScoreCache[object]
) -> None:
    pairs = [[QUERY, document] for document in DOCUMENTS[:3]]
    scores = cached.compute_score(pairs)
    np.testing.assert_allclose(scores, uncached.compute_score(pairs), rtol=0, atol=1e-6)
    misses = cache_of.misses
    assert cached.compute_score(pairs) == scores and cache_of.misses == misses and cache_of.hits == 3
    ranked = cached.rerank(QUERY, DOCUMENTS, top_n=3)
    expected = uncached.rerank(QUERY, DOCUMENTS, top_n=3)
    assert [r.index for r in ranked] == [r.index for r in expected]
    np.testing.assert_allclose(
        [r.relevance_score for r in ranked], [r.relevance_score for r in expected], rtol=0, atol=1e-6
    )


def test_a_call_made_only_of_hits_runs_no_forward(cached: Reranker, cache_of: ScoreCache[object]) -> None:
    with forwards() as calls:
        cached.score_documents(QUERY, DOCUMENTS)
        ran = calls[0]
        assert ran > 0
        cached.score_documents(QUERY, DOCUMENTS)
        cached.score_many([(QUERY, DOCUMENTS), (QUERY, DOCUMENTS)])
        if not cached.is_listwise:  # windows are cached one by one: any subset of known documents is known
            cached.score_many([(QUERY, DOCUMENTS[:2]), (QUERY, DOCUMENTS[3:])])
            cached.compute_score([[QUERY, DOCUMENTS[0]]], max_length=cached.pipeline.limits.rerank_max_length)
        assert calls[0] == ran


def test_only_new_inputs_are_sent_to_the_model(cached: Reranker, cache_of: ScoreCache[object]) -> None:
    if cached.is_listwise:
        pytest.skip("v3 caches whole blocks; see test_v3_caches_blocks_not_documents")
    cached.score_documents(QUERY, DOCUMENTS[:2])
    misses = cache_of.misses
    cached.score_documents(QUERY, DOCUMENTS[:3])  # two known documents, one new
    assert cache_of.misses == misses + 1 and cache_of.hits == 2


def test_a_different_query_document_or_length_is_a_miss(cached: Reranker, cache_of: ScoreCache[object]) -> None:
    cached.score_documents(QUERY, DOCUMENTS[:1])
    assert (cache_of.hits, cache_of.misses) == (0, 1)
    cached.score_documents(QUERY + "!", DOCUMENTS[:1])
    cached.score_documents(QUERY, [DOCUMENTS[0] + " Really."])
    assert (cache_of.hits, cache_of.misses) == (0, 3)
    # A limit that cuts the input changes what the model reads (v1/v2: windows; v3: the document cut).
    cached.score_documents(QUERY, DOCUMENTS[:1], max_length=12)
    new = cache_of.misses - 3
    assert cache_of.hits == 0 and new >= 1
    cached.score_documents(QUERY, DOCUMENTS[:1], max_length=12)
    assert (cache_of.hits, cache_of.misses) == (new, 3 + new)


def test_capacity_bounds_entries_and_evicts_least_recent(family: str) -> None:
    reranker = load(family, cache_size=2)
    assert reranker.cache is not None
    a, b, c = "aloe vera", "makeup trends", "chamomile tea"
    for document in (a, b, a, c):  # a is used again before c arrives, so b is the one evicted
        reranker.score_documents(QUERY, [document])
    stats = reranker.cache.stats()
    assert (stats.hits, stats.misses, stats.evictions, stats.size) == (1, 3, 1, 2)
    reranker.score_documents(QUERY, [a])
    reranker.score_documents(QUERY, [b])
    stats = reranker.cache.stats()
    assert (stats.hits, stats.misses, stats.evictions, stats.size) == (2, 4, 2, 2)


@pytest.mark.slow
def test_huge_texts_never_hold_more_than_capacity_entries(family: str) -> None:
    reranker = load(family, cache_size=3)
    assert reranker.cache is not None
    huge = "hostile filler text " * 50_000  # 1 MB
    for query in (huge[:20_000], "short"):
        reranker.score_documents(query, [huge, huge[: len(huge) // 2], "short"])
        assert reranker.cache.size <= 3
    stats = reranker.cache.stats()
    assert stats.size == 3 and stats.evictions >= 1


def test_concurrent_callers_share_the_cache(cached: Reranker, uncached: Reranker, cache_of: ScoreCache[object]) -> None:
    requests = [(QUERY, DOCUMENTS[i : i + 3]) for i in range(3)] + [("trains", DOCUMENTS[:2])]
    reference = [uncached.score_documents(q, d).scores for q, d in requests]
    barrier = threading.Barrier(8)

    def call(index: int) -> tuple[int, list[float]]:
        barrier.wait()
        q, d = requests[index % len(requests)]
        return index % len(requests), cached.score_documents(q, d).scores

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(32)))
    for index, scores in answers:
        np.testing.assert_allclose(scores, reference[index], rtol=0, atol=1e-6)
    stats = cache_of.stats()
    assert stats.hits > 0 and stats.size <= stats.capacity


def test_v3_caches_blocks_not_documents(cache_of: ScoreCache[object], cached: Reranker, uncached: Reranker) -> None:
    if not cached.is_listwise:
        pytest.skip("jina-reranker-v3 only")
    first = cached.listwise_scorer.score_many([(QUERY, DOCUMENTS[:3])])[0]
    assert (cache_of.hits, cache_of.misses) == (0, 1)  # one block
    again = cached.listwise_scorer.score_many([("another query", ["x"]), (QUERY, DOCUMENTS[:3])])[1]
    assert (cache_of.hits, cache_of.misses) == (1, 2)
    assert again.scores == first.scores
    np.testing.assert_array_equal(again.query_embedding, first.query_embedding)
    np.testing.assert_array_equal(again.document_embeddings, first.document_embeddings)
    assert not again.blocks[0].document_embeddings.flags.writeable  # the cached arrays cannot be altered
    # The same documents in another order make another prompt: a document's score depends on its block.
    swapped = cached.listwise_scorer.score_many([(QUERY, [DOCUMENTS[1], DOCUMENTS[0], DOCUMENTS[2]])])[0]
    assert cache_of.misses == 3
    reference = uncached.listwise_scorer.score_many([(QUERY, [DOCUMENTS[1], DOCUMENTS[0], DOCUMENTS[2]])])[0]
    np.testing.assert_allclose(swapped.scores, reference.scores, rtol=0, atol=1e-6)


def test_instruction_is_part_of_a_v3_block(cached: Reranker, cache_of: ScoreCache[object]) -> None:
    if not cached.is_listwise:
        pytest.skip("jina-reranker-v3 only")
    plain = cached.score_documents(QUERY, DOCUMENTS[:2]).scores
    instructed = cached.score_documents(QUERY, DOCUMENTS[:2], instruction="Prefer German documents.").scores
    assert cache_of.misses == 2 and cache_of.hits == 0
    assert instructed != plain


# ---------------------------------------------------------------- property: cached == uncached


pool_queries = st.sampled_from([QUERY, "trains", "", "Bio-Hautpflege"])
pool_documents = st.lists(st.sampled_from([*DOCUMENTS, "", "aloe", "🙂 emoji"]), min_size=0, max_size=4)
request_sequences = st.lists(
    st.tuples(pool_queries, pool_documents, st.sampled_from([None, 24, 64])), min_size=1, max_size=6
)


@pytest.fixture(scope="module")
def small_cache_v2() -> Reranker:
    return load("v2", cache_size=3)


@pytest.fixture(scope="module")
def uncached_v2() -> Reranker:
    return load("v2")


@pytest.mark.slow
@PROPERTY_SETTINGS
@given(sequence=request_sequences)
def test_any_request_sequence_gives_uncached_results_within_capacity(
    small_cache_v2: Reranker, uncached_v2: Reranker, sequence: list[tuple[str, list[str], int | None]]
) -> None:
    cache = small_cache_v2.cache
    assert cache is not None
    cache.clear()
    for query, documents, max_length in sequence:
        got = small_cache_v2.score_documents(query, documents, max_length=max_length).scores
        want = uncached_v2.score_documents(query, documents, max_length=max_length).scores
        # Hits are exact; a miss may run in a different padded batch than the uncached call puts it in
        # (its neighbours were cached), and fp32 kernels then differ in the last bits (1.3e-6 seen).
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        assert cache.size <= cache.capacity
    stats = cache.stats()
    assert stats.size <= stats.capacity and stats.size + stats.evictions <= stats.misses


def test_the_fingerprint_tells_differently_run_models_apart(cached: Reranker) -> None:
    """Keys carry the model's identity, so one cache shared by two models never mixes their scores."""
    scorer = cached.listwise_scorer if cached.is_listwise else cached.pipeline.scorer
    assert scorer.cache is cached.cache
    assert str(cached.model_name) in scorer.fingerprint and "dtype=float32" in " ".join(scorer.fingerprint)
    if not cached.is_listwise:
        other = Reranker(cached.model_name, device="cpu", dtype="bfloat16", cache_size=10)
        assert other.pipeline.scorer.fingerprint != scorer.fingerprint


def test_shared_rerankers_share_a_cache_per_size_and_refuse_a_bad_size():
    from jina_local_rerank import InvalidArgumentError, shared_reranker

    settings = {"device": "cpu", "dtype": "float32"}
    cached = shared_reranker(str(V2_TINY), cache_size=32, **settings)
    assert cached is shared_reranker(str(V2_TINY), cache_size=32, **settings)
    assert cached.cache is not None and cached.cache.capacity == 32
    uncached = shared_reranker(str(V2_TINY), cache_size=0, **settings)
    assert uncached is shared_reranker(str(V2_TINY), **settings) and uncached.cache is None
    assert uncached is not cached
    for bad in (-1, 2.5, True):
        with pytest.raises(InvalidArgumentError, match="cache_size"):
            shared_reranker(str(V2_TINY), cache_size=bad, **settings)
