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
