"""Attention over packed sequences: ``[tokens, heads, head_dim]`` plus cumulative lengths, no padding.

Packing removes every padding token from the whole forward (linear layers included), which is what
makes GPU batches of mixed-length documents fast. The kernel is the best one installed:
``flash_attn``'s variable-length kernel (the only prebuilt one with ALiBi slopes), else for ALiBi a
compiled FlexAttention kernel (CUDA with Triton, flex.py), else PyTorch's own flash varlen kernel
(CUDA, fp16/bf16, torch >= 2.10; no ALiBi), else SDPA one sequence at a time (any device; exact, but
no faster than padding -- it keeps the packed path testable on the CPU).
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Callable
from typing import Any

import torch

from jina_local_rerank.runtime import hardware
from jina_local_rerank.runtime.cuda import flex

_HALF = (torch.float16, torch.bfloat16)


@functools.lru_cache(maxsize=1)
def _torch_varlen() -> Callable[..., Any] | None:
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


@functools.lru_cache(maxsize=1)
def _torch_varlen_takes_scale() -> bool:
    fn = _torch_varlen()
    return fn is not None and "scale" in inspect.signature(fn).parameters


@functools.lru_cache(maxsize=1)
def _torch_varlen_takes_window() -> bool:
    fn = _torch_varlen()
    return fn is not None and "window_size" in inspect.signature(fn).parameters


def fast_kernel_available(device: torch.device, dtype: torch.dtype, alibi: bool) -> bool:
    """Whether a real variable-length kernel runs here (packing then beats padding)."""
    if device.type != "cuda" or dtype not in _HALF:
        return False
    if hardware.flash_attn_available():
        return True
    if alibi:
        return flex.available(device)
    return _torch_varlen() is not None


def alibi_bias(slopes: torch.Tensor, rows: torch.Tensor, length: int) -> torch.Tensor:
    """``-slope * |i - j|`` for query positions ``rows`` against keys ``0..length-1``: [heads, rows, length]."""
    keys = torch.arange(length, device=slopes.device)
    distance = (rows[:, None] - keys[None, :]).abs().to(slopes.dtype)
    return -slopes[:, None, None] * distance[None]


def varlen_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cu_seqlens: torch.Tensor,
    max_seqlen: int,
    *,
    scale: float | None = None,
    alibi_slopes: torch.Tensor | None = None,
    causal: bool = False,
) -> torch.Tensor:
    """Attention within each packed sequence (bidirectional, or ``causal``): ``[tokens, heads, head_dim]``."""
    if alibi_slopes is not None and not hardware.flash_attn_available():
        # Only flash_attn and FlexAttention apply slopes; flex.py's kernel is bidirectional (JinaBERT's).
        if not causal:
            fused = flex.fused_or_none(
                query, key, value, cu_seqlens, max_seqlen, alibi_slopes=alibi_slopes, scale=scale
            )
            if fused is not None:
                return fused
        return _attention_per_sequence(query, key, value, cu_seqlens, scale, alibi_slopes, causal)
    if fast_kernel_available(query.device, query.dtype, alibi_slopes is not None) and not (
        causal and not hardware.flash_attn_available() and not _torch_varlen_takes_window()
    ):
        if hardware.flash_attn_available():
            from flash_attn import flash_attn_varlen_func  # type: ignore[import-not-found]

            slopes = None if alibi_slopes is None else alibi_slopes.float()
            return flash_attn_varlen_func(
                query,
                key,
                value,
                cu_seqlens,
                cu_seqlens,
                max_seqlen,
                max_seqlen,
                softmax_scale=scale,
                causal=causal,
                alibi_slopes=slopes,
            )
        kernel = _torch_varlen()
        assert kernel is not None  # fast_kernel_available() checked it
        extra: dict[str, object] = {"scale": scale} if scale is not None and _torch_varlen_takes_scale() else {}
        if causal:
            extra["window_size"] = (-1, 0)
        if scale is not None and not extra:
            query = query * (scale * query.shape[-1] ** 0.5)
        return kernel(query, key, value, cu_seqlens, cu_seqlens, max_seqlen, max_seqlen, **extra)
    return _attention_per_sequence(query, key, value, cu_seqlens, scale, alibi_slopes, causal)


def _attention_per_sequence(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cu_seqlens: torch.Tensor,
    scale: float | None,
    alibi_slopes: torch.Tensor | None,
    causal: bool = False,
) -> torch.Tensor:
    bounds = cu_seqlens.tolist()
    outputs = []
    for start, end in itertools.pairwise(bounds):
        if end == start:
            continue
        # [1, heads, length, dim]: SDPA's fused kernels (flash on the CPU too) take only 4-D inputs; a 3-D
        # call falls back to the math path, which builds the [heads, length, length] scores (5-15x slower).
        q, k, v = (t[start:end].transpose(0, 1)[None] for t in (query, key, value))
        mask = None
        if alibi_slopes is not None:
            mask = alibi_bias(alibi_slopes.float(), torch.arange(end - start, device=q.device), end - start).to(q.dtype)
        context = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, scale=scale, is_causal=causal and mask is None
        )
        outputs.append(context[0].transpose(0, 1))
    return torch.cat(outputs, dim=0)
