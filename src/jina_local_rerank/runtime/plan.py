"""The execution plan: how a loaded model runs here, decided in one place from what was asked for.

``make_plan`` is a pure function of three value objects: the settings the user requested, the
traits of the model's architecture (known from its config, before any weight is read) and the
capabilities of this machine (probed once). It needs no model and no GPU, so every combination,
errors included, is tested as a table (tests/test_plan.py). ``Reranker`` keeps the request as
given and runs the plan it gets back.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch

from jina_local_rerank.runtime import hardware
from jina_local_rerank.runtime.cuda import (
    compile_failed,
    fast_kernel_available,
    flex_attention_supported,
    flex_compile_failed,
)
from jina_local_rerank.runtime.matmul_probe import MatmulRates, matmul_rates
from jina_local_rerank.text import validation

BACKENDS = ("torch", "onnx", "openvino")
PRECISIONS = {"onnx": ("float32", "int8"), "openvino": ("float32", "bfloat16", "int8")}
_PRECISION_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "qint8": "int8"}
_HALF = (torch.float16, torch.bfloat16)
CPU_HALF_PAD_MULTIPLE = 64


@dataclass(frozen=True)
class RequestedSettings:
    """What the caller asked for, exactly as given (``None``: let the plan choose)."""

    device: str | torch.device | None = None
    dtype: str | torch.dtype | None = None
    packed: bool | None = None
    cuda_graphs: bool | None = None
    fused_norms: bool | None = None
    token_budget: int | None = None
    backend: str = "torch"


@dataclass(frozen=True)
class ArchitectureTraits:
    """What the plan needs to know about a model family (filled from its layout, before loading)."""

    name: str
    native: bool = False  # one of Jina's native layouts: can run packed, graphed and with fused norms
    listwise: bool = False  # jina-reranker-v3: always packed blocks, no graphs or fused norms
    uses_alibi: bool = False  # packed ALiBi attention needs a kernel that takes slopes: flash_attn or FlexAttention
    attn_implementation: str | None = None  # an attention the layout always uses


@dataclass(frozen=True)
class MachineCapabilities:
    """What this machine offers (``probe`` fills it; tests write it by hand)."""

    cuda: bool = False
    mps: bool = False
    cuda_memory: int = 0  # bytes of the CUDA device the request names (the default one if unnamed)
    flash_attn: bool = False
    torch_varlen: bool = False  # torch's own variable-length attention (no ALiBi slopes)
    triton: bool = False  # torch.compile can generate the fused residual LayerNorm kernel
    flex_attention: bool = False  # torch.compile can generate FlexAttention's kernel (packed ALiBi, CUDA + Triton)
    cpu_matmul: MatmulRates | None = None  # measured CPU matmul rates, when the plan chooses a CPU dtype

    @classmethod
    def probe(cls, device: str | torch.device | None = None, *, choose_cpu_dtype: bool = False) -> MachineCapabilities:
        """This machine's capabilities; with ``choose_cpu_dtype`` also its CPU matmul rates if the model
        will run on the CPU (measured once per machine and cached: ``runtime.matmul_probe``)."""
        cuda = torch.cuda.is_available()
        memory = 0
        if cuda:
            named = torch.device(device) if device is not None else None
            target = named if named is not None and named.type == "cuda" else torch.device("cuda")
            memory = torch.cuda.get_device_properties(target).total_memory
        mps_backend = getattr(torch.backends, "mps", None)
        mps = mps_backend is not None and mps_backend.is_available()
        try:
            on_cpu = torch.device(device).type == "cpu" if device is not None else not (cuda or mps)
        except RuntimeError:  # not a device name: the plan reports it
            on_cpu = False
        measure = choose_cpu_dtype and on_cpu and hardware.cpu_dtype_override() is None
        return cls(
            cuda=cuda,
            mps=mps,
            cuda_memory=memory,
            flash_attn=hardware.flash_attn_available(),
            torch_varlen=fast_kernel_available(torch.device("cuda"), torch.float16, alibi=False) if cuda else False,
            triton=importlib.util.find_spec("triton") is not None and not compile_failed(),
            flex_attention=cuda and flex_attention_supported() and not flex_compile_failed(),
            cpu_matmul=matmul_rates() if measure else None,
        )


@dataclass(frozen=True)
class Target:
    """Where and how fast a model runs, known before its architecture is: device, dtype, batches."""

    device: torch.device
    dtype: torch.dtype
    attn_implementation: str
    token_budget: int
    precision: str | None  # a non-torch backend's precision; None on torch
    # The speed-up settings as requested (``None``: the plan decides); off on a non-torch backend.
    packed: bool | None = None
    cuda_graphs: bool | None = None
    fused_norms: bool | None = None


@dataclass(frozen=True)
class ExecutionPlan:
    """How a loaded model runs: what every speed-up setting resolved to, and on what."""

    device: torch.device
    dtype: torch.dtype
    attn_implementation: str
    packed: bool
    cuda_graphs: bool
    fused_norms: bool
    token_budget: int
    backend: str = "torch"
    precision: str | None = None
    # Padded batches are this many tokens wide (a multiple): in half precision on a CPU oneDNN keeps
    # kernels per batch shape, so widths are bucketed to bound their number (docs/core.md, CPU dtype).
    pad_to_multiple: int = 1

    def describe(self) -> str:
        """One line for logs, ``serve``'s startup and ``bench``."""
        if self.precision is not None:
            head = f"backend={self.backend} precision={self.precision} device={self.device}"
        else:
            head = f"backend=torch device={self.device} dtype={str(self.dtype).removeprefix('torch.')}"
        flags = " ".join(
            f"{name}={'on' if value else 'off'}"
            for name, value in (
                ("packed", self.packed),
                ("cuda_graphs", self.cuda_graphs),
                ("fused_norms", self.fused_norms),
            )
        )
        padding = f" pad_to_multiple={self.pad_to_multiple}" if self.pad_to_multiple > 1 else ""
        return f"{head} attention={self.attn_implementation} {flags} token_budget={self.token_budget}{padding}"

    def __str__(self) -> str:
        return self.describe()


def backend_precision(backend: str, dtype: str | torch.dtype | None, device: str | torch.device | None) -> str | None:
    """The precision a non-torch backend runs at (``None`` for torch), or a clear error."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, not {backend!r}.")
    if backend == "torch":
        return None
    if device is not None and torch.device(device).type != "cpu":
        raise ValueError(f"backend={backend!r} runs on the CPU; device={str(device)!r} needs backend='torch'.")
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).removeprefix("torch.")
    precision = _PRECISION_ALIASES.get(dtype or "float32", dtype or "float32")
    if precision not in PRECISIONS[backend]:
        raise ValueError(
            f"backend={backend!r} runs at {', '.join(PRECISIONS[backend])}; dtype={dtype!r} is not one of them."
        )
    return precision


def _device(requested: str | torch.device | None, machine: MachineCapabilities) -> torch.device:
    if requested is not None:
        try:
            device = torch.device(requested)
        except RuntimeError:
            raise ValueError(
                f"device={str(requested)!r:.80} is not a device: use 'cpu', 'cuda', 'cuda:1' or 'mps'."
            ) from None
        if device.type == "cuda" and not machine.cuda:
            raise ValueError(f"device={str(requested)!r} was requested but CUDA is not available on this machine.")
        return device
    if machine.cuda:
        return torch.device("cuda")
    return torch.device("mps") if machine.mps else torch.device("cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks the best available device: cuda, then mps, then cpu; an unavailable CUDA is an error."""
    return _device(device, MachineCapabilities.probe(device))


def _token_budget(device: torch.device, machine: MachineCapabilities) -> int:
    """2048 on CPUs (512-2048 measured equally fast), 8192 on MPS, on CUDA 32768 from 16 GiB down proportionally."""
    if device.type == "cuda":
        return int(min(32768, max(4096, 32768 * machine.cuda_memory / 16 / 2**30)) // 1024 * 1024)
    return {"cpu": 2048, "mps": 8192}.get(device.type, 4096)


def resolve_target(requested: RequestedSettings, machine: MachineCapabilities) -> Target:
    """Device, dtype, attention and batch size: the part of the plan that needs no architecture.

    A non-torch backend exports an fp32 torch model on the CPU and runs it at its ``precision``;
    the torch speed-ups do not apply there.
    """
    precision = backend_precision(requested.backend, requested.dtype, requested.device)
    device_request, dtype_request = requested.device, requested.dtype
    if precision is not None:
        if requested.packed or requested.cuda_graphs or requested.fused_norms:
            raise ValueError("packed, cuda_graphs and fused_norms are torch speed-ups; they need backend='torch'.")
        device_request, dtype_request = "cpu", "float32"
    device = _device(device_request, machine)
    dtype = hardware.resolve_dtype(dtype_request, device, machine.cpu_matmul)
    flash = device.type == "cuda" and dtype in _HALF and machine.flash_attn
    budget = validation.check_positive_int("token_budget", requested.token_budget)
    return Target(
        device=device,
        dtype=dtype,
        attn_implementation="flash_attention_2" if flash else "sdpa",
        token_budget=budget or _token_budget(device, machine),
        precision=precision,
        packed=False if precision else requested.packed,
        cuda_graphs=False if precision else requested.cuda_graphs,
        fused_norms=False if precision else requested.fused_norms,
    )


def make_plan(requested: RequestedSettings, traits: ArchitectureTraits, machine: MachineCapabilities) -> ExecutionPlan:
    """The plan a model of ``traits`` runs on ``machine`` for ``requested``; a clear error for what cannot run.

    ``None`` settings resolve to what pays off: packing where a real variable-length kernel runs
    (CUDA, half precision; ALiBi needs flash_attn or FlexAttention), CUDA graphs wherever batches are
    packed on CUDA with flash_attn or torch's varlen kernel, fused norms for native models on CUDA with
    Triton. ``True`` forces a setting where it can run.

    ALiBi batches packed through FlexAttention (no flash_attn) are not graphed: its kernel is compiled
    on the first batch of each padded size, which must never happen inside a graph capture, and
    graphing it has not been measured on a GPU.
    """
    target = resolve_target(requested, machine)
    attention = traits.attn_implementation or target.attn_implementation
    if traits.listwise:
        if target.precision is not None:
            raise ValueError(
                f"backend={requested.backend!r} is not available for jina-reranker-v3 yet; use backend='torch'."
            )
        for name in ("cuda_graphs", "fused_norms"):
            if getattr(requested, name):
                raise ValueError(f"{name}=True is not available for jina-reranker-v3 (listwise); leave it None.")
        if requested.packed is False:
            raise ValueError("jina-reranker-v3 always runs its blocks packed; leave packed=None.")
        return _plan(target, attention, packed=True, cuda_graphs=False, fused_norms=False, backend=requested.backend)
    if target.precision is not None:
        return _plan(target, attention, packed=False, cuda_graphs=False, fused_norms=False, backend=requested.backend)

    on_cuda = target.device.type == "cuda"
    # A kernel CUDA graphs can capture: flash_attn's, or torch's own where no ALiBi slopes are needed.
    graph_kernel = machine.flash_attn or (not traits.uses_alibi and machine.torch_varlen)
    varlen_kernel = graph_kernel or (traits.uses_alibi and machine.flex_attention)
    fast_varlen = on_cuda and target.dtype in _HALF and varlen_kernel and traits.native
    if not traits.native and requested.packed:
        raise ValueError(
            f"packed=True needs one of Jina's native architectures; {traits.name} loads as a "
            "generic cross-encoder. Use packed=None or False."
        )
    packed = fast_varlen if requested.packed is None else requested.packed and traits.native

    fusable = traits.native and on_cuda and machine.triton
    if requested.fused_norms and not fusable:
        raise ValueError(
            "fused_norms=True needs one of Jina's native architectures on a CUDA device with Triton "
            f"installed; {traits.name} on {target.device} has no fused kernel."
        )
    fused_norms = fusable if requested.fused_norms is None else requested.fused_norms

    graphable = packed and on_cuda and fast_varlen and graph_kernel
    if requested.cuda_graphs and packed and fast_varlen and not graph_kernel:
        raise ValueError(
            f"cuda_graphs=True is not available for {traits.name} packed through FlexAttention "
            "(ALiBi without flash_attn); install flash_attn or leave cuda_graphs None."
        )
    if requested.cuda_graphs and not graphable:
        raise ValueError(
            "cuda_graphs=True needs packed batches on a CUDA device with a variable-length kernel "
            "(half precision; see packed=)."
        )
    cuda_graphs = graphable if requested.cuda_graphs is None else requested.cuda_graphs
    return _plan(target, attention, packed=packed, cuda_graphs=cuda_graphs, fused_norms=fused_norms)


def _plan(
    target: Target, attention: str, *, packed: bool, cuda_graphs: bool, fused_norms: bool, backend: str = "torch"
) -> ExecutionPlan:
    bucketed = target.device.type == "cpu" and target.dtype in _HALF and target.precision is None and not packed
    return ExecutionPlan(
        device=target.device,
        dtype=target.dtype,
        attn_implementation=attention,
        packed=packed,
        cuda_graphs=cuda_graphs,
        fused_norms=fused_norms,
        token_budget=target.token_budget,
        backend=backend,
        precision=target.precision,
        pad_to_multiple=CPU_HALF_PAD_MULTIPLE if bucketed else 1,
    )
