"""ALiBi attention over packed sequences through PyTorch's FlexAttention: JinaBERT packs without flash_attn.

``flash_attn``'s variable-length kernel is the only prebuilt one that takes ALiBi slopes, and its
wheels rarely install. FlexAttention generates a fused kernel from two small functions instead: a
``score_mod`` adding JinaBERT's symmetric bias ``-slope[head] * |i - j|`` and a ``mask_mod`` that
keeps every query inside its own document. The packed ``[tokens, heads, head_dim]`` become one batch
row ``[1, heads, tokens, head_dim]``. Documents are contiguous, so the distance of two tokens of one
document is the distance of their packed positions.

The token count is padded to a power of two (at least 1024), and every 128-token block of padding is
a document of its own: no real token sees the padding, and the padding costs one block per block
(not a tokens x tokens square). Compiled kernels specialise on the number of blocks (torch 2.13
recompiles FlexAttention for each, even when asked for dynamic shapes, and after 8 recompiles runs
it unfused), so a few sizes keep it to one compile per size: six up to the 32768-token batches of
an 80 GB GPU.

On CUDA the function is compiled once per process. Where compiling fails (no working Triton) packed
ALiBi batches go back to per-sequence SDPA, the same math as the padded path, with one warning; head
dimensions below 16 (Triton's minimum; test-sized models only) take that path without trying.
Elsewhere FlexAttention runs eagerly: an unfused reference that materialises every score, used to
test the math on the CPU.

The block mask is built from the document bounds (which 128x128 tiles meet one document, which lie
inside one) rather than by ``create_block_mask``, which evaluates ``mask_mod`` for every pair of
tokens: a tokens x tokens tensor at each batch. Both give the same mask (tests/test_flex_attention.py).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

import torch

logger = logging.getLogger(__name__)

BLOCK_SIZE = 128
_MIN_TOKENS = 1024
_MIN_FUSED_HEAD_DIM = 16  # Triton's tl.dot: the compiled kernel refuses smaller head dimensions
_state_lock = threading.Lock()
_broken = False


@functools.lru_cache(maxsize=1)
def supported() -> bool:
    """Whether this torch has FlexAttention and Triton is installed to compile it."""
    return (
        importlib.util.find_spec("torch.nn.attention.flex_attention") is not None
        and importlib.util.find_spec("triton") is not None
    )


def available(device: torch.device) -> bool:
    """Whether the compiled kernel runs on ``device``: CUDA, FlexAttention and Triton, no failed compile."""
    return device.type == "cuda" and not _broken and supported()


def compile_failed() -> bool:
    """Whether compiling FlexAttention failed in this process (packed ALiBi then runs per sequence)."""
    return _broken


def padded_tokens(total: int) -> int:
    """The token count FlexAttention runs ``total`` packed tokens at: a power of two, at least 1024."""
    return max(_MIN_TOKENS, 1 << (total - 1).bit_length())


def document_ids(cu_seqlens: torch.Tensor, tokens: int) -> torch.Tensor:
    """The document of each of ``tokens`` packed positions, nondecreasing; past ``cu_seqlens[-1]`` each
    128-token block of padding is a document of its own."""
    positions = torch.arange(tokens, device=cu_seqlens.device, dtype=cu_seqlens.dtype)
    ids = torch.searchsorted(cu_seqlens[1:].contiguous(), positions, right=True)
    padding = cu_seqlens.shape[0] - 1 + positions // BLOCK_SIZE
    return torch.where(positions < cu_seqlens[-1], ids, padding).to(torch.int32)


def _ordered(blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # BlockMask's layout: per query tile, how many kv tiles, then their indices (ascending) first.
    counts = blocks.sum(dim=-1, dtype=torch.int32)
    indices = torch.argsort((~blocks).to(torch.int8), dim=-1, stable=True).to(torch.int32)
    return counts[None, None], indices[None, None]


def document_block_mask(cu_seqlens: torch.Tensor, tokens: int) -> Any:
    """FlexAttention's ``BlockMask`` for packed documents: each token attends only within its document.

    ``tokens`` is a multiple of ``BLOCK_SIZE`` at least ``cu_seqlens[-1]``. A tile pair is computed
    if the two tiles share a document, and unmasked ("full") if both lie inside the same one (the
    documents of a tile are consecutive ids, since ``document_ids`` never decrease).
    """
    from torch.nn.attention.flex_attention import BlockMask

    if tokens % BLOCK_SIZE:
        raise ValueError(f"tokens must be a multiple of {BLOCK_SIZE}, not {tokens}.")
    ids = document_ids(cu_seqlens, tokens)
    first, last = ids[0::BLOCK_SIZE], ids[BLOCK_SIZE - 1 :: BLOCK_SIZE]
    meet = (first[:, None] <= last[None, :]) & (first[None, :] <= last[:, None])
    single = first == last
    full = single[:, None] & single[None, :] & (first[:, None] == first[None, :])
    kv_num_blocks, kv_indices = _ordered(meet & ~full)
    full_kv_num_blocks, full_kv_indices = _ordered(full)
    return BlockMask.from_kv_blocks(
        kv_num_blocks,
        kv_indices,
        full_kv_num_blocks,
        full_kv_indices,
        BLOCK_SIZE=BLOCK_SIZE,
        mask_mod=same_document(ids),
        seq_lengths=(tokens, tokens),
    )


def same_document(ids: torch.Tensor) -> Callable[..., torch.Tensor]:
    """``mask_mod``: a query attends to a key of its own document only."""

    def mask_mod(batch: torch.Tensor, head: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor) -> torch.Tensor:
        return ids[q_idx] == ids[kv_idx]

    return mask_mod


def symmetric_alibi(slopes: torch.Tensor) -> Callable[..., torch.Tensor]:
    """``score_mod``: JinaBERT's bias ``-slope[head] * |i - j|``, cast to the score's dtype as the padded path does."""

    def score_mod(
        score: torch.Tensor, batch: torch.Tensor, head: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor
    ) -> torch.Tensor:
        return score - (slopes[head] * (q_idx - kv_idx).abs()).to(score.dtype)

    return score_mod


@functools.lru_cache(maxsize=1)
def _compiled() -> Callable[..., torch.Tensor]:
    from torch.nn.attention.flex_attention import flex_attention

    # Static shapes: padded_tokens() keeps them few, and the kernel specialises on them anyway.
    return torch.compile(flex_attention, dynamic=False)


def _eager(*args: Any, **kwargs: Any) -> torch.Tensor:
    from torch.nn.attention.flex_attention import flex_attention

    with warnings.catch_warnings():
        # Eager here is deliberate (a reference on the CPU): torch's advice to compile does not apply.
        warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
        out: torch.Tensor = flex_attention(*args, **kwargs)
    return out


def packed_alibi_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cu_seqlens: torch.Tensor,
    max_seqlen: int,
    *,
    alibi_slopes: torch.Tensor,
    scale: float | None = None,
) -> torch.Tensor:
    """Bidirectional ALiBi attention within each packed sequence: ``[tokens, heads, head_dim]`` in and out.

    Compiled on CUDA, eager elsewhere; compile errors propagate (``fused_or_none`` handles them).
    ``max_seqlen`` is unused (the mask comes from ``cu_seqlens``); it keeps ``varlen_attention``'s signature.
    """
    del max_seqlen
    total = query.shape[0]
    padded = padded_tokens(total)
    q, k, v = (
        torch.nn.functional.pad(t, (0, 0, 0, 0, 0, padded - total)).transpose(0, 1)[None] for t in (query, key, value)
    )
    block_mask = document_block_mask(cu_seqlens, padded)
    score_mod = symmetric_alibi(alibi_slopes.float())
    attend = _compiled() if query.is_cuda else _eager
    context = attend(q, k, v, score_mod=score_mod, block_mask=block_mask, scale=scale)
    return context[0, :, :total].transpose(0, 1)


def runs_fused(query: torch.Tensor) -> bool:
    """Whether ``fused_or_none`` will try the compiled kernel for this query (CUDA, head dim >= 16)."""
    return available(query.device) and query.shape[-1] >= _MIN_FUSED_HEAD_DIM


def fused_or_none(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cu_seqlens: torch.Tensor,
    max_seqlen: int,
    *,
    alibi_slopes: torch.Tensor,
    scale: float | None = None,
) -> torch.Tensor | None:
    """The compiled kernel's output, or ``None`` once compiling has failed in this process (warned once)."""
    global _broken
    if not runs_fused(query):
        return None
    try:
        return packed_alibi_attention(query, key, value, cu_seqlens, max_seqlen, alibi_slopes=alibi_slopes, scale=scale)
    except torch.cuda.OutOfMemoryError:
        raise  # the batch is too large, the kernel is fine
    except Exception as error:  # noqa: BLE001 - any compile failure: fall back for good, say so once
        with _state_lock:
            if not _broken:
                logger.warning(
                    "Could not compile FlexAttention for packed ALiBi attention (%s); "
                    "running it one sequence at a time.",
                    error,
                )
            _broken = True
        return None
