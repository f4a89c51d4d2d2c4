"""Pairs packed end to end into one row of tokens, with the cumulative lengths varlen attention needs."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from jina_local_rerank.tokenization import EncodedPair

# Features that carry this key are packed; the native modules route them to their packed forward.
PACKED_KEY = "cu_seqlens"


def _flat(rows: Any, total: int) -> torch.Tensor:
    # np.fromiter over a chain is several times faster than torch.tensor on a list of Python ints.
    return torch.from_numpy(np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=total))


def packed_features(pairs: Sequence[EncodedPair], device: torch.device) -> dict[str, Any]:
    """``input_ids``/``token_type_ids``/``position_ids`` of shape [tokens], ``cu_seqlens`` [pairs + 1]."""
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
    moved = {name: tensor.to(device, non_blocking=True) for name, tensor in features.items()}
    moved["max_seqlen"] = int(lengths.max())
    return moved


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


def pad_packed(features: dict[str, Any], tokens: int, sequences: int, max_seqlen: int, pad_token_id: int) -> dict[str, Any]:
    """Grow packed features to exactly ``tokens`` tokens in ``sequences`` sequences.

    The extra tokens form dummy sequences of at most ``max_seqlen`` tokens; the remaining slots are
    empty sequences. Real sequences come first and are untouched, so their logits are the first ones.
    """
    cu_seqlens = features[PACKED_KEY]
    total = int(features["input_ids"].shape[0])
    real = cu_seqlens.shape[0] - 1
    extra = tokens - total
    dummy_ends = list(range(total + max_seqlen, tokens, max_seqlen)) + ([tokens] if extra else [])
    if real + len(dummy_ends) > sequences or extra < 0 or int(features["max_seqlen"]) > max_seqlen:
        raise ValueError(f"{real} sequences of {total} tokens do not fit ({sequences}, {tokens}, {max_seqlen}).")
    bounds = torch.tensor(dummy_ends + [tokens] * (sequences - real - len(dummy_ends)), dtype=cu_seqlens.dtype)
    starts = torch.tensor([total, *dummy_ends[:-1]], dtype=torch.long) if dummy_ends else torch.empty(0, dtype=torch.long)
    lengths = torch.tensor(dummy_ends, dtype=torch.long) - starts
    device = features["input_ids"].device
    padded: dict[str, Any] = {
        "input_ids": torch.cat([features["input_ids"], torch.full((extra,), pad_token_id, device=device)]),
        "position_ids": torch.cat([
            features["position_ids"],
            (torch.arange(extra) - torch.repeat_interleave(starts - total, lengths)).to(device),
        ]),
        PACKED_KEY: torch.cat([cu_seqlens, bounds.to(cu_seqlens.device)]),
        "max_seqlen": max_seqlen,
    }
    if "token_type_ids" in features:
        padded["token_type_ids"] = torch.cat([features["token_type_ids"], torch.zeros(extra, dtype=torch.long, device=device)])
    return padded
