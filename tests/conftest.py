"""Shared test fixtures. Real data files live beside the repo in ../shared/fixtures (or $KDPOSE_FIXTURES);
tests that need them skip with a clear reason when they are absent."""
from __future__ import annotations

import importlib.util
import os
import random
import sys
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


def load_benchmark(relpath: str, name: str):
    """Import the benchmark script ``REPO/relpath`` as module ``name`` (registered in ``sys.modules``, because
    dataclasses look their module up while the file executes). Tests use it through :func:`benchmark_fixture`."""
    spec = importlib.util.spec_from_file_location(name, REPO / relpath)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def benchmark_fixture(relpath: str, name: str):
    """A module-scoped fixture that loads ``REPO/relpath`` as module ``name`` and drops it from ``sys.modules`` after
    the test module, so no test sees another's copy. pytest names a fixture after the attribute that holds it:
    ``bench = benchmark_fixture("benchmarks/x.py", "x_bench")`` defines the fixture ``bench``."""

    @pytest.fixture(scope="module")
    def fixture():
        yield load_benchmark(relpath, name)
        sys.modules.pop(name, None)

    return fixture


def assert_same_renders(recipe, reference) -> None:
    """``recipe`` (a loaded :class:`kdpose.engine.config.RecipeCfg`) trains on ``reference``'s synthetic renders: the
    same synthetic keys give the same train / val cache folders under the shared cache, so nothing is rendered again."""
    from kdpose.tasks.synthetic import synthetic_split_paths

    for name in ("train", "val"):
        assert (synthetic_split_paths(recipe.data, getattr(recipe.data, name), name)[:2]
                == synthetic_split_paths(reference.data, getattr(reference.data, name), name)[:2]), name
    assert recipe.data.cache_dir == reference.data.cache_dir == ".kdpose_cache/synth"


def topdown_batch(codec, n: int = 2, seed: int = 0):
    """A random top-down :class:`kdpose.data.sample.Batch` of ``n`` people with 17 keypoints for ``codec``
    (inputs (n, 3, H, W) standard normal, keypoints uniform at least 2 px inside the (W, H) input, 80 % visible),
    seeded by ``seed``. Shared by the distiller tests: ``from ..conftest import topdown_batch``."""
    import torch

    from kdpose.data.sample import Batch, stack_dataclasses

    rng = np.random.default_rng(seed)
    w, h = codec.input_size
    kpts = rng.uniform([2, 2], [w - 3, h - 3], size=(n, 17, 2)).astype(np.float32)
    vis = (rng.random((n, 17)) > 0.2).astype(np.float32)
    target = stack_dataclasses([codec.encode(k, v) for k, v in zip(kpts, vis)])
    return Batch(inputs=torch.from_numpy(rng.standard_normal((n, 3, h, w)).astype(np.float32)), target=target,
                 keypoints=torch.from_numpy(kpts), visible=torch.from_numpy(vis), center=torch.zeros(n, 2),
                 scale=torch.ones(n, 2), image_id=torch.arange(n), bbox_score=torch.ones(n))


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


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread (numbers that depend on the reduction order stay the same on any machine),
    restoring the caller's setting afterwards. Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


DETECTOR_RECIPE = REPO / "configs" / "kdpose-det-tiny_synth-standard.yaml"


@pytest.fixture(scope="session")
def tiny_detector_run(tmp_path_factory) -> Path:
    """A run folder of configs/kdpose-det-tiny_synth-standard.yaml shrunk to a few seconds (kdpose-det-tiny at 64x64,
    4 train / 3 val `standard` scenes of 160x120 rendered into a temporary cache, 2 iterations, one validation):
    what ``kdpose train`` leaves for the shipping tool, for the tests of shipping and using a detector."""
    import torch

    from kdpose.engine.config import load_recipe
    from kdpose.tasks import train

    tmp = tmp_path_factory.mktemp("tiny_detector")
    cfg = load_recipe(DETECTOR_RECIPE, [
        "model.input_size=[64,64]", "data.train.synthetic_size=[160,120]", "data.val.synthetic_size=[160,120]",
        "data.train.synthetic_images=4", "data.val.synthetic_images=3", "data.batch_size=2", "data.val_batch_size=3",
        "data.workers=0", "data.persistent_workers=false", f"data.cache_dir={tmp / 'cache'}", "train.max_epochs=1",
        "train.device=cpu", "train.threads=1", "schedule.warmup_iters=1", "train.log_interval=1",
        "train.tensorboard=false"])
    old = torch.get_num_threads()
    try:
        train(cfg, tmp / "kdpose-det-tiny_synth-standard")
    finally:
        torch.set_num_threads(old)
    return tmp / "kdpose-det-tiny_synth-standard"


TINY_DETECTOR_TAG = "kdpose-det-tiny.synth-tiny_64"


@pytest.fixture(scope="session")
def tiny_detector_entry(tiny_detector_run, tmp_path_factory):
    """``tiny_detector_run`` shipped by ``kdpose.tasks.ship`` into a temporary assets / cards folder (a 4-image
    accuracy check): the printed ``PretrainedCfg`` entry, its asset an absolute path (``PretrainedCfg.location``
    then finds it), and the card's path. Register it for a test with
    ``monkeypatch.setitem(PRETRAINED, entry.tag, entry)``."""
    import dataclasses

    import torch

    from kdpose.models import AccuracyCheck, PretrainedCfg
    from kdpose.tasks.ship import ship_run

    tmp = tmp_path_factory.mktemp("tiny_detector_shipped")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        shipped = ship_run(tiny_detector_run, TINY_DETECTOR_TAG, assets_dir=tmp, cards_dir=tmp,
                           recipe="configs/kdpose-det-tiny_synth-standard.yaml",
                           check=AccuracyCheck(metrics=(), images=4, size=(160, 120), max_people=4, seed=1,
                                               preset="standard", modality="detection", ignore_unlabelled=True),
                           log=lambda *_: None)
    finally:
        torch.set_num_threads(old)
    entry = eval(shipped.entry.rstrip(","), {"PretrainedCfg": PretrainedCfg, "AccuracyCheck": AccuracyCheck})
    return dataclasses.replace(entry, asset=str(shipped.asset)), shipped
