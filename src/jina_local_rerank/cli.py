"""Command line: ``jina-local-rerank demo`` reranks the model card's multilingual example."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from jina_local_rerank.errors import ModelNotAvailableError
from jina_local_rerank.examples import MODEL_CARD_DOCUMENTS, MODEL_CARD_QUERY
from jina_local_rerank.registry import DEFAULT_MODEL
from jina_local_rerank.results import RerankResult


def format_table(query: str, results: Sequence[RerankResult], width: int = 70) -> str:
    """A ranked table for a terminal: rank, score, input index, document (shortened)."""
    lines = [f"Query: {query}", "", f"{'rank':>4}  {'score':>7}  {'index':>5}  document", "-" * (width + 24)]
    for rank, result in enumerate(results, start=1):
        text = " ".join(result.document.split())
        if len(text) > width:
            text = text[: width - 1] + "…"
        lines.append(f"{rank:>4}  {result.relevance_score:>7.4f}  {result.index:>5}  {text}")
    return "\n".join(lines)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        action="append" if parser.prog.endswith("serve") else "store",
        help="hub id or local folder (default: %(default)s); serve takes it repeatedly, optionally as NAME=MODEL",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16 or float16 (default: best for device)")
    parser.add_argument("--cache-dir", default=None, help="Hugging Face cache folder (default: HF_HUB_CACHE)")
    parser.add_argument("--local-files-only", action="store_true", help="never contact the hub")


def _demo(args: argparse.Namespace) -> int:
    from jina_local_rerank.reranker import Reranker

    started = time.perf_counter()
    reranker = Reranker(
        args.model,
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
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from jina_local_rerank.server import ServerLimits, create_app
    except ImportError as exc:
        print(f'error: the server needs its extra: pip install "jina-local-rerank[server]" ({exc})', file=sys.stderr)
        return 2
    from jina_local_rerank.reranker import Reranker
    from jina_local_rerank.server.app import served_names

    table: dict[str, Reranker] = {}
    for spec in args.model or [DEFAULT_MODEL]:
        alias, _, source = spec.rpartition("=")
        reranker = Reranker(
            source,
            device=args.device,
            dtype=args.dtype,
            cache_dir=args.cache_dir,
            local_files_only=args.local_files_only or None,
            backend=args.backend,
        )
        for name in [alias] if alias else served_names(reranker):
            table[name] = reranker
    limits = ServerLimits(max_queue=args.max_queue, max_wait_ms=args.max_wait_ms, max_documents=args.max_documents)
    app = create_app(table, api_key=args.api_key, limits=limits)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from transformers.utils import logging as transformers_logging

    from jina_local_rerank import bench, hardware, validation

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    validation.check_positive_int("--requests", args.requests, allow_none=False)
    models = ["smoke-v2", "smoke-v1"] if args.smoke else args.models
    if args.backend == "all":
        return _bench_backends(args, models)
    documents, repeats, queries = (8, 1, 2) if args.smoke else (args.documents, args.repeats, args.queries)
    baselines = args.baseline_dtype or (
        ["float32", "bfloat16"] if hardware.resolve_device(args.device).type == "cuda" else ["float32"]
    )
    rows = []
    for model in models:
        for long in (False, True) if args.long else (False,):
            new_rows = bench.run(
                model,
                device=args.device,
                documents=documents,
                repeats=repeats,
                queries=queries,
                long=long,
                extra_dtypes=tuple(args.extra_dtype),
                baseline_dtypes=tuple(baselines),
            )
            rows += new_rows
            print(bench.to_markdown(new_rows) + "\n" + bench.resources_line(new_rows) + "\n", flush=True)
        if args.requests > 1:
            new_rows = bench.run(
                model,
                device=args.device,
                documents=documents,
                repeats=repeats,
                queries=queries,
                baseline_dtypes=tuple(baselines),
                requests=args.requests,
            )
            rows += new_rows
            print(bench.to_markdown(new_rows) + "\n" + bench.resources_line(new_rows) + "\n", flush=True)
    print("\n" + bench.to_markdown(rows))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(bench.rows_to_json(rows))
    return 0


def _convert(args: argparse.Namespace) -> int:
    from jina_local_rerank.convert import convert

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
    from jina_local_rerank import bench

    documents, repeats, queries = (8, 1, 2) if args.smoke else (args.documents, args.repeats, max(args.queries, 10))
    for model in models:
        rows = bench.run_backends(model, documents=documents, repeats=repeats, queries=queries)
        print(f"{model}, {documents} docs (agreement: trained MiniLM body, {queries} queries)")
        print(bench.backends_markdown(rows) + "\n", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jina-local-rerank", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="rerank the model card's ten-language example and print a table")
    _add_model_arguments(demo)
    demo.add_argument("--top-n", type=int, default=None, help="show only the best N documents")
    demo.set_defaults(handler=_demo)

    serve = commands.add_parser("serve", help="serve Jina's /v1/rerank and Cohere's /v2/rerank APIs locally")
    _add_model_arguments(serve)
    serve.set_defaults(model=None)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--api-key", default=None, help="require 'Authorization: Bearer KEY' (or set JINA_LOCAL_RERANK_API_KEY)"
    )
    serve.add_argument("--max-queue", type=int, default=64, help="waiting requests before answering 503")
    serve.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a request waits to share a batch")
    serve.add_argument("--max-documents", type=int, default=1000, help="documents per request")
    serve.add_argument("--backend", default="torch", choices=["torch", "onnx", "openvino"], help="runtime (CPU)")
    serve.set_defaults(handler=_serve)

    convert = commands.add_parser(
        "convert", help="write jina-reranker-v2 as a standard transformers checkpoint (no remote code)"
    )
    convert.add_argument("model", help="hub id or local folder of the Jina checkpoint")
    convert.add_argument("output_dir", help="folder to write (must be empty unless --overwrite)")
    convert.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    convert.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty OUTPUT_DIR")
    convert.add_argument("--revision", default=None, help="hub revision of MODEL")
    convert.add_argument("--cache-dir", default=None, help="Hugging Face cache folder (default: HF_HUB_CACHE)")
    convert.add_argument("--local-files-only", action="store_true", help="never contact the hub")
    convert.set_defaults(handler=_convert)

    bench = commands.add_parser("bench", help="speed of plain CrossEncoder.predict vs Reranker on random models")
    bench.add_argument(
        "--models", nargs="+", default=["v2-base", "v1-turbo"], help="v2-base, v1-turbo, v1-tiny (default: %(default)s)"
    )
    bench.add_argument("--device", default=None)
    bench.add_argument("--documents", type=int, default=100)
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
        "--requests",
        type=int,
        default=1,
        help="also a throughput workload: this many queries of --documents each in one call",
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
        return args.handler(args)
    except ModelNotAvailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
