"""Loading from a folder, from the HF cache by hub id, and the error when a model is not available."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import V2_TINY

from jina_local_rerank import DEFAULT_MODEL, ModelNotAvailableError, Reranker

PAIR = ["Organic skincare products for sensitive skin", "Gentle organic creams calm sensitive skin."]


def _fake_hub_cache(root: Path, repo_id: str, source: Path) -> Path:
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/...}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for item in source.iterdir():
        if item.name != "expected.json":
            shutil.copy(item, snapshot / item.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_hub_id_resolves_through_the_cache_offline(tmp_path, v2_reranker):
    _fake_hub_cache(tmp_path, DEFAULT_MODEL, V2_TINY)
    cached = Reranker(DEFAULT_MODEL, cache_dir=tmp_path, local_files_only=True, device="cpu", dtype="float32")
    assert cached.compute_score(PAIR) == pytest.approx(v2_reranker.compute_score(PAIR), abs=1e-6)
    assert cached.spec is not None and cached.spec.context_length == 1024


def test_hf_hub_offline_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="offline mode is on"):
        Reranker("jinaai/not-cached-anywhere", cache_dir=tmp_path)


def test_missing_model_says_what_to_do(tmp_path):
    with pytest.raises(ModelNotAvailableError) as info:
        Reranker("jinaai/jina-reranker-v1-turbo-en", cache_dir=tmp_path, local_files_only=True)
    message = str(info.value)
    assert "jinaai/jina-reranker-v1-turbo-en" in message
    assert "hf download jinaai/jina-reranker-v1-turbo-en" in message
    assert "local folder" in message


def test_missing_folder_and_folder_without_weights(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="no such folder"):
        Reranker(tmp_path / "does" / "not" / "exist")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotAvailableError, match="has no weights"):
        Reranker(tmp_path)


def test_lazy_reranker_reports_missing_model_on_first_use(tmp_path):
    reranker = Reranker("jinaai/not-cached-anywhere", cache_dir=tmp_path, local_files_only=True, lazy=True)
    with pytest.raises(ModelNotAvailableError):
        reranker.rerank("query", ["a document"])
