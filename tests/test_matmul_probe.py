"""The CPU default dtype comes from measured matmul rates, cached per machine; never from flags alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from conftest import V2_TINY

from jina_local_rerank import Reranker
from jina_local_rerank.runtime import hardware, matmul_probe
from jina_local_rerank.runtime.matmul_probe import MatmulRates
from jina_local_rerank.runtime.plan import MachineCapabilities, RequestedSettings, resolve_target

G = 1e9
# Rates (GFLOP/s) of the three CPUs this project runs on, 2 threads, and what each one's default must be.
CPUS = {
    "intel-amx": (MatmulRates(float32=359 * G, bfloat16=2422 * G, float16=300 * G), torch.float32),
    "intel-avx512fp16": (MatmulRates(float32=190 * G, bfloat16=167 * G, float16=326 * G), torch.float16),
    "amd-zen4": (MatmulRates(float32=195 * G, bfloat16=426 * G, float16=3 * G), torch.float32),
    "fp16-barely-faster": (MatmulRates(float32=200 * G, bfloat16=100 * G, float16=240 * G), torch.float32),
}


@pytest.fixture
def measured_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the measured choice decide (the suite pins fp32 through the environment)."""
    monkeypatch.delenv(hardware.CPU_DTYPE_ENV, raising=False)


@pytest.mark.parametrize("name", list(CPUS))
def test_default_dtype_follows_measured_rates(name: str, measured_default: None) -> None:
    rates, expected = CPUS[name]
    assert hardware.default_dtype(torch.device("cpu"), rates) == expected
    machine = MachineCapabilities(cpu_matmul=rates)
    assert resolve_target(RequestedSettings(device="cpu"), machine).dtype == expected
    # An explicit dtype always wins, and bf16 is never chosen however fast it is.
    assert resolve_target(RequestedSettings(device="cpu", dtype="bfloat16"), machine).dtype == torch.bfloat16
    assert hardware.default_dtype(torch.device("cpu"), rates) != torch.bfloat16


def test_native_and_accurate_rate() -> None:
    amd, _ = CPUS["amd-zen4"]
    assert not amd.native(torch.float16) and amd.native(torch.bfloat16)
    assert amd.accurate_rate() == amd.float32  # emulated fp16 does not count
    intel, _ = CPUS["intel-avx512fp16"]
    assert intel.accurate_rate() == intel.float16
    assert "emulated: float16" in amd.describe()


def test_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hardware.CPU_DTYPE_ENV, "bf16")
    rates, _ = CPUS["intel-avx512fp16"]
    assert hardware.default_dtype(torch.device("cpu"), rates) == torch.bfloat16
    monkeypatch.setenv(hardware.CPU_DTYPE_ENV, "float8")
    with pytest.raises(ValueError, match=hardware.CPU_DTYPE_ENV):
        hardware.default_dtype(torch.device("cpu"), rates)
    # CUDA keeps its own default; the variable is about CPUs.
    assert hardware.default_dtype(torch.device("cuda"), rates) == torch.float16


def test_measure_finds_this_machines_rates() -> None:
    rates = matmul_probe.measure(size=256, seconds=0.05)
    assert rates.float32 > 0 and rates.bfloat16 > 0 and rates.float16 > 0
    assert rates.threads == torch.get_num_threads()
    assert rates.native(torch.float32)


def test_rates_are_cached_per_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "probe" / "rates.json"
    monkeypatch.setattr(matmul_probe, "_memo", {})
    first = matmul_probe.matmul_rates(path)
    stored = json.loads(path.read_text())
    assert stored[matmul_probe.machine_key()]["float32"] == first.float32
    # A new process reads the file instead of measuring: planted rates come back as stored.
    planted = {**stored[matmul_probe.machine_key()], "float16": 12345.0}
    path.write_text(json.dumps({matmul_probe.machine_key(): planted, "other-machine": {"float32": 1}}))
    monkeypatch.setattr(matmul_probe, "_memo", {})
    assert matmul_probe.matmul_rates(path).float16 == 12345.0


@pytest.mark.parametrize("content", ["{not json", "[]", '{"KEY": {"float32": -1, "bfloat16": 1, "float16": 1}}'])
def test_broken_cache_is_measured_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    path = tmp_path / "rates.json"
    path.write_text(content.replace("KEY", matmul_probe.machine_key()))
    monkeypatch.setattr(matmul_probe, "_memo", {})
    rates = matmul_probe.matmul_rates(path)
    assert rates.float32 > 0
    assert json.loads(path.read_text())[matmul_probe.machine_key()]["float32"] == rates.float32


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_cache_folder_does_not_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    monkeypatch.setattr(matmul_probe, "_memo", {})
    try:
        assert matmul_probe.matmul_rates(folder / "rates.json").float32 > 0
    finally:
        folder.chmod(0o700)


def test_cache_file_in_unwritable_place_does_not_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(matmul_probe, "_memo", {})
    assert matmul_probe.matmul_rates(blocker / "rates.json").float32 > 0  # parent is a file


def test_reranker_default_uses_the_measured_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, measured_default: None
) -> None:
    monkeypatch.setenv(matmul_probe.CACHE_ENV_VARIABLE, str(tmp_path / "rates.json"))
    monkeypatch.setattr(matmul_probe, "_memo", {})
    reranker = Reranker(V2_TINY, device="cpu")
    expected = hardware.default_dtype(torch.device("cpu"), matmul_probe.matmul_rates())
    assert reranker.dtype == expected
    assert (tmp_path / "rates.json").exists()
    # An explicit dtype measures nothing.
    monkeypatch.setattr(matmul_probe, "_memo", {})
    (tmp_path / "rates.json").unlink()
    assert Reranker(V2_TINY, device="cpu", dtype="float32").dtype == torch.float32
    assert not (tmp_path / "rates.json").exists()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_on_cpu_buckets_batch_widths(dtype: str) -> None:
    """oneDNN keeps kernels per batch shape: half-precision CPU batches come in widths of 64 tokens."""
    reranker = Reranker(V2_TINY, device="cpu", dtype=dtype)
    assert reranker.plan.pad_to_multiple == 64
    assert "pad_to_multiple=64" in reranker.plan.describe()
    scorer = reranker.pipeline.scorer
    pairs = reranker.pipeline.windows("a query", ["short", "a somewhat longer document " * 5])
    longest = max(len(pair) for pair in pairs)
    width = scorer.features(pairs)["input_ids"].shape[1]
    assert width % 64 == 0 and longest < width < longest + 64
    bucketed = scorer.score(pairs)
    scorer.pad_to_multiple = 1
    assert scorer.features(pairs)["input_ids"].shape[1] == longest
    assert scorer.score(pairs) == pytest.approx(bucketed, abs=2e-3)  # padding never changes what is read
    assert Reranker(V2_TINY, device="cpu", dtype="float32").plan.pad_to_multiple == 1
