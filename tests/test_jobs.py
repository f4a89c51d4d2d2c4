"""``jina-local-rerank score`` on the local engine: real files through the tiny model, compared with
``Reranker.rerank``; the per-group top N; bad input answered before any model loads; atomic output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")

from conftest import V2_TINY
from pair_rows import MAX_LENGTH, make_rows, read_rows, rerank_scores, write_rows

from jina_local_rerank.cli import main
from jina_local_rerank.jobs.formats import open_input
from jina_local_rerank.jobs.spec import ScoringColumns
from jina_local_rerank.jobs.top_n import TopNPerGroup

MODEL = ["--model", str(V2_TINY), "--device", "cpu", "--dtype", "float32", "--no-progress"]
# A model that does not exist: a check that fires before loading answers first, else the load fails.
NO_MODEL = ["--model", "/nonexistent/model", "--device", "cpu", "--no-progress"]

ROWS = make_rows(2000)
TEXT_PAIR = pa.schema([("query", pa.string()), ("document", pa.string())])


@pytest.fixture(scope="module")
def expected(v2_reranker) -> list[float]:
    return rerank_scores(v2_reranker, ROWS)


def run(*args: object) -> int:
    return main(["score", *map(str, args)])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["parquet", "jsonl", "csv"])
def test_scores_equal_rerank_and_keep_every_column(tmp_path: Path, expected: list[float], kind: str) -> None:
    source, target = tmp_path / f"in.{kind}", tmp_path / f"out.{kind}"
    write_rows(ROWS, source)
    assert run(source, target, *MODEL, "--max-length", MAX_LENGTH, "--batch-size", 300) == 0
    out = read_rows(target)
    assert [{k: row[k] for k in ROWS[0]} for row in out] == ROWS
    assert [row["score"] for row in out] == pytest.approx(expected, abs=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, target.name])


@pytest.mark.slow
def test_the_onnx_backend_scores_files_like_torch(tmp_path: Path, expected: list[float], monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("JINA_LOCAL_RERANK_EXPORTS", str(tmp_path / "exports"))
    rows = 300
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    write_rows(ROWS[:rows], source)
    options = ["--model", str(V2_TINY), "--no-progress", "--backend", "onnx"]
    assert run(source, target, *options, "--max-length", MAX_LENGTH) == 0
    assert [row["score"] for row in read_rows(target)] == pytest.approx(expected[:rows], abs=1e-4)


@pytest.mark.slow
def test_top_n_per_group_matches_rerank_top_n(tmp_path: Path, v2_reranker) -> None:
    rows = make_rows(240, queries=6, long_every=30, seed=3)
    rows += [dict(rows[0], row=1000), dict(rows[0], row=1001)]  # ties: same query and document, input order
    source, target = tmp_path / "in.jsonl", tmp_path / "out.parquet"
    write_rows(rows, source)
    args = (source, target, *MODEL, "--max-length", MAX_LENGTH, "--group-column", "query_id", "--top-n", 3)
    assert run(*args, "--batch-size", 50) == 0
    out = read_rows(target)
    groups = list(dict.fromkeys(row["query_id"] for row in rows))
    assert [row["query_id"] for row in out] == [g for g in groups for _ in range(3)]
    for group in groups:
        members = [row for row in rows if row["query_id"] == group]
        best = v2_reranker.rerank(members[0]["query"], [r["document"] for r in members], top_n=3, max_length=MAX_LENGTH)
        kept = [row for row in out if row["query_id"] == group]
        assert [row["row"] for row in kept] == [members[r.index]["row"] for r in best]
        assert [row["score"] for row in kept] == pytest.approx([r.relevance_score for r in best], abs=1e-5)
        assert [row["rank"] for row in kept] == [1, 2, 3]
    tied = [row["row"] for row in out if row["row"] in (rows[0]["row"], 1000, 1001)]
    assert tied == sorted(tied)


@given(
    scores=st.lists(st.sampled_from([0.1, 0.5, 0.5, 0.9]), min_size=0, max_size=60),
    groups=st.data(),
    top_n=st.integers(1, 5),
    chunk=st.integers(1, 7),
)
@settings(max_examples=60, deadline=None)
def test_top_n_selector_equals_a_full_sort(scores, groups, top_n, chunk) -> None:
    keys = groups.draw(st.lists(st.integers(0, 3), min_size=len(scores), max_size=len(scores)))
    table = pa.table({"g": keys, "score": scores, "row": list(range(len(scores)))})
    selector = TopNPerGroup(ScoringColumns(group="g", top_n=top_n))
    for start in range(0, len(scores), chunk):
        selector.add(table.slice(start, chunk))
    out = selector.table(table.schema).to_pylist()
    expected = []
    for key in dict.fromkeys(keys):
        rows = sorted((i for i in range(len(scores)) if keys[i] == key), key=lambda i: (-scores[i], i))[:top_n]
        expected += [{"g": key, "score": scores[i], "row": i, "rank": rank} for rank, i in enumerate(rows, 1)]
    assert out == expected


@given(sizes=st.lists(st.integers(0, 9), max_size=12), rows=st.integers(1, 8))
@settings(max_examples=40, deadline=None)
def test_input_batches_have_the_asked_size_and_keep_order(tmp_path_factory, sizes, rows) -> None:
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("parts")
    start = 0
    for part, size in enumerate(sizes):
        values = [str(i) for i in range(start, start + size)]
        table = pa.table({"query": values, "document": values}, schema=TEXT_PAIR)
        pq.write_table(table, folder / f"{part:03d}.parquet")
        start += size
    if not start:
        return
    batches = list(open_input(folder, rows).batches)
    assert [b.num_rows for b in batches[:-1]] == [rows] * (len(batches) - 1) and 0 < batches[-1].num_rows <= rows
    assert [v for b in batches for v in b.column("query").to_pylist()] == [str(i) for i in range(start)]


def _bad(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    ("name", "content", "extra", "message"),
    [
        ("in.jsonl", '{"query": "q", "text": "d"}\n', [], "no column 'document'"),
        ("in.csv", "query,document\nq,d\n", ["--query-column", "question"], "no column 'question' (--query-column)"),
        ("in.parquet", b"not a parquet file at all", [], "cannot read"),
        ("in.jsonl", '{"query": "q", "document": "d"}\n{"query": null, "document": "d"}\n', [], "row 2 has no 'query'"),
        ("in.jsonl", '{"query": "q", "document": 5}\n', [], "'document' holds int64 values"),
        ("in.jsonl", '{"query": "q", "document": "d"}\n', ["--top-n", "2"], "--group-column and --top-n"),
        ("in.jsonl", '{"query": "q", "document": "d", "score": 1}\n', [], "already has a column 'score'"),
        ("in.txt", "query\tdocument\n", [], "unknown file type '.txt'"),
        ("in.jsonl", '{"query": "q", "document": "d"}\n', ["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_input_is_one_error_line_before_the_model_loads(tmp_path, capsys, name, content, extra, message) -> None:
    source = _bad(tmp_path, name, content)
    assert run(source, tmp_path / "out.parquet", *NO_MODEL, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "out.parquet").exists()


def test_missing_input_and_existing_output(tmp_path, capsys) -> None:
    assert run(tmp_path / "nothing.parquet", tmp_path / "out.parquet", *NO_MODEL) == 2
    assert "no such file" in capsys.readouterr().err
    source = _bad(tmp_path, "in.jsonl", '{"query": "q", "document": "d"}\n')
    existing = _bad(tmp_path, "out.csv", "keep me")
    assert run(source, existing, *NO_MODEL) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert existing.read_text() == "keep me"


@pytest.mark.slow
def test_a_null_found_late_names_its_row_and_leaves_no_output(tmp_path, capsys) -> None:
    rows = make_rows(120, long_every=1000)
    rows[101]["document"] = None
    source, target = tmp_path / "in.parquet", tmp_path / "out.jsonl"
    write_rows(rows, source)
    existing = "an older output stays as it was"
    target.write_text(existing)
    assert run(source, target, *MODEL, "--batch-size", 50, "--overwrite") == 2
    assert "row 102 has no 'document' (null)" in capsys.readouterr().err
    assert target.read_text() == existing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.jsonl"]


@pytest.mark.slow
def test_progress_bar_shows_rows_per_second(tmp_path) -> None:
    source = tmp_path / "in.csv"
    write_rows(make_rows(40, long_every=1000), source)
    command = [sys.executable, "-m", "jina_local_rerank.cli", "score", str(source), str(tmp_path / "out.parquet")]
    done = subprocess.run(
        [*command, "--model", str(V2_TINY), "--device", "cpu", "--dtype", "float32", "--batch-size", "10"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "40/40" in done.stderr and "rows/s" in done.stderr and "wrote 40 rows" in done.stderr


def test_command_line_and_package_import_no_heavy_modules() -> None:
    code = (
        "import sys, jina_local_rerank, jina_local_rerank.cli\n"
        "print(json.dumps([m for m in ('torch', 'pyarrow', 'ray') if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
