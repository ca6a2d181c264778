"""Shared fixtures of the distillation tests."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

RUN_PY = Path(__file__).resolve().parents[2] / "benchmarks" / "distilpose" / "run.py"


@pytest.fixture(scope="module")
def bench():
    """benchmarks/distilpose/run.py loaded as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("distilpose_bench_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module
