"""How fast this CPU multiplies matrices in each dtype: measured once, then cached per machine.

CPU flags say which instructions exist, not how fast they run: AVX512-BF16 without AMX multiplies
bf16 slower than fp32 on some Xeons, and a CPU without AVX512-FP16 emulates fp16 tens of times
slower. So the CPU default precision (``runtime.precision``) is chosen from measured rates. The
probe takes about a quarter of a second and is cached in a small JSON file keyed by the CPU model,
its flags, the thread count and the torch version, so it runs once per machine and torch upgrade.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

PROBE_VERSION = 1
CACHE_ENV_VARIABLE = "JINA_LOCAL_RERANK_PROBE_CACHE"
# A dtype whose matmuls run at under this share of the fp32 rate is emulated, not native.
NATIVE_SHARE = 0.5
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class MatmulRates:
    """Measured matmul FLOP/s per dtype on this machine's CPU, with the threads torch uses."""

    float32: float
    bfloat16: float
    float16: float
    cpu: str = ""
    threads: int = 0

    def rate(self, dtype: torch.dtype) -> float:
        return float(getattr(self, str(dtype).removeprefix("torch.")))

    def native(self, dtype: torch.dtype) -> bool:
        """Whether ``dtype`` multiplies on real hardware units here (not emulated through fp32)."""
        return dtype == torch.float32 or self.rate(dtype) >= NATIVE_SHARE * self.float32

    def speedup(self, dtype: torch.dtype) -> float:
        """``dtype``'s matmul rate as a multiple of fp32's."""
        return self.rate(dtype) / self.float32

    def accurate_rate(self) -> float:
        """The best rate among the formats accurate enough to rank with everywhere: fp32, and fp16 where native."""
        return max(self.float32, self.float16 if self.native(torch.float16) else 0.0)

    def merged(self, other: MatmulRates) -> MatmulRates:
        """The best rate of each dtype in either measurement: on a shared machine a neighbour only ever
        slows a measurement down, so the best one is closest to what the machine can do."""
        best = {name: max(self.rate(dtype), other.rate(dtype)) for name, dtype in DTYPES.items()}
        return MatmulRates(**best, cpu=self.cpu, threads=self.threads)

    def describe(self) -> str:
        parts = [f"{name} {self.rate(dtype) / 1e9:,.0f}" for name, dtype in DTYPES.items()]
        emulated = [name for name, dtype in DTYPES.items() if not self.native(dtype)]
        tail = f" (emulated: {', '.join(emulated)})" if emulated else ""
        return f"matmul GFLOP/s on {self.threads} threads: {', '.join(parts)}{tail}"


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    for key, value in _cpuinfo_fields():
        if key == "model name":
            return value
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The matrix-relevant CPU flags, for tables and the cache key (empty where ``/proc/cpuinfo`` is missing)."""
    for key, value in _cpuinfo_fields():
        if key in ("flags", "Features"):
            return sorted(flag for flag in value.split() if flag.startswith(("avx", "amx", "fma", "sve", "asimd")))
    return []


@functools.cache
def _cpuinfo_fields() -> tuple[tuple[str, str], ...]:
    """The first processor's ``/proc/cpuinfo`` fields, read once per process (every load keys the cache by them)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ()
    fields = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.append((key.strip(), value.strip()))
        elif fields and not line.strip():
            break  # the first processor's block is enough
    return tuple(fields)


def measure(size: int = 768, seconds: float = 0.3, rounds: int = 30) -> MatmulRates:
    """The best rate of ``size``-cubed matmuls per dtype, timed in interleaved rounds within ``seconds``.

    768 is the hidden size of v2, the shape class that dominates a reranker's FLOPs. Rounds alternate
    the dtypes, so a noisy neighbour slows them all alike and their ratio (what the default dtype is
    chosen by) stays stable. A dtype over 20x slower than fp32 on a 128-cube warm-up is emulated: its
    rate there is recorded, without full-size runs that would take seconds.
    """
    generator = torch.Generator().manual_seed(0)
    small = {name: _operands(dtype, 128, generator) for name, dtype in DTYPES.items()}
    # Best of three: the first call of a dtype also creates its kernels, which must not read as emulation.
    warm = {name: min(_seconds(*operands) for _ in range(3)) for name, operands in small.items()}
    emulated = {name for name in DTYPES if warm[name] > 20 * warm["float32"]}
    rates = {name: 2 * 128**3 / warm[name] for name in emulated}
    operands = {name: _operands(dtype, size, generator) for name, dtype in DTYPES.items() if name not in emulated}
    best = {name: _seconds(*pair) for name, pair in operands.items()}  # also the warm-up at full size
    deadline = time.perf_counter() + seconds
    for _ in range(rounds):
        for name, pair in operands.items():
            best[name] = min(best[name], _seconds(*pair))
        if time.perf_counter() > deadline:
            break
    rates.update({name: 2 * size**3 / elapsed for name, elapsed in best.items()})
    return MatmulRates(**rates, cpu=cpu_name(), threads=torch.get_num_threads())


def _operands(dtype: torch.dtype, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.randn(size, size, generator=generator).to(dtype),
        torch.randn(size, size, generator=generator).to(dtype),
    )


def _seconds(a: torch.Tensor, b: torch.Tensor) -> float:
    with torch.inference_mode():
        start = time.perf_counter()
        torch.mm(a, b)
        return max(time.perf_counter() - start, 1e-9)


def cache_path() -> Path:
    """``$JINA_LOCAL_RERANK_PROBE_CACHE``, else ``$HF_HOME/jina-local-rerank/matmul-rates.json``, else ~/.cache/...."""
    if os.environ.get(CACHE_ENV_VARIABLE):
        return Path(os.environ[CACHE_ENV_VARIABLE]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "jina-local-rerank" / "matmul-rates.json"
    return Path("~/.cache/jina-local-rerank/matmul-rates.json").expanduser()


def machine_key() -> str:
    """What the rates depend on: CPU model and flags, threads, torch and its oneDNN build."""
    parts = [
        str(PROBE_VERSION),
        cpu_name(),
        " ".join(cpu_flags()),
        str(torch.get_num_threads()),
        torch.__version__,
        str(torch.backends.mkldnn.is_available()),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


_memo: dict[str, MatmulRates] = {}


def matmul_rates(path: Path | None = None) -> MatmulRates:
    """This machine's rates: from this process's memory, else the cache file, else measured and stored.

    A missing, unreadable or read-only cache never fails a load: the rates are then measured again.
    """
    key = machine_key()
    if key in _memo:
        return _memo[key]
    path = path or cache_path()
    entries = _read(path)
    stored = entries.get(key)
    rates = _from_json(stored) if isinstance(stored, dict) else None
    if rates is None:
        rates = measure()
        logger.info("Measured this CPU's %s (cached in %s).", rates.describe(), path)
        entries[key] = asdict(rates)
        _write(path, entries)
    _memo[key] = rates
    return rates


def _from_json(stored: dict[str, object]) -> MatmulRates | None:
    try:
        rates = MatmulRates(**stored)  # type: ignore[arg-type]
    except TypeError:
        return None
    values = (rates.float32, rates.bfloat16, rates.float16)
    if not all(isinstance(v, (int, float)) and v > 0 for v in values):
        return None
    return rates


def _read(path: Path) -> dict[str, object]:
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _write(path: Path, entries: dict[str, object]) -> None:
    """Atomically (a temporary file renamed over the old one), so concurrent loads never read half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".matmul-rates-", delete=False) as handle:
            json.dump(entries, handle, indent=2, sort_keys=True)
        os.replace(handle.name, path)
    except OSError as exc:
        logger.debug("Could not cache the matmul rates in %s: %s", path, exc)
