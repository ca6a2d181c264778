"""Shared small settings for the synthetic-generator tests (small images keep the suite fast)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kdpose.data.synth import SynthConfig

sys.path.insert(0, str(Path(__file__).parent))  # occlusion_oracle


@pytest.fixture
def small_cfg() -> SynthConfig:
    return SynthConfig(width=160, height=120, layout="wholebody", max_people=3, distance_range=(1.5, 8.0))
