"""Device, dtype and attention choices for the machine we run on.

Kept in one place so every model (native v2, JinaBERT, generic cross-encoders) gets the same
decisions, and so the fallbacks on CPUs without bf16/fp16 units are explicit.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
from dataclasses import dataclass
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


@dataclass(frozen=True)
class CpuCapabilities:
    """Which reduced-precision matmul units this CPU has (decides the CPU default dtype)."""

    amx_bf16: bool
    amx_fp16: bool
    avx512_bf16: bool
    avx512_fp16: bool

    @property
    def fast_bf16(self) -> bool:
        return self.amx_bf16 or self.avx512_bf16

    @property
    def fast_fp16(self) -> bool:
        return self.amx_fp16 or self.avx512_fp16


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@functools.lru_cache(maxsize=1)
def cpu_capabilities() -> CpuCapabilities:
    """Detect AMX / AVX-512 bf16 and fp16 support at run time (torch's probes, then /proc/cpuinfo)."""
    flags = _cpu_flags()

    def probe(name: str, flag: str) -> bool:
        fn = getattr(torch.cpu, name, None)
        if fn is not None:
            with contextlib.suppress(RuntimeError, AttributeError):  # a torch-internal probe that fails
                if bool(fn()):
                    return True
        return flag in flags

    return CpuCapabilities(
        amx_bf16=probe("_is_amx_tile_supported", "amx_bf16"),
        amx_fp16=probe("_is_amx_fp16_supported", "amx_fp16"),
        avx512_bf16=probe("_is_avx512_bf16_supported", "avx512_bf16"),
        avx512_fp16="avx512_fp16" in flags,
    )


def setting_text(value: object) -> object:
    """``torch.float16`` -> ``"float16"``, ``torch.device("cpu")`` -> ``"cpu"``: serialisable settings."""
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value).removeprefix("torch.")
    return value


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks the best available device: cuda, then mps, then cpu."""
    if device is not None:
        resolved = torch.device(device)
        if resolved.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} was requested but CUDA is not available on this machine.")
        return resolved
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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


def attention_implementation(device: torch.device, dtype: torch.dtype) -> str:
    """FlashAttention-2 only on CUDA in half precision with ``flash_attn`` installed; never on CPU."""
    if device.type == "cuda" and dtype in (torch.float16, torch.bfloat16) and flash_attn_available():
        return "flash_attention_2"
    return "sdpa"


def default_token_budget(device: torch.device) -> int:
    """Tokens per batch: 2048 on CPUs (measured: 512-2048 are equally fast, 4096+ slower), 8192 on MPS,
    and on CUDA 32768 from 16 GiB of memory up, proportionally less on smaller cards (a batch that
    still runs out of memory is split and retried)."""
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        return int(min(32768, max(4096, 32768 * total / 16 / 2**30)) // 1024 * 1024)
    return {"cpu": 2048, "mps": 8192}.get(device.type, 4096)


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
