"""Make ``benchmarks/`` importable from the tests (the load test reuses the benchmark's driver)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import server_load  # noqa: F401
