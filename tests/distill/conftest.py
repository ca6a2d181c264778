"""Shared fixtures of the distillation tests."""
from __future__ import annotations

from ..conftest import benchmark_fixture

# benchmarks/distilpose/run.py: a script, not part of the package
bench = benchmark_fixture("benchmarks/distilpose/run.py", "distilpose_bench_run")
