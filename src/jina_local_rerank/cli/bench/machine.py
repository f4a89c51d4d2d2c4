"""What the bench machine can do: matmul rates per dtype, which dtypes are native, and the FLOP floors.

A variant's floor is the time its FLOPs need at the matmul rate of the dtype it computes in; the
*accurate* floor uses the best rate among the formats accurate enough to rank with (fp32, and fp16
where native). Every time is printed as a multiple of both, so a number from one CPU reads the same
way on another.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

import torch

from jina_local_rerank.cli.bench.tables import Row
from jina_local_rerank.cli.bench.workloads import peak_matmul_rate
from jina_local_rerank.runtime import hardware
from jina_local_rerank.runtime.matmul_probe import DTYPES, MatmulRates, cpu_flags, cpu_name, measure


@dataclass(frozen=True)
class MachineRates:
    device: torch.device
    rates: MatmulRates

    def rate(self, dtype: torch.dtype) -> float:
        return self.rates.rate(dtype)

    def accurate_rate(self) -> float:
        return self.rates.accurate_rate()

    def merged(self, other: MachineRates) -> MachineRates:
        """The best rate of each dtype seen in either measurement (``MatmulRates.merged``)."""
        return MachineRates(self.device, self.rates.merged(other.rates))

    def remeasured(self) -> MachineRates:
        """Rates measured again just before a variant is timed, merged with these (``merged``)."""
        return self.merged(measure_machine(self.device))

    def set_floors(self, row: Row, dtype: torch.dtype) -> None:
        """Fill ``row``'s floor multiples from its ``seconds`` and ``flop`` (kept in ``extra``)."""
        seconds, flop = row.extra["seconds"], row.extra["flop"]
        row.floor_ratio = seconds / (flop / self.rate(dtype))
        row.accurate_floor_ratio = seconds / (flop / self.accurate_rate())
        row.extra["matmul_tflops"] = round(self.rate(dtype) / 1e12, 3)
        row.extra["accurate_matmul_tflops"] = round(self.accurate_rate() / 1e12, 3)

    def finish(self, rows: list[Row]) -> list[Row]:
        """``rows`` of one model with their floors set, and the run's peak memory on the first."""
        for row in rows:
            self.set_floors(row, hardware.resolve_dtype(row.dtype, self.device))
        rows[0].extra["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if self.device.type == "cuda":
            rows[0].extra["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
        return rows

    def describe(self) -> str:
        if self.device.type == "cpu":
            flags = " ".join(flag for flag in cpu_flags() if flag.startswith(("amx", "avx512_bf16", "avx512_fp16")))
            head = f"CPU: {cpu_name()} ({flags or 'no AMX, AVX512-BF16 or AVX512-FP16 flags'})"
        else:
            head = f"GPU: {torch.cuda.get_device_name(self.device)}" if self.device.type == "cuda" else str(self.device)
        rates = ", ".join(
            f"{name} {self.rate(dtype) / 1e12:.3f}{'' if self.rates.native(dtype) else ' (emulated)'}"
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16))
        )
        return f"{head}; matmul TFLOP/s: {rates}; accurate floor at {self.accurate_rate() / 1e12:.3f} TFLOP/s"


def measure_machine(device: torch.device) -> MachineRates:
    """Matmul rates of ``device``: 2048-cubed on a CPU (emulated dtypes detected and skipped), 8192 on a GPU."""
    if device.type == "cpu":
        return MachineRates(device, measure(size=2048, seconds=2.0))
    rates = {name: peak_matmul_rate(device, dtype) for name, dtype in DTYPES.items()}
    return MachineRates(device, MatmulRates(**rates, cpu=str(device), threads=torch.get_num_threads()))
