"""Score tokenized pairs with a CrossEncoder: length-sorted batches, padded or packed, one forward at a time.

This is the only place that runs the model, so batching, thread safety, progress reporting,
CUDA out-of-memory recovery and the optional score cache are decided once for ``compute_score``,
``rerank`` and every adapter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from sentence_transformers import CrossEncoder
from tqdm.auto import tqdm

from jina_local_rerank.backends.runners import Runner
from jina_local_rerank.runtime import hardware
from jina_local_rerank.runtime.batching import plan_batches
from jina_local_rerank.runtime.cuda import packed_features
from jina_local_rerank.scoring.score_cache import CacheKey, ModelFingerprint, ScoreCache, input_digest
from jina_local_rerank.text.tokenization import EncodedPair

logger = logging.getLogger(__name__)


def logits_to_scores(logits: torch.Tensor) -> torch.Tensor:
    """Relevance in [0, 1]: sigmoid of a single logit, or the last class's softmax for 2+ logits."""
    logits = logits.float()
    if logits.ndim == 1 or logits.shape[-1] == 1:
        return torch.sigmoid(logits.reshape(-1))
    return torch.softmax(logits, dim=-1)[:, -1]


def distinct_pairs(pairs: Sequence[EncodedPair]) -> tuple[list[EncodedPair], list[int]]:
    """Each distinct model input once, and for every pair the position of its input among them.

    Identical inputs are scored once, so they get one score: in a padded batch two equal rows can
    otherwise differ in the last bits, depending on where the kernels split the batch.
    """
    unique: list[EncodedPair] = []
    seen: dict[tuple[tuple[int, ...], tuple[int, ...] | None], int] = {}
    slots: list[int] = []
    for pair in pairs:
        key = (tuple(pair.input_ids), None if pair.token_type_ids is None else tuple(pair.token_type_ids))
        slot = seen.get(key)
        if slot is None:
            slot = seen[key] = len(unique)
            unique.append(pair)
        slots.append(slot)
    return unique, slots


def _known(score: float | None) -> float:
    assert score is not None, "every input is either cached or scored"
    return score


class PairScorer:
    """Runs the CrossEncoder's modules on pre-tokenized pairs and returns sigmoid scores.

    With a ``runner`` (ONNX Runtime, OpenVINO; see ``backends``) the runner replaces the torch
    forward; batching and ordering stay the same. With a ``cache``, inputs scored before (same
    ``fingerprint``, same token ids) take their stored score and are never sent to the model.
    """

    def __init__(
        self,
        cross_encoder: CrossEncoder,
        pad_token_id: int,
        token_budget: int,
        packed: bool = False,
        runner: Runner | None = None,
        cache: ScoreCache[float] | None = None,
        fingerprint: ModelFingerprint = (),
        pad_to_multiple: int = 1,
    ) -> None:
        self.cross_encoder = cross_encoder
        self.runner = runner
        self.cache = cache
        self.fingerprint = fingerprint
        self.pad_to_multiple = pad_to_multiple
        self.pad_token_id = pad_token_id
        self.token_budget = token_budget
        # Packed batches (native models only) hold no padding at all; see packing.py and varlen.py.
        self.packed = packed
        self._forward_lock = threading.Lock()

    @property
    def device(self) -> torch.device:
        return self.cross_encoder.device

    @property
    def pipelines_tokenization(self) -> bool:
        """Whether callers should tokenize in chunks (``score_chunks``) while the device runs batches.

        Only where batches run asynchronously (CUDA) and are packed: split padded batches would lose
        part of their length sorting.
        """
        return self.packed and self.device.type == "cuda"

    def score(
        self,
        pairs: Sequence[EncodedPair],
        batch_size: int | None = None,
        show_progress_bar: bool = False,
    ) -> list[float]:
        """One float per pair, in input order."""
        return self.score_chunks([pairs], batch_size, show_progress_bar)[0]

    def score_chunks(
        self,
        chunks: Iterable[Sequence[EncodedPair]],
        batch_size: int | None = None,
        show_progress_bar: bool = False,
    ) -> list[list[float]]:
        """``score`` of each chunk, launching a chunk's batches before the next chunk is drawn.

        ``chunks`` may be a generator that tokenizes as it goes: on a GPU the batches of one chunk
        run while the host prepares the next. Batches never span chunks.
        """
        launched: list[torch.Tensor] = []
        orders: list[list[int]] = []  # per chunk: the unique inputs sent to the model, in batch order
        known: list[list[float | None]] = []  # per chunk: each unique input's cached score, or None
        keys: list[list[CacheKey]] = []
        copies: list[list[int]] = []
        progress = tqdm(desc="Scoring", unit="pair", disable=not show_progress_bar)
        try:
            for pairs in chunks:
                unique, slots = distinct_pairs(pairs)
                chunk_keys, cached = self._lookup(unique)
                missing = [i for i, score in enumerate(cached) if score is None]
                progress.update(len(unique) - len(missing))
                batches = plan_batches([len(unique[i]) for i in missing], batch_size, self.token_budget, self.packed)
                for batch in batches:
                    launched.append(self._score_batch([unique[missing[i]] for i in batch]))
                    progress.update(len(batch))
                orders.append([missing[i] for batch in batches for i in batch])
                known.append(cached)
                keys.append(chunk_keys)
                copies.append(slots)
        finally:
            progress.close()
        # One device-to-host copy at the end: on a GPU the batches are queued back to back.
        values = torch.cat(launched).cpu().tolist() if launched else []
        results: list[list[float]] = []
        offset = 0
        for order, cached, chunk_keys, slots in zip(orders, known, keys, copies):
            scores = list(cached)
            computed = values[offset : offset + len(order)]
            for index, value in zip(order, computed):
                scores[index] = value
            if self.cache is not None:
                self.cache.put_many((chunk_keys[index], value) for index, value in zip(order, computed))
            results.append([_known(scores[slot]) for slot in slots])
            offset += len(order)
        return results

    def _lookup(self, unique: list[EncodedPair]) -> tuple[list[CacheKey], list[float | None]]:
        """Each input's cache key and stored score (``None``: to be scored); all ``None`` without a cache."""
        if self.cache is None:
            return [], [None] * len(unique)
        keys = [(self.fingerprint, input_digest(pair.input_ids, pair.token_type_ids)) for pair in unique]
        return keys, self.cache.get_many(keys)

    def _score_batch(self, pairs: list[EncodedPair]) -> torch.Tensor:
        try:
            return self.forward(pairs)
        except torch.OutOfMemoryError:
            if len(pairs) == 1:
                raise
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            half = len(pairs) // 2
            logger.warning("Out of memory on a batch of %d pairs; retrying as two halves.", len(pairs))
            return torch.cat([self._score_batch(pairs[:half]), self._score_batch(pairs[half:])])

    def features(self, pairs: list[EncodedPair]) -> dict[str, Any]:
        """The model inputs of one batch: packed host tensors, padded arrays for a runner, else device tensors."""
        if self.packed:
            return packed_features(pairs)  # host tensors; the native module places them
        # numpy, not torch: small torch CPU ops right after the tokenizer's threads can take milliseconds.
        width = -(-max(len(p) for p in pairs) // self.pad_to_multiple) * self.pad_to_multiple
        input_ids = np.full((len(pairs), width), self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(pairs), width), dtype=np.int64)
        with_types = pairs[0].token_type_ids is not None
        token_type_ids = np.zeros((len(pairs), width), dtype=np.int64) if with_types else None
        for row, pair in enumerate(pairs):
            n = len(pair)
            input_ids[row, :n] = pair.input_ids
            attention_mask[row, :n] = 1
            if token_type_ids is not None and pair.token_type_ids is not None:
                token_type_ids[row, :n] = pair.token_type_ids
        arrays = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            arrays["token_type_ids"] = token_type_ids
        if self.runner is not None:
            return arrays
        features = {name: torch.from_numpy(array) for name, array in arrays.items()}
        return hardware.to_device(features, self.device)

    def forward(self, pairs: list[EncodedPair]) -> torch.Tensor:
        """Scores of one batch, left on the device (not waited for)."""
        features = self.features(pairs)
        if self.runner is not None:
            with self._forward_lock:
                return logits_to_scores(torch.from_numpy(self.runner(features)))
        with self._forward_lock, torch.inference_mode():
            # Through __call__ so that CrossEncoder.compile() and hooks apply.
            logits = self.cross_encoder(features)["scores"]
            return logits_to_scores(logits)
