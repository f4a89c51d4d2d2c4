"""Resident memory over many ``rerank`` calls of random shapes on the CPU, by dtype (docs/core.md, CPU dtype).

oneDNN keeps compiled kernels per batch shape; in half precision that grows memory with every new
shape unless batch widths are bucketed (the plan's ``pad_to_multiple``). ``--no-bucketing`` turns the
bucketing off to show the difference. Usage:
    python benchmarks/half_precision_memory.py [--dtype float16] [--calls 200] [--no-bucketing]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from jina_local_rerank import Reranker
from jina_local_rerank.cli.bench import SHAPES, make_workload, write_checkpoint


def resident_mib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--no-bucketing", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reranker = Reranker(write_checkpoint(SHAPES["v1-tiny"], Path(tmp) / "v1-tiny"), device="cpu", dtype=args.dtype)
    if args.no_bucketing:
        reranker.pipeline.scorer.pad_to_multiple = 1
    query, documents = make_workload(reranker.cross_encoder.tokenizer, 300, seed=1)
    draw = random.Random(0)
    marks = []
    for call in range(args.calls):
        picked = [text[: draw.randint(20, len(text))] for text in draw.sample(documents, draw.randint(1, 40))]
        reranker.rerank(query, picked)
        if call % 25 == 0:
            marks.append(resident_mib())
    print(f"{args.dtype}, bucketing {'off' if args.no_bucketing else 'on'}: RSS MiB every 25 calls: {marks}")


if __name__ == "__main__":
    main()
