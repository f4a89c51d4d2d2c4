"""A real local Ray (2 CPUs, started once): the score command's Ray engine and ``score_dataset`` compared
with ``Reranker.rerank``, and the rerank API on Ray Serve driven by the official Jina and Cohere clients."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

# Token auth with a token of this session only, so a new local Ray writes nothing to ~/.ray. Ray reads
# these when it is imported, hence before the import.
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))

ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow")

from conftest import V2_TINY
from pair_rows import MAX_LENGTH, make_rows, read_rows, rerank_scores, write_rows

from jina_local_rerank.cli import main

pytestmark = pytest.mark.slow

MODEL = ["--model", str(V2_TINY), "--device", "cpu", "--dtype", "float32", "--no-progress"]
QUERY = "Organic skincare products for sensitive skin"
DOCS = [
    "Organic skincare for sensitive skin with aloe vera and chamomile.",
    "New makeup trends focus on bold colors and innovative techniques",
    "Bio-Hautpflege für empfindliche Haut mit Aloe Vera und Kamille",
    " ".join(["The train to Berlin leaves at 9:45 from platform 7."] * 80),
]
KEY = "ray-test-key"


@pytest.fixture(scope="session")
def local_ray():
    """One Ray for the whole session, with its files in a private folder; stopped after."""
    folder = tempfile.mkdtemp(prefix="jlr-ray-", dir="/tmp")  # short: Ray's socket paths must fit
    ray.init(num_cpus=2, _temp_dir=folder, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


def run(*args: object) -> int:
    return main(["score", *map(str, args)])


def test_ray_engine_two_actors_parquet_to_folder(local_ray, v2_reranker, tmp_path) -> None:
    rows = make_rows(2000)
    source, target = tmp_path / "in.parquet", tmp_path / "scored"
    write_rows(rows, source)
    args = ("--engine", "ray", "--concurrency", 2, "--batch-size", 250, "--max-length", MAX_LENGTH)
    assert run(source, target, *MODEL, *args) == 0
    out = sorted(read_rows(target), key=lambda row: row["row"])
    assert [{k: row[k] for k in rows[0]} for row in out] == rows
    assert [row["score"] for row in out] == pytest.approx(rerank_scores(v2_reranker, rows), abs=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "scored"]


@pytest.mark.parametrize(("kind", "output"), [("jsonl", "csv"), ("csv", "jsonl")])
def test_ray_engine_text_files_keep_input_order(local_ray, v2_reranker, tmp_path, kind, output) -> None:
    rows = make_rows(200, seed=7)
    source, target = tmp_path / f"in.{kind}", tmp_path / f"out.{output}"
    write_rows(rows, source)
    assert run(source, target, *MODEL, "--engine", "ray", "--batch-size", 100, "--max-length", MAX_LENGTH) == 0
    out = read_rows(target)
    assert [row["row"] for row in out] == [row["row"] for row in rows]
    assert [row["score"] for row in out] == pytest.approx(rerank_scores(v2_reranker, rows), abs=1e-5)


def test_ray_engine_top_n_per_group(local_ray, tmp_path) -> None:
    rows = make_rows(300, queries=5, seed=11)
    source = tmp_path / "in.csv"
    write_rows(rows, source)
    common = (*MODEL, "--max-length", MAX_LENGTH, "--group-column", "query_id", "--top-n", 4, "--batch-size", 100)
    assert run(source, tmp_path / "local.jsonl", *common) == 0
    assert run(source, tmp_path / "ray.jsonl", *common, "--engine", "ray", "--concurrency", 2) == 0
    local, distributed = read_rows(tmp_path / "local.jsonl"), read_rows(tmp_path / "ray.jsonl")
    assert [(r["row"], r["rank"]) for r in distributed] == [(r["row"], r["rank"]) for r in local]
    assert [r["score"] for r in distributed] == pytest.approx([r["score"] for r in local], abs=1e-5)
    assert len(local) == 5 * 4


def test_ray_engine_null_found_by_an_actor_is_one_error_line(local_ray, tmp_path, capsys) -> None:
    rows = make_rows(160, long_every=1000, seed=5)
    rows[130]["query"] = None
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    write_rows(rows, source)
    assert run(source, target, *MODEL, "--engine", "ray", "--batch-size", 100) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: a row has no 'query' (null)") and "'row': '130'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_score_dataset_python_api(local_ray, v2_reranker) -> None:
    from jina_local_rerank.ray import score_dataset

    rows = make_rows(150, seed=2)
    ds = ray.data.from_items(rows)
    scored = score_dataset(
        ds,
        str(V2_TINY),
        output_column="relevance",
        concurrency=2,
        batch_size=64,
        max_length=MAX_LENGTH,
        device="cpu",
        dtype="float32",
    )
    out = sorted(scored.take_all(), key=lambda row: row["row"])
    assert [row["relevance"] for row in out] == pytest.approx(rerank_scores(v2_reranker, rows), abs=1e-5)
    with pytest.raises(ValueError, match="no column 'passage'"):
        score_dataset(ray.data.from_items(rows), str(V2_TINY), document_column="passage")


@pytest.fixture(scope="module")
def serve_url(local_ray):
    from ray import serve

    from jina_local_rerank.ray import app
    from jina_local_rerank.server.background import free_port

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    arguments = {
        "model": str(V2_TINY),
        "served_name": "jina-v2-tiny",
        "device": "cpu",
        "dtype": "float32",
        "num_cpus": "0.5",
        "max_batch_size": "8",
        "batch_wait_timeout_s": "0.02",
        "api_key": KEY,
        "max_documents": "50",
    }
    serve.run(app(arguments), name="rerank", route_prefix="/")
    yield f"http://127.0.0.1:{port}"
    serve.delete("rerank")


def test_serve_answers_the_cohere_client(serve_url, v2_reranker) -> None:
    cohere = pytest.importorskip("cohere")
    client = cohere.ClientV2(api_key=KEY, base_url=serve_url)
    answer = client.rerank(model="jina-v2-tiny", query=QUERY, documents=DOCS, top_n=3)
    expected = v2_reranker.rerank(QUERY, DOCS, top_n=3)
    assert [r.index for r in answer.results] == [r.index for r in expected]
    assert [r.relevance_score for r in answer.results] == pytest.approx([r.relevance_score for r in expected], abs=1e-6)


def test_serve_answers_the_jina_client(serve_url, v2_reranker) -> None:
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.postprocessor.jinaai_rerank import JinaRerank

    client = JinaRerank(base_url=f"{serve_url}/v1", api_key=KEY, model="jina-v2-tiny", top_n=2)
    out = client.postprocess_nodes([NodeWithScore(node=TextNode(text=t), score=0.0) for t in DOCS], query_str=QUERY)
    expected = v2_reranker.rerank(QUERY, DOCS, top_n=2)
    assert [n.node.get_content() for n in out] == [r.document for r in expected]
    assert [n.score for n in out] == pytest.approx([r.relevance_score for r in expected], abs=1e-6)


def test_serve_batches_concurrent_requests_with_serial_scores(serve_url, v2_reranker) -> None:
    bodies = [{"query": f"{QUERY} {i}", "documents": DOCS[i % 4 :] + DOCS[: i % 4]} for i in range(16)]
    auth = {"Authorization": f"Bearer {KEY}"}
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(
            pool.map(lambda b: httpx.post(f"{serve_url}/v2/rerank", json=b, headers=auth, timeout=60), bodies)
        )
    for body, answer in zip(bodies, answers):
        expected = v2_reranker.rerank(body["query"], body["documents"])
        got = answer.json()["results"]
        assert [r["index"] for r in got] == [r.index for r in expected]
        assert [r["relevance_score"] for r in got] == pytest.approx([r.relevance_score for r in expected], abs=1e-5)


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        ({"query": QUERY, "documents": DOCS}, {}, 401, "API key"),
        ({"model": "nope", "query": QUERY, "documents": DOCS}, None, 404, "jina-v2-tiny"),
        ({"query": QUERY, "documents": ["x"] * 51}, None, 413, "51 documents"),
        ({"query": QUERY, "documents": DOCS, "top_n": 0}, None, 422, "top_n"),
        ({"query": QUERY, "documents": DOCS, "bogus": 1}, None, 422, "bogus"),
    ],
)
def test_serve_limits_and_error_codes_match_the_server(serve_url, body, headers, status, message) -> None:
    auth = {"Authorization": f"Bearer {KEY}"} if headers is None else headers
    answer = httpx.post(f"{serve_url}/v1/rerank", json=body, headers=auth, timeout=60)
    assert answer.status_code == status and message in answer.text
    assert httpx.get(f"{serve_url}/health").json()["status"] == "ok"
    models = httpx.get(f"{serve_url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert [m["id"] for m in models["data"]] == ["jina-v2-tiny"]


def test_import_without_ray_names_the_extra() -> None:
    code = "import sys\nsys.modules['ray'] = None\nimport jina_local_rerank.ray\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and 'pip install "jina-local-rerank[ray]"' in done.stderr


def test_serve_builder_checks_its_arguments() -> None:
    from jina_local_rerank.ray import app

    with pytest.raises(ValueError, match="num_replicas"):
        app({"model": str(V2_TINY), "num_replicas": "0"})
    with pytest.raises(ValueError, match="port"):
        app({"model": str(V2_TINY), "port": "8000"})
