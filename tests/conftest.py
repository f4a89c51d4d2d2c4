"""Shared fixtures: the tiny reference checkpoints and their expected outputs (copied from Jina's reference runs)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
V2_TINY = FIXTURES / "jina-v2-tiny"
V1_TINY = FIXTURES / "jina-v1-tiny"

# Tests must never reach the network: everything offline unless a test opts into the hub.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# The CPU default dtype is measured per machine (fp16 where it is fast); tests compare against
# reference scores at fp32 precision, so they pin it. tests/test_matmul_probe.py covers the choice.
os.environ.setdefault("JINA_LOCAL_RERANK_CPU_DTYPE", "float32")


def load_expected(folder: Path) -> dict[str, Any]:
    with open(folder / "expected.json", encoding="utf-8") as handle:
        return json.load(handle)


def cases(folder: Path, kind: str) -> list[dict[str, Any]]:
    return [case for case in load_expected(folder)["cases"] if case["kind"] == kind]


def case_ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests never touch the network on their own: the hub tests run only when asked for.
    if os.environ.get("JINA_LOCAL_RERANK_HUB_TESTS") != "1":
        skip = pytest.mark.skip(reason="downloads from the Hugging Face hub; set JINA_LOCAL_RERANK_HUB_TESTS=1")
        for item in items:
            if "hub" in item.keywords:
                item.add_marker(skip)
    import torch

    if not torch.cuda.is_available():
        skip_cuda = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip_cuda)


@pytest.fixture(scope="session")
def v2_expected() -> dict[str, Any]:
    return load_expected(V2_TINY)


@pytest.fixture(scope="session")
def v2_reranker():
    from jina_local_rerank import Reranker

    return Reranker(V2_TINY, device="cpu", dtype="float32")
