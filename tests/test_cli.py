"""The README's main job: the model card's multilingual example as a ranked table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import V2_TINY

from jina_local_rerank import MODEL_CARD_DOCUMENTS, __version__
from jina_local_rerank.cli import main


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


def test_missing_model_advice_speaks_each_callers_terms(tmp_path, monkeypatch, capsys):
    from jina_local_rerank import ModelNotAvailableError, Reranker

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["demo", "--cache-dir", str(tmp_path)]) == 2
    assert "--model /path/to/jina-reranker-v2-base-multilingual" in capsys.readouterr().err
    with pytest.raises(ModelNotAvailableError) as raised:
        Reranker(cache_dir=tmp_path)
    assert "Reranker('/path/to/jina-reranker-v2-base-multilingual')" in str(raised.value)
    assert "model='/path/to/x'" in str(raised.value.in_terms_of("model='{path}'")).replace(
        "jina-reranker-v2-base-multilingual", "x"
    )


def test_the_environment_names_the_default_model(monkeypatch, capsys):
    from jina_local_rerank import MODEL_ENV, Reranker, default_model

    monkeypatch.setenv(MODEL_ENV, str(V2_TINY))
    assert default_model() == str(V2_TINY)
    assert Reranker(device="cpu", dtype="float32", lazy=True).model_name == str(V2_TINY)
    assert Reranker("elsewhere", lazy=True).model_name == "elsewhere"  # an explicit argument wins
    assert main(["demo", "--device", "cpu", "--top-n", "2"]) == 0
    assert str(V2_TINY) in capsys.readouterr().out
    monkeypatch.setenv(MODEL_ENV, "  ")
    assert default_model() == "jinaai/jina-reranker-v2-base-multilingual"


def test_version_and_help_answer_without_importing_torch():
    probe = (
        "import sys; import jina_local_rerank.cli as cli; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'; "
        "sys.argv = ['jina-local-rerank', '--version']; cli.main()"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"jina-local-rerank {__version__}"


@pytest.mark.parametrize("command", ["demo", "serve", "bench"])
def test_every_command_help_shows_its_defaults(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "JINA_LOCAL_RERANK_MODEL" in text or command == "bench"
    expected = {"demo": "--top-n", "serve": "(default: 8080)", "bench": "(default: 100)"}[command]
    assert expected in text
    if command == "demo":
        assert "NAME=MODEL" not in text and "repeat" not in text


def test_bench_rejects_an_unknown_model_before_any_work(capsys):
    assert main(["bench", "--models", "v9"]) == 2
    assert "unknown bench model 'v9'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_terminated_bench_leaves_no_temporary_folder(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    bench = subprocess.Popen(
        [sys.executable, "-m", "jina_local_rerank.cli", "bench", "--smoke", "--repeats", "50"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("jina-local-rerank-bench-*")):
            assert bench.poll() is None and time.monotonic() < deadline, "the bench never wrote its checkpoint"
            time.sleep(0.05)
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) != 0
    finally:
        bench.kill()
    assert "estimated" in bench.stderr.read()
    assert not list(tmp_path.glob("jina-local-rerank-bench-*"))
