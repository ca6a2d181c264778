"""Model tests run single-threaded: on a shared, loaded CI machine multi-threaded intra-op parallelism of small
convolutions is much slower (thread contention) than one thread."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
