"""What the machine offers and how tensors reach it: dtype names and defaults, flash_attn, device copies.

Probes and conversions only; the decisions that combine them (device, dtype, attention, packing)
are made once, in ``runtime.plan``.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import torch

logger = logging.getLogger(__name__)

DTypeLike = str | torch.dtype | None

_DTYPE_NAMES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}


def setting_text(value: object) -> object:
    """``torch.float16`` -> ``"float16"``, ``torch.device("cpu")`` -> ``"cpu"``: serialisable settings."""
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value).removeprefix("torch.")
    return value


def parse_dtype(dtype: DTypeLike) -> torch.dtype | None:
    """Accept ``torch.dtype`` objects and the usual string spellings; ``None`` stays ``None``."""
    if dtype is None or isinstance(dtype, torch.dtype):
        if isinstance(dtype, torch.dtype) and dtype not in set(_DTYPE_NAMES.values()):
            raise ValueError(f"Unsupported dtype {dtype}; use float32, bfloat16 or float16.")
        return dtype
    if isinstance(dtype, str):
        key = dtype.lower().removeprefix("torch.")
        if key in _DTYPE_NAMES:
            return _DTYPE_NAMES[key]
    raise ValueError(f"Unsupported dtype {dtype!r}; use 'float32', 'bfloat16', 'float16' or a torch.dtype.")


def default_dtype(device: torch.device) -> torch.dtype:
    """Fastest dtype whose scores stay close to fp32 on this device.

    CUDA and MPS: fp16 -- as fast as bf16 on an H100 and about 6x closer to fp32 scores
    (docs/performance.md). CPU: always fp32, even where the CPU multiplies fp16 natively
    (AMX-FP16 / AVX512-FP16). Measured on such a CPU, fp16 let a document's score move by 3e-4 with
    its batch-mates (oneDNN picks kernels per shape) and grew resident memory with every new batch
    shape (oneDNN's primitive cache: +300 MB over 200 calls, still growing). In fp32 the same score
    moves by about 2e-8. fp16 and bf16 stay available on CPUs as an explicit ``dtype``.
    """
    if device.type in ("cuda", "mps"):
        return torch.float16
    return torch.float32


def resolve_dtype(dtype: DTypeLike, device: torch.device) -> torch.dtype:
    parsed = parse_dtype(dtype)
    return parsed if parsed is not None else default_dtype(device)


def flash_attn_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def to_device(features: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Host tensors of a batch onto ``device``; non-tensors pass through.

    On CUDA the tensors are pinned first: a copy from pageable memory may wait until the GPU has
    finished everything already queued, which would stop the host from preparing the next batch.
    """
    if device.type != "cuda":
        return {
            name: value.to(device) if isinstance(value, torch.Tensor) else value for name, value in features.items()
        }
    return {
        name: value.pin_memory().to(device, non_blocking=True)
        if isinstance(value, torch.Tensor) and value.device.type == "cpu"
        else value
        for name, value in features.items()
    }
