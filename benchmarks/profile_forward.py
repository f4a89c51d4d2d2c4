"""Where a 100-document rerank spends its time: tokenization, the forward, and the top kernels.

python benchmarks/profile_forward.py --model v2-base --device cuda
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from torch.profiler import ProfilerActivity, profile

from jina_local_rerank import Reranker
from jina_local_rerank.cli import bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="v2-base", choices=sorted(bench.SHAPES))
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--rows", type=int, default=25, help="kernels to list")
    parser.add_argument("--no-cuda-graphs", action="store_true", help="launch every kernel from Python")
    parser.add_argument("--no-fused-norms", action="store_true", help="residual add and LayerNorm as two kernels")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = bench.write_checkpoint(bench.SHAPES[args.model], Path(tmp) / args.model)
        reranker = Reranker(
            folder,
            device=args.device,
            dtype=args.dtype,
            cuda_graphs=False if args.no_cuda_graphs else None,
            fused_norms=False if args.no_fused_norms else None,
        )
        query, docs = bench.make_workload(reranker.cross_encoder.tokenizer, args.documents)
        scorer = reranker.pipeline.scorer
        tokenize = lambda: reranker.pipeline.windows(query, docs)
        pairs = tokenize()
        forward = lambda: scorer.score(pairs)
        for name, fn in (
            ("tokenize", tokenize),
            ("forward", forward),
            ("rerank", lambda: reranker.rerank(query, docs)),
        ):
            fn()
            started = time.perf_counter()
            for _ in range(10):
                fn()
            print(f"{name}: {(time.perf_counter() - started) * 100:.2f} ms")
        print(
            f"{len(pairs)} pairs, {sum(len(p) for p in pairs)} tokens, packed={reranker.packed}, "
            f"cuda_graphs={reranker.cuda_graphs}, fused_norms={reranker.fused_norms}, dtype={reranker.dtype}, attention={reranker.attn_implementation}"
        )
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if reranker.device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            for _ in range(5):
                forward()
        sort = "cuda_time_total" if reranker.device.type == "cuda" else "cpu_time_total"
        print(prof.key_averages().table(sort_by=sort, row_limit=args.rows))


if __name__ == "__main__":
    main()
