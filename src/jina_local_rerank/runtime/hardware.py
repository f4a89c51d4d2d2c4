"""What the machine offers and how tensors reach it: dtype names and defaults, flash_attn, device copies.

Probes and conversions only; the decisions that combine them (device, dtype, attention, packing)
are made once, in ``runtime.plan``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

import torch

from jina_local_rerank.runtime.matmul_probe import MatmulRates

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


CPU_DTYPE_ENV = "JINA_LOCAL_RERANK_CPU_DTYPE"
# fp16 becomes the CPU default only where its matmuls measure at least this much faster than fp32.
FP16_MIN_SPEEDUP = 1.25


def cpu_dtype_override() -> torch.dtype | None:
    """``$JINA_LOCAL_RERANK_CPU_DTYPE``: a fixed CPU default instead of the measured choice (tests pin fp32)."""
    value = os.environ.get(CPU_DTYPE_ENV)
    if not value:
        return None
    try:
        return parse_dtype(value)
    except ValueError as exc:
        raise ValueError(f"{CPU_DTYPE_ENV}={value!r}: {exc}") from None


def default_dtype(device: torch.device, cpu_rates: MatmulRates | None = None) -> torch.dtype:
    """Fastest dtype whose scores stay close to fp32 on this device (``cpu_rates``: the measured matmul rates).

    CUDA and MPS: fp16 -- as fast as bf16 on an H100 and about 6x closer to fp32 scores
    (docs/performance.md). CPU: chosen from measured matmul rates, never from flags alone: fp16
    where this CPU multiplies it natively at least 1.25x faster than fp32 (AVX512-FP16 or AMX-FP16;
    max |score delta| about 0.003 on a trained model), else fp32. bf16 is never the default, however
    fast: on a trained model it moves scores by 0.04 (0.014 even with fp32 accumulation and fp32
    residuals), beyond the 0.01 a ranking can absorb. ``$JINA_LOCAL_RERANK_CPU_DTYPE`` overrides the
    choice; an explicit ``dtype`` always wins.
    """
    if device.type in ("cuda", "mps"):
        return torch.float16
    override = cpu_dtype_override()
    if override is not None:
        return override
    if (
        cpu_rates is not None
        and cpu_rates.native(torch.float16)
        and cpu_rates.speedup(torch.float16) >= FP16_MIN_SPEEDUP
    ):
        return torch.float16
    return torch.float32


def resolve_dtype(dtype: DTypeLike, device: torch.device, cpu_rates: MatmulRates | None = None) -> torch.dtype:
    parsed = parse_dtype(dtype)
    return parsed if parsed is not None else default_dtype(device, cpu_rates)


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
