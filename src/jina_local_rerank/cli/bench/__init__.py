"""Speed benchmark: plain ``CrossEncoder.predict`` (fp32, default settings) against our ``Reranker``.

Models are randomly initialised at the real shapes and written in the official checkpoint layouts
(speed does not depend on the weights, so nothing is downloaded); tokenizers are the reference
fixtures'. Everything is measured in one run, so ratios are meaningful on a shared, noisy machine.
Loaded only by the ``bench`` command: ``import jina_local_rerank`` never reaches it.
"""

from __future__ import annotations

from jina_local_rerank.cli.bench.agreement import (
    Agreement,
    TrainedReference,
    agreement_queries,
    trained_body_folder,
    trained_cross_encoder,
)
from jina_local_rerank.cli.bench.backends_run import BACKEND_ENGINES, BackendRow, backends_markdown, run_backends
from jina_local_rerank.cli.bench.checkpoints import write_checkpoint, write_listwise_checkpoint
from jina_local_rerank.cli.bench.listwise_run import run_listwise
from jina_local_rerank.cli.bench.machine import MachineRates, measure_machine
from jina_local_rerank.cli.bench.shapes import SHAPES, Shape
from jina_local_rerank.cli.bench.tables import Row, resources_line, rows_to_json, to_markdown
from jina_local_rerank.cli.bench.torch_run import run
from jina_local_rerank.cli.bench.workloads import (
    estimate_seconds,
    listwise_flops,
    make_workload,
    peak_matmul_rate,
    workload_flops,
)

__all__ = [
    "BACKEND_ENGINES",
    "SHAPES",
    "Agreement",
    "BackendRow",
    "MachineRates",
    "Row",
    "Shape",
    "TrainedReference",
    "agreement_queries",
    "backends_markdown",
    "estimate_seconds",
    "listwise_flops",
    "make_workload",
    "measure_machine",
    "peak_matmul_rate",
    "resources_line",
    "rows_to_json",
    "run",
    "run_backends",
    "run_listwise",
    "to_markdown",
    "trained_body_folder",
    "trained_cross_encoder",
    "workload_flops",
    "write_checkpoint",
    "write_listwise_checkpoint",
]
