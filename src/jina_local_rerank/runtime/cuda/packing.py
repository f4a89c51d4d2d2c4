"""Pairs packed end to end into one row of tokens, with the cumulative lengths varlen attention needs."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from jina_local_rerank.text.tokenization import EncodedPair

# Features that carry this key are packed; the native modules route them to their packed forward.
PACKED_KEY = "cu_seqlens"


def _flat(rows: Any, total: int) -> torch.Tensor:
    # np.fromiter over a chain is several times faster than torch.tensor on a list of Python ints.
    return torch.from_numpy(np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=total))


def packed_features(pairs: Sequence[EncodedPair]) -> dict[str, Any]:
    """``input_ids``/``token_type_ids``/``position_ids`` of shape [tokens], ``cu_seqlens`` [pairs + 1].

    Host tensors: the model moves them (``hardware.to_device``), or a CUDA graph copies them into its
    own inputs, after padding them on the host (graphs.py).
    """
    lengths = np.fromiter((len(pair) for pair in pairs), dtype=np.int64, count=len(pairs))
    cu_seqlens = np.zeros(len(pairs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=cu_seqlens[1:])
    total = int(cu_seqlens[-1])
    features: dict[str, Any] = {
        "input_ids": _flat((pair.input_ids for pair in pairs), total),
        "position_ids": torch.from_numpy(np.arange(total) - np.repeat(cu_seqlens[:-1], lengths)),
        PACKED_KEY: torch.from_numpy(cu_seqlens.astype(np.int32)),
    }
    if pairs[0].token_type_ids is not None:
        features["token_type_ids"] = _flat((pair.token_type_ids or [0] * len(pair) for pair in pairs), total)
    features["max_seqlen"] = int(lengths.max())
    return features


def first_token_index(cu_seqlens: torch.Tensor, total_tokens: int) -> torch.Tensor:
    """Where each packed sequence starts (its first token feeds the classifier).

    Empty sequences (padding slots of a CUDA graph, see graphs.py) point at the last token instead of
    past the end; their logits are discarded.
    """
    return cu_seqlens[:-1].long().clamp(max=total_tokens - 1)


def _next_power_of_two(value: int) -> int:
    return 1 << max(0, value - 1).bit_length()


def bucket_tokens(total: int, minimum: int = 256) -> int:
    """Round up to one of 8 sizes per doubling (256, 288, 320, ... 512, 576, ...): at most 12.5% padding."""
    if total <= minimum:
        return minimum
    step = _next_power_of_two(total) // 16
    return -(-total // step) * step


def pad_packed(
    features: dict[str, Any], tokens: int, sequences: int, max_seqlen: int, pad_token_id: int
) -> dict[str, Any]:
    """Grow packed host features to exactly ``tokens`` tokens in ``sequences`` sequences.

    The extra tokens form dummy sequences of at most ``max_seqlen`` tokens; the remaining slots are
    empty sequences. Real sequences come first and are untouched, so their logits are the first ones.
    numpy, not torch: small torch CPU ops right after the tokenizer's threads can take milliseconds.
    """
    cu_seqlens = features[PACKED_KEY].numpy()
    total = int(features["input_ids"].shape[0])
    real = cu_seqlens.shape[0] - 1
    extra = tokens - total
    dummy_ends = np.arange(total + max_seqlen, tokens, max_seqlen).tolist() + ([tokens] if extra else [])
    if real + len(dummy_ends) > sequences or extra < 0 or int(features["max_seqlen"]) > max_seqlen:
        raise ValueError(f"{real} sequences of {total} tokens do not fit ({sequences}, {tokens}, {max_seqlen}).")
    bounds = np.array(dummy_ends + [tokens] * (sequences - real - len(dummy_ends)), dtype=cu_seqlens.dtype)
    starts = np.array([total, *dummy_ends[:-1]], dtype=np.int64) if dummy_ends else np.empty(0, dtype=np.int64)
    dummy_positions = np.arange(extra) - np.repeat(starts - total, np.array(dummy_ends, dtype=np.int64) - starts)

    def grow(name: str, tail: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.concatenate([features[name].numpy(), tail.astype(np.int64)]))

    padded: dict[str, Any] = {
        "input_ids": grow("input_ids", np.full(extra, pad_token_id)),
        "position_ids": grow("position_ids", dummy_positions),
        PACKED_KEY: torch.from_numpy(np.concatenate([cu_seqlens, bounds])),
        "max_seqlen": max_seqlen,
    }
    if "token_type_ids" in features:
        padded["token_type_ids"] = grow("token_type_ids", np.zeros(extra))
    return padded
