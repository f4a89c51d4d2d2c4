"""The small pure pieces: windows, batches, dtype and attention choices."""

from __future__ import annotations

import pytest
import torch

from jina_local_rerank.runtime import hardware
from jina_local_rerank.runtime.batching import plan_batches
from jina_local_rerank.runtime.plan import MachineCapabilities, RequestedSettings, resolve_target
from jina_local_rerank.text.windows import effective_overlap, split_windows, window_length


def test_short_and_empty_documents_are_one_window():
    assert split_windows([1, 2, 3], 5, 1) == [[1, 2, 3]]
    assert split_windows([], 5, 1) == [[]]


def test_windows_overlap_and_the_last_is_right_aligned():
    tokens = list(range(10))
    assert split_windows(tokens, 4, 1) == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    # 11 tokens: the last window is the final 4 tokens, overlapping its neighbour by more than 1.
    assert split_windows(list(range(11)), 4, 1) == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9], [7, 8, 9, 10]]


def test_window_arithmetic_follows_jina():
    # v2: q = <s> + 10 tokens + </s> (12), window = 64 - 12 - 2.
    assert window_length(64, 10, 4) == 50
    assert effective_overlap(80, 50) == 12
    assert effective_overlap(8, 50) == 8


def test_token_budget_batches_are_length_sorted_and_bounded():
    lengths = [10, 500, 30, 30, 200, 5]
    batches = plan_batches(lengths, None, 600)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 600
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths, reverse=True)
    assert plan_batches(lengths, 4, 10) == [[1, 4, 2, 3], [0, 5]]


def test_dtype_parsing():
    assert hardware.parse_dtype("bf16") is torch.bfloat16
    assert hardware.parse_dtype("torch.float16") is torch.float16
    assert hardware.parse_dtype(torch.float32) is torch.float32
    assert hardware.parse_dtype(None) is None
    with pytest.raises(ValueError):
        hardware.parse_dtype("float64")


def test_cpu_defaults_never_use_flash_attention():
    cpu = torch.device("cpu")
    machine = MachineCapabilities(flash_attn=True)
    assert resolve_target(RequestedSettings(device="cpu", dtype="bfloat16"), machine).attn_implementation == "sdpa"
    assert hardware.default_dtype(cpu) is torch.float32  # whatever the CPU: see default_dtype
    assert hardware.resolve_dtype("float32", cpu) is torch.float32
