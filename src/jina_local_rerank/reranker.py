"""``Reranker``: Jina's ``compute_score`` and windowed ``rerank`` over one sentence-transformers CrossEncoder.

Every adapter and the server call this class; all scoring decisions (tokenization, windows,
batching, score aggregation, ordering) are made here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import torch
from sentence_transformers import CrossEncoder

from jina_local_rerank import hardware, validation
from jina_local_rerank.checkpoint import Architecture, detect_architecture, read_config, resolve_checkpoint
from jina_local_rerank.inference import PairScorer
from jina_local_rerank.loader import load_cross_encoder
from jina_local_rerank.native import NativeTransformer
from jina_local_rerank.registry import DEFAULT_MODEL, ModelSpec, lookup
from jina_local_rerank.results import RerankResult
from jina_local_rerank.tokenization import EncodedPair, PairTokenizer
from jina_local_rerank.windows import effective_overlap, split_windows, window_length

logger = logging.getLogger(__name__)

_DEFAULT_RERANK_MAX_LENGTH = 1024
_DEFAULT_MAX_QUERY_LENGTH = 512


@dataclass(frozen=True)
class ScoredWindow:
    """One window that was scored: which document it came from, its model input, its score."""

    document_index: int
    input_ids: list[int]
    score: float


@dataclass(frozen=True)
class DocumentScores:
    """Per-document scores (best window) in input order, with every window behind them."""

    scores: list[float]
    windows: list[ScoredWindow]

    @property
    def total_tokens(self) -> int:
        """Tokens the model read, special tokens included (what APIs bill as usage)."""
        return sum(len(window.input_ids) for window in self.windows)


def _check_window_sizes(max_length: int, max_query_length: int) -> None:
    if max_length < 2 * max_query_length:
        raise ValueError(
            f"max_length ({max_length}) must be at least 2 * max_query_length "
            f"(2 * {max_query_length} = {2 * max_query_length})."
        )


class Reranker:
    """Local Jina reranker: ``compute_score`` and ``rerank`` with Jina's exact semantics.

    Args:
        model: hub id, local folder, or a model in the Hugging Face cache.
        device: ``None`` picks cuda, then mps, then cpu.
        dtype: ``None`` picks the fastest dtype that keeps scores close to fp32 on the device;
            or ``"float32"``, ``"bfloat16"``, ``"float16"``, or a ``torch.dtype``.
        revision, cache_dir, local_files_only, token: as in huggingface_hub; ``local_files_only=None``
            follows ``HF_HUB_OFFLINE``.
        trust_remote_code: never needed for Jina's models; only passed on to other checkpoints.
        lazy: defer loading the weights until the first call (or ``load()``).
        show_progress_bar: default for the methods' ``show_progress_bar``.
        token_budget: tokens per batch (padding included unless packed) when ``batch_size`` is not given.
        packed: run batches packed end to end with variable-length attention, so no compute goes to
            padding. ``None`` packs where a varlen kernel runs (CUDA, half precision, Jina's native
            models; JinaBERT needs ``flash_attn`` for its ALiBi slopes); ``True`` forces it (any
            device, native models only), ``False`` always pads.
        cuda_graphs: replay packed batches as CUDA graphs (bucketed shapes, captured on first use),
            which removes the cost of launching every kernel from Python. ``None``: on wherever
            batches are packed on CUDA.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool | None = None,
        token: str | bool | None = None,
        trust_remote_code: bool = False,
        lazy: bool = False,
        show_progress_bar: bool = False,
        token_budget: int | None = None,
        packed: bool | None = None,
        cuda_graphs: bool | None = None,
    ) -> None:
        self.model_name = str(model)
        self.device = hardware.resolve_device(device)
        self.dtype = hardware.resolve_dtype(dtype, self.device)
        self.attn_implementation = hardware.attention_implementation(self.device, self.dtype)
        self.revision = revision
        self.cache_dir = cache_dir
        self.local_files_only = local_files_only
        self._token = token
        self.trust_remote_code = trust_remote_code
        self.show_progress_bar = show_progress_bar
        self.token_budget = validation.check_positive_int("token_budget", token_budget) or hardware.default_token_budget(
            self.device
        )
        self.packed = packed
        self.cuda_graphs = cuda_graphs
        self.spec: ModelSpec | None = lookup(self.model_name)
        self._load_lock = threading.Lock()
        self._cross_encoder: CrossEncoder | None = None
        self._tokenizer: PairTokenizer | None = None
        self._scorer: PairScorer | None = None
        self.architecture: Architecture | None = None
        if not lazy:
            self.load()

    def __repr__(self) -> str:
        return f"Reranker({self.model_name!r}, device={str(self.device)!r}, dtype={self.dtype})"

    # ------------------------------------------------------------------ loading

    def load(self) -> Reranker:
        """Load the weights (idempotent and thread-safe); returns ``self``."""
        if self._scorer is not None:
            return self
        with self._load_lock:
            if self._scorer is not None:
                return self
            folder = resolve_checkpoint(
                self.model_name,
                revision=self.revision,
                cache_dir=self.cache_dir,
                local_files_only=self.local_files_only,
                token=self._token,
            )
            self.architecture = detect_architecture(read_config(folder))
            cross_encoder = load_cross_encoder(
                folder,
                self.architecture,
                device=self.device,
                dtype=self.dtype,
                attn_implementation=self.attn_implementation,
                trust_remote_code=self.trust_remote_code,
            )
            self._tokenizer = PairTokenizer(cross_encoder.tokenizer)
            self.packed = self._decide_packing(cross_encoder)
            self.cuda_graphs = self._decide_cuda_graphs(cross_encoder)
            self.attn_implementation = cross_encoder.model.config._attn_implementation
            self._cross_encoder = cross_encoder
            self._scorer = PairScorer(cross_encoder, self._tokenizer.pad_token_id, self.token_budget, self.packed)
        return self

    def _decide_packing(self, cross_encoder: CrossEncoder) -> bool:
        module = cross_encoder[0]
        if not isinstance(module, NativeTransformer):
            if self.packed:
                raise ValueError(
                    f"packed=True needs one of Jina's native architectures; {self.model_name} loads as a "
                    "generic cross-encoder. Use packed=None or False."
                )
            return False
        if self.packed is not None:
            return self.packed
        return module.packing_pays_off(self.device, self.dtype)

    def _decide_cuda_graphs(self, cross_encoder: CrossEncoder) -> bool:
        module = cross_encoder[0]
        possible = self.packed and self.device.type == "cuda" and module.packing_pays_off(self.device, self.dtype)
        if self.cuda_graphs and not possible:
            raise ValueError(
                "cuda_graphs=True needs packed batches on a CUDA device with a variable-length kernel "
                "(half precision; see packed=)."
            )
        enabled = possible if self.cuda_graphs is None else self.cuda_graphs
        if enabled:
            module.use_cuda_graphs(self._tokenizer.pad_token_id)
        return enabled

    @property
    def is_loaded(self) -> bool:
        return self._scorer is not None

    @property
    def cross_encoder(self) -> CrossEncoder:
        """The underlying ``sentence_transformers.CrossEncoder`` (loads the model if needed)."""
        self.load()
        assert self._cross_encoder is not None
        return self._cross_encoder

    @property
    def max_length(self) -> int:
        """Longest pair the model takes: ``compute_score``'s default ``max_length``."""
        if self.spec is not None:
            return self.spec.context_length
        tokenizer_limit = self.cross_encoder.tokenizer.model_max_length
        return min(tokenizer_limit, self._hard_max_length or tokenizer_limit)

    @property
    def _hard_max_length(self) -> int | None:
        """Longest pair that fits the position table (``None``: ALiBi has no table)."""
        config = self.cross_encoder.config
        if self.architecture is Architecture.JINA_BERT:
            return None
        positions = getattr(config, "max_position_embeddings", None)
        if positions is None:
            return None
        if config.model_type in {"roberta", "xlm-roberta", "camembert", "xlm-roberta-xl"}:
            return positions - config.pad_token_id - 1
        return positions

    def _parts(self) -> tuple[PairTokenizer, PairScorer]:
        self.load()
        assert self._tokenizer is not None and self._scorer is not None
        return self._tokenizer, self._scorer

    def _check_max_length(self, max_length: int, minimum: int) -> int:
        validation.check_positive_int("max_length", max_length, allow_none=False)
        hard = self._hard_max_length
        if hard is not None and max_length > hard:
            raise ValueError(f"max_length={max_length} exceeds what {self.model_name} can take ({hard} tokens).")
        if max_length < minimum:
            raise ValueError(f"max_length={max_length} is too small: a pair needs at least {minimum} tokens.")
        return max_length

    # ------------------------------------------------------------------ compute_score

    @overload
    def compute_score(
        self,
        sentence_pairs: tuple[str, str],
        max_length: int | None = ...,
        batch_size: int | None = ...,
        show_progress_bar: bool | None = ...,
    ) -> float: ...

    @overload
    def compute_score(
        self,
        sentence_pairs: list[Any],
        max_length: int | None = ...,
        batch_size: int | None = ...,
        show_progress_bar: bool | None = ...,
    ) -> list[float] | float: ...

    def compute_score(
        self,
        sentence_pairs: list[Any] | tuple[str, str],
        max_length: int | None = None,
        batch_size: int | None = None,
        show_progress_bar: bool | None = None,
    ) -> list[float] | float:
        """Sigmoid relevance of each ``[query, document]`` pair, as Jina's ``compute_score``.

        Pairs are truncated ``longest_first`` to ``max_length`` tokens (``None``: the model's limit).
        A single pair returns a bare float; a list returns a list of floats in input order.
        """
        single = validation.is_single_pair(sentence_pairs)
        pairs = validation.check_pairs([sentence_pairs] if single else sentence_pairs)
        validation.check_positive_int("batch_size", batch_size)
        if not pairs:
            return []
        tokenizer, scorer = self._parts()
        limit = self._check_max_length(
            self.max_length if max_length is None else max_length, tokenizer.template.num_special_tokens + 2
        )
        encoded = tokenizer.encode_pairs([q for q, _ in pairs], [d for _, d in pairs], limit)
        scores = scorer.score(encoded, batch_size, self._progress(show_progress_bar))
        return scores[0] if single else scores

    # ------------------------------------------------------------------ rerank

    def rerank(
        self,
        query: str,
        documents: list[str],
        top_n: int | None = None,
        max_query_length: int | None = None,
        max_length: int | None = None,
        overlap: int = 80,
        batch_size: int | None = None,
        show_progress_bar: bool | None = None,
    ) -> list[RerankResult]:
        """Documents best first, each scored by its best window, as Jina's ``rerank``.

        ``max_length`` (``None``: 1024, or the model's limit if smaller) bounds every window, query
        included; the query is cut to ``max_query_length`` tokens (``None``: 512, at most half of
        ``max_length``). ``top_n=None`` returns every document; ties keep input order.
        """
        validation.check_positive_int("top_n", top_n)
        details = self.score_documents(
            query,
            documents,
            max_query_length=max_query_length,
            max_length=max_length,
            overlap=overlap,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
        )
        order = sorted(range(len(details.scores)), key=lambda i: (-details.scores[i], i))
        if top_n is not None:
            order = order[:top_n]
        return [RerankResult(index=i, relevance_score=details.scores[i], document=documents[i]) for i in order]

    def score_documents(
        self,
        query: str,
        documents: list[str],
        max_query_length: int | None = None,
        max_length: int | None = None,
        overlap: int = 80,
        batch_size: int | None = None,
        show_progress_bar: bool | None = None,
    ) -> DocumentScores:
        """Windowed scores of every document in input order (what ``rerank`` sorts)."""
        return self.score_many(
            [(query, documents)],
            max_query_length=max_query_length,
            max_length=max_length,
            overlap=overlap,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
        )[0]

    def score_many(
        self,
        requests: Sequence[tuple[str, Sequence[str]]],
        max_query_length: int | None = None,
        max_length: int | None = None,
        overlap: int = 80,
        batch_size: int | None = None,
        show_progress_bar: bool | None = None,
    ) -> list[DocumentScores]:
        """``score_documents`` for several (query, documents) requests whose windows share batches.

        This is how concurrent requests (the server's dynamic batching) fill the model's batches.
        """
        checked = [(validation.check_query(q), validation.check_documents(d)) for q, d in requests]
        validation.check_non_negative_int("overlap", overlap)
        validation.check_positive_int("batch_size", batch_size)
        if max_query_length is not None:
            validation.check_positive_int("max_query_length", max_query_length)
        if max_length is not None:
            validation.check_positive_int("max_length", max_length)
        if max_length is not None and max_query_length is not None:
            _check_window_sizes(max_length, max_query_length)
        if not any(documents for _, documents in checked):
            return [DocumentScores([], []) for _ in checked]
        tokenizer, scorer = self._parts()
        max_length, max_query_length = self._window_limits(max_length, max_query_length)

        pairs: list[EncodedPair] = []
        owners: list[tuple[int, int]] = []
        for request_index, (query, documents) in enumerate(checked):
            for position, pair in self._windows(tokenizer, query, documents, max_length, max_query_length, overlap):
                pairs.append(pair)
                owners.append((request_index, position))
        window_scores = scorer.score(pairs, batch_size, self._progress(show_progress_bar))

        best = [[float("-inf")] * len(documents) for _, documents in checked]
        windows: list[list[ScoredWindow]] = [[] for _ in checked]
        for (request_index, position), pair, score in zip(owners, pairs, window_scores):
            best[request_index][position] = max(best[request_index][position], score)
            windows[request_index].append(ScoredWindow(position, pair.input_ids, score))
        logger.debug("Scored %d requests as %d windows of at most %d tokens", len(checked), len(pairs), max_length)
        return [DocumentScores(b, w) for b, w in zip(best, windows)]

    @staticmethod
    def _windows(
        tokenizer: PairTokenizer,
        query: str,
        documents: list[str],
        max_length: int,
        max_query_length: int,
        overlap: int,
    ) -> list[tuple[int, EncodedPair]]:
        """Jina's windows of every document: ``(document position, model input)`` in document order."""
        if not documents:
            return []
        query_budget = max_query_length - tokenizer.num_single_special_tokens
        if query_budget < 1:
            raise ValueError(f"max_query_length={max_query_length} leaves no room for the query's tokens.")
        query_ids, *document_ids = tokenizer.encode_texts([query, *documents])
        query_ids = query_ids[:query_budget]
        window = window_length(max_length, len(query_ids), tokenizer.template.num_special_tokens)
        if window < 1:
            raise ValueError(f"max_length={max_length} leaves no room for the document after the query.")
        stride_overlap = effective_overlap(overlap, window)
        return [
            (position, tokenizer.build(query_ids, piece))
            for position, tokens in enumerate(document_ids)
            for piece in split_windows(tokens, window, stride_overlap)
        ]

    def _window_limits(self, max_length: int | None, max_query_length: int | None) -> tuple[int, int]:
        """Fill in the defaults of ``rerank``: the model's window size, and half of it for the query."""
        if max_length is None:
            default = self.spec.rerank_max_length if self.spec else _DEFAULT_RERANK_MAX_LENGTH
            max_length = min(default, self.max_length)
        if max_query_length is None:
            default = self.spec.rerank_max_query_length if self.spec else _DEFAULT_MAX_QUERY_LENGTH
            max_query_length = min(default, max_length // 2)
        _check_window_sizes(max_length, max_query_length)
        self._check_max_length(max_length, 1)
        return max_length, max_query_length

    def _progress(self, show_progress_bar: bool | None) -> bool:
        return self.show_progress_bar if show_progress_bar is None else show_progress_bar
