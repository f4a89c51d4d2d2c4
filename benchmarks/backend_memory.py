"""Resident memory of ``Reranker(backend="onnx")`` on a v2-base-shaped model (docs/export.md).

The first Reranker exports the model (into a temporary export cache), the second opens the cached
export; torch's copy of the weights is released once the runtime holds the model. Usage:
    python benchmarks/backend_memory.py [--backend onnx|openvino]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
from pathlib import Path

from jina_local_rerank import Reranker
from jina_local_rerank.backends.export_cache import ENV_VARIABLE
from jina_local_rerank.cli.bench import SHAPES, write_checkpoint


def resident_mib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="onnx", choices=["onnx", "openvino"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_checkpoint(SHAPES["v2-base"], Path(tmp) / "v2-base")
        os.environ[ENV_VARIABLE] = str(Path(tmp) / "exports")
        print(f"start: {resident_mib()} MiB")
        rerankers = []
        for label in ("first Reranker (makes the export)", "second Reranker (cached export)"):
            before = resident_mib()
            reranker = Reranker(folder, backend=args.backend)
            reranker.compute_score([("query", "document")])
            rerankers.append(reranker)
            gc.collect()
            print(f"{label}: {resident_mib()} MiB (+{resident_mib() - before})")


if __name__ == "__main__":
    main()
