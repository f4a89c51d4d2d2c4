"""Time and peak memory of one long pair with a JinaBERT model of turbo or tiny size (random weights).

Each length runs in a fresh process so its peak RSS is its own. Usage:
    python benchmarks/long_context.py [--size turbo|tiny] [--lengths 1024 4096 8192] [--dtype float32]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys

import torch

SIZES = {"turbo": 6, "tiny": 4}

_CHILD = """
import json, resource, sys, time, torch
from jina_local_rerank.models.architectures.jina_bert import JinaBertConfig, JinaBertForSequenceClassification
layers, length, dtype = int(sys.argv[1]), int(sys.argv[2]), getattr(torch, sys.argv[3])
torch.manual_seed(0)
model = JinaBertForSequenceClassification(JinaBertConfig(num_hidden_layers=layers)).eval().to(dtype)
ids = torch.randint(5, 61000, (1, length))
with torch.inference_mode():
    model(ids[:, :64])
    start = time.perf_counter()
    model(ids)
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="turbo")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 8192])
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    print(
        f"# {args.size} ({SIZES[args.size]} layers), {args.dtype}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    print("| tokens | time (s) | peak RSS (MiB) |\n|---:|---:|---:|")
    for length in args.lengths:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(SIZES[args.size]), str(length), args.dtype],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {length} | {row['seconds']:.2f} | {row['peak_rss_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
