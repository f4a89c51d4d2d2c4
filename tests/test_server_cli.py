"""``jina-local-rerank serve`` as a user runs it: a real process on 127.0.0.1 that prints one startup
line, serves a local folder under its folder name and never shows a filesystem path."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")

from conftest import V1_TINY, V2_TINY

from jina_local_rerank.server.background import free_port

ROOT = Path(__file__).resolve().parents[1]


def start_serve(*arguments: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "integrations")]),
    }
    env.pop("JINA_LOCAL_RERANK_API_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "jina_local_rerank.cli", "serve", "--port", str(port), "--device", "cpu", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return process, f"http://127.0.0.1:{port}"


def first_line(process: subprocess.Popen[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        assert process.stderr is not None
        pytest.fail(f"serve exited: {process.stderr.read()[-2000:]}")
    assert time.monotonic() < deadline
    return line.strip()


@pytest.mark.slow
def test_serve_prints_one_startup_line_and_serves_folders_by_name():
    process, url = start_serve("--model", str(V2_TINY), "--model", f"v1={V1_TINY}", "--dtype", "float32")
    try:
        line = first_line(process)
        assert line.startswith(f"jina-local-rerank serving {url}")
        assert "jina-v2-tiny (cpu, float32)" in line and "v1 (cpu, float32)" in line
        assert "auth: off" in line and "1000 documents" in line and "500000 tokens/request" in line
        assert str(ROOT) not in line
        models = httpx.get(f"{url}/v1/models").json()["data"]
        assert [m["id"] for m in models] == ["jina-v2-tiny", "v1"]
        health = httpx.get(f"{url}/health")
        assert health.json() == {"status": "ok", "models": ["jina-v2-tiny", "v1"]}
        assert str(ROOT) not in health.text + httpx.get(f"{url}/v1/models").text
        body = {"model": "jina-v2-tiny", "query": "skin care", "documents": ["aloe vera", "trains"]}
        assert httpx.post(f"{url}/v1/rerank", json=body).status_code == 200
        assert httpx.post(f"{url}/v1/rerank", json={**body, "model": str(V2_TINY)}).status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.stdout is not None and process.stdout.read().strip() == ""  # one line, nothing else


@pytest.mark.slow
def test_serve_startup_line_says_auth_is_on():
    process, url = start_serve("--model", str(V2_TINY), "--api-key", "sekrit-123", "--max-request-tokens", "1234")
    try:
        line = first_line(process)
        assert "auth: on" in line and "1234 tokens/request" in line and "sekrit" not in line
        assert httpx.get(f"{url}/v1/models").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)
