"""The execution plan as a table: requested settings x architecture traits x machine -> plan or error.

``make_plan`` is pure, so every combination runs here without a model or a GPU.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from jina_local_rerank.runtime.plan import (
    ArchitectureTraits,
    ExecutionPlan,
    MachineCapabilities,
    RequestedSettings,
    make_plan,
    resolve_target,
)

GENERIC = ArchitectureTraits("generic")
V2 = ArchitectureTraits("v2", native=True, attn_implementation="jina_local_rerank_varlen")
V1 = ArchitectureTraits("v1", native=True, uses_alibi=True)
V3 = ArchitectureTraits("v3", listwise=True, attn_implementation="jina_local_rerank_causal_varlen")

CPU = MachineCapabilities()
H100 = MachineCapabilities(
    cuda=True, cuda_memory=80 * 2**30, flash_attn=True, torch_varlen=True, triton=True, flex_attention=True
)
CUDA_NO_FLASH = dataclasses.replace(H100, flash_attn=False)
CUDA_NO_SLOPES = dataclasses.replace(CUDA_NO_FLASH, flex_attention=False)  # no kernel takes ALiBi slopes
CUDA_BARE = MachineCapabilities(cuda=True, cuda_memory=8 * 2**30)
MAC = MachineCapabilities(mps=True)

# (id, requested, traits, machine, expected (device, dtype, attention, packed, graphs, fused, budget) or error text)
CASES = [
    (
        "cpu-defaults-v2",
        RequestedSettings(),
        V2,
        CPU,
        ("cpu", torch.float32, "jina_local_rerank_varlen", False, False, False, 2048),
    ),
    ("cpu-generic", RequestedSettings(), GENERIC, CPU, ("cpu", torch.float32, "sdpa", False, False, False, 2048)),
    (
        "cpu-forced-packing",
        RequestedSettings(packed=True),
        V1,
        CPU,
        ("cpu", torch.float32, "sdpa", True, False, False, 2048),
    ),
    (
        "cpu-bf16-no-flash",
        RequestedSettings(dtype="bfloat16"),
        V1,
        dataclasses.replace(CPU, flash_attn=True),
        ("cpu", torch.bfloat16, "sdpa", False, False, False, 2048),
    ),
    (
        "mps",
        RequestedSettings(),
        V2,
        MAC,
        ("mps", torch.float16, "jina_local_rerank_varlen", False, False, False, 8192),
    ),
    (
        "h100-v2",
        RequestedSettings(),
        V2,
        H100,
        ("cuda", torch.float16, "jina_local_rerank_varlen", True, True, True, 32768),
    ),
    (
        "h100-v1-flash",
        RequestedSettings(),
        V1,
        H100,
        ("cuda", torch.float16, "flash_attention_2", True, True, True, 32768),
    ),
    (
        "h100-fp32-pads",
        RequestedSettings(dtype="float32"),
        V2,
        H100,
        ("cuda", torch.float32, "jina_local_rerank_varlen", False, False, True, 32768),
    ),
    (
        "v1-flex-packs-ungraphed",
        RequestedSettings(),
        V1,
        CUDA_NO_FLASH,
        ("cuda", torch.float16, "sdpa", True, False, True, 32768),
    ),
    (
        "v1-flex-forced-fp32",
        RequestedSettings(dtype="float32", packed=True),
        V1,
        CUDA_NO_FLASH,
        ("cuda", torch.float32, "sdpa", True, False, True, 32768),
    ),
    (
        "v1-flex-fp32-pads",
        RequestedSettings(dtype="float32"),
        V1,
        CUDA_NO_FLASH,
        ("cuda", torch.float32, "sdpa", False, False, True, 32768),
    ),
    (
        "alibi-needs-a-slope-kernel",
        RequestedSettings(),
        V1,
        CUDA_NO_SLOPES,
        ("cuda", torch.float16, "sdpa", False, False, True, 32768),
    ),
    (
        "v2-ignores-flex",
        RequestedSettings(),
        V2,
        dataclasses.replace(CUDA_BARE, flex_attention=True),
        ("cuda", torch.float16, "jina_local_rerank_varlen", False, False, False, 16384),
    ),
    (
        "v2-torch-varlen",
        RequestedSettings(),
        V2,
        CUDA_NO_FLASH,
        ("cuda", torch.float16, "jina_local_rerank_varlen", True, True, True, 32768),
    ),
    (
        "no-kernels",
        RequestedSettings(),
        V2,
        CUDA_BARE,
        ("cuda", torch.float16, "jina_local_rerank_varlen", False, False, False, 16384),
    ),
    (
        "generic-cuda",
        RequestedSettings(),
        GENERIC,
        H100,
        ("cuda", torch.float16, "flash_attention_2", False, False, False, 32768),
    ),
    (
        "opt-outs",
        RequestedSettings(packed=False, cuda_graphs=False, fused_norms=False),
        V2,
        H100,
        ("cuda", torch.float16, "jina_local_rerank_varlen", False, False, False, 32768),
    ),
    (
        "graphs-off",
        RequestedSettings(cuda_graphs=False),
        V2,
        H100,
        ("cuda", torch.float16, "jina_local_rerank_varlen", True, False, True, 32768),
    ),
    (
        "budget-given",
        RequestedSettings(token_budget=1000),
        V2,
        H100,
        ("cuda", torch.float16, "jina_local_rerank_varlen", True, True, True, 1000),
    ),
    (
        "v3-cuda",
        RequestedSettings(),
        V3,
        H100,
        ("cuda", torch.float16, "jina_local_rerank_causal_varlen", True, False, False, 32768),
    ),
    (
        "v3-cpu",
        RequestedSettings(packed=True),
        V3,
        CPU,
        ("cpu", torch.float32, "jina_local_rerank_causal_varlen", True, False, False, 2048),
    ),
    (
        "onnx",
        RequestedSettings(backend="onnx"),
        V2,
        H100,
        ("cpu", torch.float32, "jina_local_rerank_varlen", False, False, False, 2048),
    ),
    (
        "openvino-int8",
        RequestedSettings(backend="openvino", dtype="int8"),
        GENERIC,
        CPU,
        ("cpu", torch.float32, "sdpa", False, False, False, 2048),
    ),
    # Errors: each names the problem.
    (
        "packed-generic",
        RequestedSettings(packed=True),
        GENERIC,
        H100,
        "packed=True needs one of Jina's native architectures",
    ),
    (
        "graphs-without-packing",
        RequestedSettings(packed=False, cuda_graphs=True),
        V2,
        H100,
        "cuda_graphs=True needs packed batches",
    ),
    ("graphs-on-cpu", RequestedSettings(cuda_graphs=True), V2, CPU, "cuda_graphs=True needs packed batches"),
    (
        "graphs-v1-flex",
        RequestedSettings(cuda_graphs=True),
        V1,
        CUDA_NO_FLASH,
        "cuda_graphs=True is not available for v1 packed through FlexAttention",
    ),
    (
        "graphs-v1-no-slopes",
        RequestedSettings(cuda_graphs=True),
        V1,
        CUDA_NO_SLOPES,
        "cuda_graphs=True needs packed batches",
    ),
    (
        "fused-off-cuda",
        RequestedSettings(fused_norms=True),
        V2,
        CPU,
        "fused_norms=True needs one of Jina's native architectures on a CUDA",
    ),
    ("fused-generic", RequestedSettings(fused_norms=True), GENERIC, H100, "fused_norms=True needs"),
    (
        "fused-no-triton",
        RequestedSettings(fused_norms=True),
        V2,
        dataclasses.replace(H100, triton=False),
        "fused_norms=True needs",
    ),
    (
        "speedups-onnx",
        RequestedSettings(backend="onnx", packed=True),
        V2,
        CPU,
        "torch speed-ups; they need backend='torch'",
    ),
    ("graphs-openvino", RequestedSettings(backend="openvino", cuda_graphs=True), V2, CPU, "torch speed-ups"),
    ("onnx-on-cuda", RequestedSettings(backend="onnx", device="cuda"), V2, H100, "runs on the CPU"),
    ("onnx-bf16", RequestedSettings(backend="onnx", dtype="bfloat16"), V2, CPU, "dtype='bfloat16' is not one of them"),
    ("unknown-backend", RequestedSettings(backend="tensorrt"), V2, CPU, "backend must be one of"),
    ("cuda-missing", RequestedSettings(device="cuda"), V2, CPU, "CUDA is not available"),
    ("bad-budget", RequestedSettings(token_budget=0), V2, CPU, "token_budget"),
    (
        "v3-graphs",
        RequestedSettings(cuda_graphs=True),
        V3,
        H100,
        "cuda_graphs=True is not available for jina-reranker-v3",
    ),
    (
        "v3-fused",
        RequestedSettings(fused_norms=True),
        V3,
        H100,
        "fused_norms=True is not available for jina-reranker-v3",
    ),
    ("v3-unpacked", RequestedSettings(packed=False), V3, CPU, "always runs its blocks packed"),
    ("not-a-device", RequestedSettings(device="gpu0"), V2, CPU, "device='gpu0' is not a device"),
    ("v3-onnx", RequestedSettings(backend="onnx"), V3, CPU, "not available for jina-reranker-v3 yet"),
]


@pytest.mark.parametrize(
    ("requested", "traits", "machine", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan_table(requested, traits, machine, expected):
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            make_plan(requested, traits, machine)
        return
    plan = make_plan(requested, traits, machine)
    device, dtype, attention, packed, graphs, fused, budget = expected
    assert (plan.device.type, plan.dtype, plan.attn_implementation) == (device, dtype, attention)
    assert (plan.packed, plan.cuda_graphs, plan.fused_norms, plan.token_budget) == (packed, graphs, fused, budget)
    assert plan.backend == requested.backend
    assert plan.precision == (None if requested.backend == "torch" else (requested.dtype or "float32"))


def test_plan_is_frozen_and_describes_itself_in_one_line():
    plan = make_plan(RequestedSettings(), V2, H100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.packed = False  # type: ignore[misc]
    line = plan.describe()
    assert "\n" not in line and str(plan) == line
    for part in ("device=cuda", "dtype=float16", "packed=on", "cuda_graphs=on", "fused_norms=on", "token_budget=32768"):
        assert part in line
    onnx = make_plan(RequestedSettings(backend="onnx", dtype="int8"), GENERIC, CPU)
    assert "backend=onnx precision=int8" in onnx.describe() and "packed=off" in onnx.describe()


def test_target_needs_no_architecture_and_agrees_with_the_plan():
    for requested, machine in [(RequestedSettings(), H100), (RequestedSettings(dtype="bfloat16"), CPU)]:
        target = resolve_target(requested, machine)
        plan = make_plan(requested, V1, machine)
        assert (target.device, target.dtype, target.token_budget) == (plan.device, plan.dtype, plan.token_budget)


def test_reranker_keeps_the_request_and_exposes_the_plan(tmp_path):
    from conftest import V2_TINY

    from jina_local_rerank import Reranker

    lazy = Reranker(V2_TINY, device="cpu", lazy=True, packed=True)
    assert lazy.plan is None and lazy.packed is True and lazy.cuda_graphs is None
    assert lazy.device == torch.device("cpu") and lazy.dtype is torch.float32
    lazy.load()
    assert isinstance(lazy.plan, ExecutionPlan)
    assert lazy.requested.packed is True and lazy.requested.cuda_graphs is None  # as given
    assert (lazy.packed, lazy.cuda_graphs, lazy.fused_norms) == (True, False, False)  # as run
    assert lazy.attn_implementation == lazy.plan.attn_implementation
    with pytest.raises(AttributeError):
        lazy.packed = False  # read-only: the plan decides
