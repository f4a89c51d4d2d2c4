"""The README's main job: the model card's multilingual example as a ranked table."""

from __future__ import annotations

from conftest import V2_TINY

from jina_local_rerank.cli import main
from jina_local_rerank.examples import MODEL_CARD_DOCUMENTS


def test_demo_prints_every_document_ranked(capsys):
    assert main(["demo", "--model", str(V2_TINY), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Organic skincare products for sensitive skin" in out
    rows = [line for line in out.splitlines() if line[:4].strip().isdigit()]
    assert [int(row.split()[0]) for row in rows] == list(range(1, 11))
    assert sorted(int(row.split()[2]) for row in rows) == list(range(10))
    scores = [float(row.split()[1]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert MODEL_CARD_DOCUMENTS[6] in out


def test_demo_without_the_model_explains_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["demo", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "jinaai/jina-reranker-v2-base-multilingual" in err and "hf download" in err
