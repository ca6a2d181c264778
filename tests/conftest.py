"""Shared test fixtures. Real data files live beside the repo in ../shared/fixtures (or $KDPOSE_FIXTURES);
tests that need them skip with a clear reason when they are absent."""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def fixtures_dir() -> Path | None:
    env = os.environ.get("KDPOSE_FIXTURES")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "fixtures", REPO / ".." / "shared" / "fixtures"]:
        if cand.is_dir():
            return cand.resolve()
    return None


@pytest.fixture(scope="session")
def fixtures() -> Path:
    d = fixtures_dir()
    if d is None:
        pytest.skip("real data fixtures not found: set KDPOSE_FIXTURES or place shared/fixtures beside the repo")
    return d


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:
        pass
    yield
