"""Command line: ``jina-local-rerank demo`` reranks the model card's multilingual example.

Only the standard library and this package's light modules are imported at the top: ``--help`` and
``--version`` answer at once, and each command imports torch and friends when it runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jina_local_rerank import __version__
from jina_local_rerank.errors import ModelNotAvailableError
from jina_local_rerank.models.registry import MODEL_ENV, default_model
from jina_local_rerank.text.examples import MODEL_CARD_DOCUMENTS, MODEL_CARD_QUERY

if TYPE_CHECKING:
    from jina_local_rerank.results import RerankResult

# How a shell user points at a local copy of a model (see ModelNotAvailableError.in_terms_of).
LOCAL_MODEL_TERMS = "--model {path}"


def format_table(query: str, results: Sequence[RerankResult], width: int = 70) -> str:
    """A ranked table for a terminal: rank, score, input index, document (shortened)."""
    lines = [f"Query: {query}", "", f"{'rank':>4}  {'score':>7}  {'index':>5}  document", "-" * (width + 24)]
    for rank, result in enumerate(results, start=1):
        text = " ".join(result.document.split())
        if len(text) > width:
            text = text[: width - 1] + "…"
        lines.append(f"{rank:>4}  {result.relevance_score:>7.4f}  {result.index:>5}  {text}")
    return "\n".join(lines)


def _add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (None: the best available)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16 or float16 (None: the best for the device)")
    parser.add_argument("--cache-dir", default=None, help="Hugging Face cache folder (None: HF_HUB_CACHE)")
    parser.add_argument(
        "--local-files-only", action="store_true", help="never contact the hub (also set by HF_HUB_OFFLINE=1)"
    )


@contextmanager
def _clean_exit_on_terminate() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into SystemExit so ``with`` blocks (temporary folders) clean up as on Ctrl-C."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _demo(args: argparse.Namespace) -> int:
    model = args.model or default_model()
    where = "this folder" if os.path.isdir(model) else "the Hugging Face cache (the first run downloads it)"
    print(f"Loading {model} from {where} ...", file=sys.stderr, flush=True)
    from jina_local_rerank.reranker import Reranker

    started = time.perf_counter()
    reranker = Reranker(
        model,
        device=args.device,
        dtype=args.dtype,
        cache_dir=args.cache_dir,
        local_files_only=args.local_files_only or None,
    )
    loaded = time.perf_counter()
    results = reranker.rerank(MODEL_CARD_QUERY, MODEL_CARD_DOCUMENTS, top_n=args.top_n)
    done = time.perf_counter()
    print(format_table(MODEL_CARD_QUERY, results))
    print(
        f"\n{reranker.model_name} on {reranker.device} ({str(reranker.dtype).removeprefix('torch.')}): "
        f"loaded in {loaded - started:.1f} s, reranked {len(MODEL_CARD_DOCUMENTS)} documents in "
        f"{(done - loaded) * 1000:.0f} ms"
    )
    if sum(parameter.numel() for parameter in reranker.model.parameters()) < 10_000_000:
        print("note: a tiny test checkpoint with random weights: its order means nothing.", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from jina_local_rerank.server import ServerLimits, create_app, run_server, served_names, startup_line
    except ImportError as exc:
        print(f'error: the server needs its extra: pip install "jina-local-rerank[server]" ({exc})', file=sys.stderr)
        return 2
    from jina_local_rerank.reranker import Reranker

    limits = ServerLimits(
        max_queue=args.max_queue,
        max_wait_ms=args.max_wait_ms,
        max_documents=args.max_documents,
        max_request_tokens=args.max_request_tokens,
        request_timeout_s=args.request_timeout,
        read_timeout_s=args.read_timeout,
        max_connections=args.max_connections,
    )
    table: dict[str, Reranker] = {}
    for spec in args.model or [default_model()]:
        alias, _, source = spec.rpartition("=")
        reranker = Reranker(
            source,
            device=args.device,
            dtype=args.dtype,
            cache_dir=args.cache_dir,
            local_files_only=args.local_files_only or None,
            backend=args.backend,
            cache_size=args.cache_size,
        )
        for name in [alias] if alias else served_names(reranker):
            table[name] = reranker
    app = create_app(table, api_key=args.api_key, limits=limits)
    line = startup_line(app, args.host, args.port)
    run_server(
        app,
        args.host,
        args.port,
        limits,
        log_level="info" if args.verbose else "warning",
        on_started=lambda: print(line, flush=True),
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from transformers.utils import logging as transformers_logging

    from jina_local_rerank.cli import bench
    from jina_local_rerank.runtime.plan import resolve_device
    from jina_local_rerank.text import validation

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    validation.check_positive_int("--requests", args.requests, allow_none=False)
    models = ["smoke-v2", "smoke-v1"] if args.smoke else args.models
    unknown = [model for model in models if model not in bench.SHAPES]
    if unknown:
        raise ValueError(f"unknown bench model {unknown[0]!r}; choose from {', '.join(bench.SHAPES)}")
    if args.backend == "all":
        return _bench_backends(args, models)
    documents, repeats, queries = (8, 1, 2) if args.smoke else (args.documents, args.repeats, args.queries)
    device = resolve_device(args.device)
    baselines = args.baseline_dtype or (["float32", "bfloat16"] if device.type == "cuda" else ["float32"])
    estimate = bench.estimate_seconds(
        models,
        device=device,
        documents=documents,
        repeats=repeats,
        queries=queries,
        long=args.long,
        engines=1 + len(args.extra_dtype),
        baselines=len(baselines),
        requests=args.requests,
    )
    print(f"bench: {', '.join(models)} on {device}; estimated {estimate / 60:.1f} min in all", file=sys.stderr)
    machine = bench.measure_machine(device)
    print(machine.describe(), flush=True)
    options: dict[str, Any] = {
        "device": args.device,
        "documents": documents,
        "repeats": repeats,
        "queries": queries,
        "machine": machine,
    }
    runs: list[dict[str, Any]] = [
        {"long": long, "extra_dtypes": tuple(args.extra_dtype)} for long in ((False, True) if args.long else (False,))
    ]
    if args.requests > 1:
        runs.append({"requests": args.requests})
    rows = []
    with _clean_exit_on_terminate(), tempfile.TemporaryDirectory(prefix="jina-local-rerank-bench-") as tmp:
        options["trained"] = bench.TrainedReference(Path(tmp) / "trained", max(queries, 3))
        for model in models:
            for run in runs:
                new_rows = bench.run(model, **options, **run, baseline_dtypes=tuple(baselines), progress=True)
                rows += new_rows
                print(bench.to_markdown(new_rows) + "\n" + bench.resources_line(new_rows) + "\n", flush=True)
    print("\n" + bench.to_markdown(rows))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(bench.rows_to_json(rows))
    return 0


def _score(args: argparse.Namespace) -> int:
    from jina_local_rerank.cli.score import run_score_command

    with _clean_exit_on_terminate():
        return run_score_command(args)


def _convert(args: argparse.Namespace) -> int:
    from jina_local_rerank.backends.conversion import convert

    try:
        output = convert(
            args.model,
            args.output_dir,
            dtype=args.dtype,
            overwrite=args.overwrite,
            revision=args.revision,
            cache_dir=args.cache_dir,
            local_files_only=args.local_files_only or None,
        )
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote a standard transformers checkpoint of {args.model} to {output}.")
    print(f"Load it with sentence_transformers.CrossEncoder({str(output)!r}); publish it with `hf upload`.")
    return 0


def _bench_backends(args: argparse.Namespace, models: list[str]) -> int:
    from jina_local_rerank.cli import bench

    documents, repeats, queries = (8, 1, 2) if args.smoke else (args.documents, args.repeats, max(args.queries, 10))
    for model in models:
        rows = bench.run_backends(model, documents=documents, repeats=repeats, queries=queries)
        print(f"{model}, {documents} docs (agreement: trained MiniLM body, {queries} queries)")
        print(bench.backends_markdown(rows) + "\n", flush=True)
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jina-local-rerank", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, formatter_class=_HelpFormatter)

    model_help = f"hub id or local folder (default: ${MODEL_ENV}, else %(default)s)"
    demo = command("demo", "rerank the model card's ten-language example and print a table")
    demo.add_argument("--model", default=None, help=model_help.replace("%(default)s", default_model()))
    _add_runtime_arguments(demo)
    demo.add_argument("--top-n", type=int, default=None, help="show only the best N documents")
    demo.set_defaults(handler=_demo)

    serve = command("serve", "serve Jina's /v1/rerank and Cohere's /v2/rerank APIs locally")
    serve.add_argument(
        "--model",
        action="append",
        default=None,
        help="hub id or local folder, optionally NAME=MODEL to choose the served name; repeat to serve "
        f"several models (default: ${MODEL_ENV}, else {default_model()})",
    )
    _add_runtime_arguments(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on")
    serve.add_argument(
        "--api-key", default=None, help="require 'Authorization: Bearer KEY' (or set JINA_LOCAL_RERANK_API_KEY)"
    )
    serve.add_argument("--max-queue", type=int, default=64, help="waiting requests before answering 503")
    serve.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a request waits to share a batch")
    serve.add_argument("--max-documents", type=int, default=1000, help="documents per request")
    serve.add_argument(
        "--max-request-tokens", type=int, default=500_000, help="tokens per request before answering 413"
    )
    serve.add_argument(
        "--request-timeout", type=float, default=60.0, help="seconds until a request is answered 504 and dropped"
    )
    serve.add_argument(
        "--read-timeout", type=float, default=30.0, help="seconds a client has to send its request head, then body"
    )
    serve.add_argument("--max-connections", type=int, default=1024, help="open connections before answering 503")
    serve.add_argument(
        "--backend", default="torch", choices=["torch", "onnx", "openvino"], help="runtime (onnx, openvino: CPU)"
    )
    serve.add_argument(
        "--cache-size",
        type=int,
        default=0,
        metavar="N",
        help="keep the scores of up to N model inputs per model (LRU), so repeated query-document pairs run no "
        "forward; hits, misses, evictions, size and hit rate are on /metrics; 0: no cache",
    )
    serve.set_defaults(handler=_serve)

    convert = command("convert", "write jina-reranker-v2 as a standard transformers checkpoint (no remote code)")
    convert.add_argument("model", help="hub id or local folder of the Jina checkpoint")
    convert.add_argument("output_dir", help="folder to write (must be empty unless --overwrite)")
    convert.add_argument(
        "--dtype", default="float32", choices=["float32", "bfloat16", "float16"], help="weights' dtype"
    )
    convert.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty OUTPUT_DIR")
    convert.add_argument("--revision", default=None, help="hub revision of MODEL")
    convert.add_argument("--cache-dir", default=None, help="Hugging Face cache folder (None: HF_HUB_CACHE)")
    convert.add_argument("--local-files-only", action="store_true", help="never contact the hub")
    convert.set_defaults(handler=_convert)

    score = command("score", "score every (query, document) row of a Parquet, JSON Lines or CSV file")
    score.add_argument("input", metavar="INPUT", help=".parquet, .jsonl or .csv file, or a folder of Parquet files")
    score.add_argument(
        "output", metavar="OUTPUT", help="where to write the rows with their scores (format by extension)"
    )
    score.add_argument("--model", default=None, help=model_help.replace("%(default)s", default_model()))
    score.add_argument("--query-column", default="query", help="column holding the queries")
    score.add_argument("--document-column", default="document", help="column holding the documents")
    score.add_argument("--output-column", default="score", help="column added with the scores")
    score.add_argument("--group-column", default=None, help="with --top-n: keep the best rows per value of this column")
    score.add_argument("--top-n", type=int, default=None, help="keep the best N rows per group, with a 'rank' column")
    score.add_argument("--engine", choices=["local", "ray"], default="local", help="run here, or on Ray Data")
    score.add_argument("--ray-address", default=None, help="Ray cluster to join (None: start a local Ray)")
    score.add_argument("--concurrency", type=int, default=1, help="Ray engine: scoring actors, one model each")
    score.add_argument("--num-gpus", type=float, default=0, help="Ray engine: GPUs per actor")
    score.add_argument("--batch-size", type=int, default=512, help="rows per scoring call (and per Ray batch)")
    score.add_argument("--max-length", type=int, default=None, help="tokens per window (None: the model's default)")
    _add_runtime_arguments(score)
    score.add_argument(
        "--backend", default="torch", choices=["torch", "onnx", "openvino"], help="runtime (onnx, openvino: CPU)"
    )
    score.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    score.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    score.set_defaults(handler=_score)

    bench = command("bench", "speed of plain CrossEncoder.predict vs Reranker on random models")
    bench.add_argument("--models", nargs="+", default=["v2-base", "v1-turbo"], help="v2-base, v1-turbo, v1-tiny, v3")
    bench.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (None: the best available)")
    bench.add_argument("--documents", type=int, default=100, help="documents per query")
    bench.add_argument("--repeats", type=int, default=3, help="timed runs; the median is reported")
    bench.add_argument("--queries", type=int, default=5, help="random queries for the accuracy columns")
    bench.add_argument("--long", action="store_true", help="also a long-document workload that needs windows")
    bench.add_argument("--extra-dtype", action="append", default=[], help="also time Reranker with this dtype")
    bench.add_argument(
        "--baseline-dtype",
        action="append",
        default=[],
        help="dtypes of the CrossEncoder.predict baseline (default: float32, plus bfloat16 on CUDA)",
    )
    bench.add_argument(
        "--requests", type=int, default=1, help="also a throughput workload: this many queries in one call"
    )
    bench.add_argument(
        "--backend", default="torch", choices=["torch", "all"], help="all: every backend and precision (CPU)"
    )
    bench.add_argument("--smoke", action="store_true", help="tiny models and workload (for CI)")
    bench.add_argument("--output", default=None, help="write the rows as JSON here")
    bench.set_defaults(handler=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.handler(args))
    except ModelNotAvailableError as exc:
        print(f"error: {exc.in_terms_of(LOCAL_MODEL_TERMS)}", file=sys.stderr)
        return 2
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
