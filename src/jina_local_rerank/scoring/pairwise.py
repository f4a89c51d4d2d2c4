"""The cross-encoder path of a request: text -> windows -> token-budget batches -> scores per document.

``PairwisePipeline`` holds a loaded model's tokenizer, its ``PairScorer`` and its length limits;
``Reranker`` validates arguments and hands them here for every model but jina-reranker-v3.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from jina_local_rerank.options import DEFAULT_MAX_QUERY_LENGTH, DEFAULT_OVERLAP, DEFAULT_RERANK_MAX_LENGTH
from jina_local_rerank.results import DocumentScores, ScoredWindow
from jina_local_rerank.runtime.batching import pipeline_chunks
from jina_local_rerank.scoring.inference import PairScorer
from jina_local_rerank.text import validation
from jina_local_rerank.text.tokenization import EncodedPair, PairTokenizer
from jina_local_rerank.text.windows import document_chunks, plan_windows, window_limits

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LengthLimits:
    """What lengths a loaded cross-encoder takes, and the defaults of its ``rerank``."""

    model_name: str
    max_length: int  # compute_score's default: the longest pair the model takes
    hard_max_length: int | None  # beyond this the model cannot read (None: no limit)
    rerank_max_length: int = DEFAULT_RERANK_MAX_LENGTH
    rerank_max_query_length: int = DEFAULT_MAX_QUERY_LENGTH
    long_context_hint: bool = False  # JinaBERT: allow_long_context=True would lift the limit

    def check(self, max_length: int, minimum: int) -> int:
        """``max_length`` if the model can take it and a pair fits in it, else a clear error."""
        validation.check_positive_int("max_length", max_length, allow_none=False)
        hard = self.hard_max_length
        if hard is not None and max_length > hard:
            hint = (
                " Reranker(..., allow_long_context=True) lets ALiBi extrapolate beyond it."
                if self.long_context_hint
                else ""
            )
            raise ValueError(f"max_length={max_length} exceeds what {self.model_name} can take ({hard} tokens).{hint}")
        if max_length < minimum:
            raise ValueError(f"max_length={max_length} is too small: a pair needs at least {minimum} tokens.")
        return max_length


def check_requests(
    requests: Sequence[tuple[str, Sequence[str]]],
    max_length: int | None,
    max_query_length: int | None,
    overlap: int | None,
    batch_size: int | None,
) -> list[tuple[str, list[str]]]:
    """Queries, documents and window options of ``rerank`` checked before any model work."""
    checked = [(validation.check_query(q), validation.check_documents(d)) for q, d in requests]
    validation.check_rerank_options(
        max_length=max_length, max_query_length=max_query_length, overlap=overlap, batch_size=batch_size
    )
    return checked


class PairwisePipeline:
    """Windows, batches and scores of a cross-encoder (v1, v2, any other checkpoint)."""

    def __init__(self, tokenizer: PairTokenizer, scorer: PairScorer, limits: LengthLimits) -> None:
        self.tokenizer = tokenizer
        self.scorer = scorer
        self.limits = limits

    def compute_score(
        self, pairs: Sequence[tuple[str, str]], max_length: int | None, batch_size: int | None, progress: bool
    ) -> list[float]:
        """Sigmoid score of each pair, truncated ``longest_first`` to ``max_length`` (``None``: the model's)."""
        limit = self.limits.check(
            self.limits.max_length if max_length is None else max_length, self.tokenizer.template.num_special_tokens + 2
        )
        encoded = self.tokenizer.encode_pairs([q for q, _ in pairs], [d for _, d in pairs], limit)
        return self.scorer.score(encoded, batch_size, progress)

    def window_limits(self, max_length: int | None, max_query_length: int | None) -> tuple[int, int]:
        """``rerank``'s window size and query limit with this model's defaults, checked against the model."""
        limits = window_limits(
            max_length,
            max_query_length,
            self.limits.max_length,
            self.limits.rerank_max_length,
            self.limits.rerank_max_query_length,
        )
        self.limits.check(limits[0], 1)
        return limits

    def windows(
        self,
        query: str,
        documents: Sequence[str],
        max_length: int | None = None,
        max_query_length: int | None = None,
        overlap: int = DEFAULT_OVERLAP,
    ) -> list[EncodedPair]:
        """The model inputs ``rerank`` scores for one request, in document order (``None``: the defaults)."""
        max_length, max_query_length = self.window_limits(max_length, max_query_length)
        return [
            pair for _, pair in plan_windows(self.tokenizer, query, documents, max_length, max_query_length, overlap)
        ]

    def score_many(
        self,
        requests: Sequence[tuple[str, Sequence[str]]],
        max_length: int | None,
        max_query_length: int | None,
        overlap: int | None,
        batch_size: int | None,
        progress: bool,
        only_v3: Mapping[str, object] | None = None,
    ) -> list[DocumentScores]:
        """Each request's documents scored by their best window; all requests' windows share batches.

        ``only_v3`` holds jina-reranker-v3's own options as given; any that is set is an error here.
        """
        for name, value in (only_v3 or {}).items():
            if value is not None:
                raise ValueError(
                    f"{name} applies to jina-reranker-v3 only; {self.limits.model_name} scores windows "
                    "(use max_length / max_query_length / overlap)."
                )
        overlap = DEFAULT_OVERLAP if overlap is None else overlap
        checked = check_requests(requests, max_length, max_query_length, overlap, batch_size)
        if not any(documents for _, documents in checked):
            return [DocumentScores([], []) for _ in checked]
        max_length, max_query_length = self.window_limits(max_length, max_query_length)
        spans = pipeline_chunks(sum(len(documents) for _, documents in checked))
        if not self.scorer.pipelines_tokenization:
            spans = [range(spans[-1].stop)] if spans else []
        # One record per chunk drawn: which (request, document) each window belongs to, and the windows.
        drawn: list[tuple[list[tuple[int, int]], list[EncodedPair]]] = []

        def draw() -> Iterator[list[EncodedPair]]:
            # Tokenized lazily: on a GPU the previous chunk's batches run meanwhile.
            for chunk in document_chunks(checked, spans):
                owners, pairs = self._chunk_windows(checked, chunk, max_length, max_query_length, overlap)
                drawn.append((owners, pairs))
                yield pairs

        chunk_scores = self.scorer.score_chunks(draw(), batch_size, progress)
        best = [[float("-inf")] * len(documents) for _, documents in checked]
        windows: list[list[ScoredWindow]] = [[] for _ in checked]
        for (owners, pairs), scores in zip(drawn, chunk_scores, strict=True):
            for (request_index, position), pair, score in zip(owners, pairs, scores, strict=True):
                best[request_index][position] = max(best[request_index][position], score)
                windows[request_index].append(ScoredWindow(position, pair.input_ids, score))
        count = sum(len(pairs) for _, pairs in drawn)
        logger.debug("Scored %d checked as %d windows of at most %d tokens", len(checked), count, max_length)
        return [DocumentScores(b, w) for b, w in zip(best, windows, strict=True)]

    def _chunk_windows(
        self,
        requests: Sequence[tuple[str, Sequence[str]]],
        chunk: list[tuple[int, range]],
        max_length: int,
        max_query_length: int,
        overlap: int,
    ) -> tuple[list[tuple[int, int]], list[EncodedPair]]:
        """The windows of one chunk's documents, with the ``(request, document)`` each belongs to."""
        owners: list[tuple[int, int]] = []
        pairs: list[EncodedPair] = []
        for request_index, positions in chunk:
            query, documents = requests[request_index]
            part = documents[positions.start : positions.stop]
            for position, pair in plan_windows(self.tokenizer, query, part, max_length, max_query_length, overlap):
                owners.append((request_index, positions.start + position))
                pairs.append(pair)
        return owners, pairs
