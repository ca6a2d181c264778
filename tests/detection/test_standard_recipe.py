"""configs/kdpose-det-tiny_synth-standard.yaml, shrunk to a few iterations: it renders its splits once into
data.cache_dir, trains on the files, validates with the ignore rule, and a run stopped mid-epoch and continued with
the same command (``resume="auto"``, what ``--auto-resume`` passes) ends with the uninterrupted run's weights."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kdpose.engine.config import load_recipe
from kdpose.tasks import train
from kdpose.tasks.detection import DetectionTask

from ..conftest import assert_same_renders

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RECIPE = CONFIGS / "kdpose-det-tiny_synth-standard.yaml"


def test_standard_recipe_reads_the_pose_teachers_renders():
    """The detector trains and validates on the very scenes of the standard pose recipes (nothing rendered again;
    its val set is the pose val set, so detected-box and ground-truth-box pose AP compare on the same images)."""
    recipe = load_recipe(RECIPE)
    assert_same_renders(recipe, load_recipe(CONFIGS / "cspnext-m_udp_synth-standard.yaml"))
    assert recipe.task_params["ignore_unlabelled"] and recipe.task_params["cache_scenes"]
    assert recipe.data.train.synthetic_preset == recipe.data.val.synthetic_preset == "standard"


def _tiny(tmp_path):
    # 6 train scenes / batch 2 = 3 iterations an epoch, 2 epochs, a checkpoint every 2 iterations
    return load_recipe(RECIPE, [
        "model.input_size=[64,64]", "data.train.synthetic_size=[160,120]", "data.val.synthetic_size=[160,120]",
        "data.train.synthetic_images=6", "data.val.synthetic_images=3", "data.batch_size=2", "data.val_batch_size=3",
        "data.workers=0", f"data.cache_dir={tmp_path / 'cache'}", "train.max_epochs=2", "train.device=cpu",
        "train.threads=1", "train.checkpoint_interval_iters=2", "schedule.warmup_iters=2", "train.log_interval=1"])


class Crash(Exception):
    pass


def test_standard_recipe_trains_from_its_cache_and_resumes_exactly(tmp_path, monkeypatch):
    metrics = train(_tiny(tmp_path), tmp_path / "ref")
    assert set(metrics) >= {"AP", "AP50", "AR"}
    cache = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir())
    assert cache == ["train", "val"]  # rendered once, read from there
    reference = load_file(tmp_path / "ref" / "final.safetensors")

    calls = {"n": 0}
    forward = DetectionTask.forward

    def crashing(self, batch, progress=None):
        calls["n"] += 1
        if calls["n"] == 5:  # epoch 2, second batch: resumes from the mid-epoch checkpoint of iteration 4
            raise Crash
        return forward(self, batch, progress)

    monkeypatch.setattr(DetectionTask, "forward", crashing)
    with pytest.raises(Crash):
        train(_tiny(tmp_path), tmp_path / "run", resume="auto")
    monkeypatch.setattr(DetectionTask, "forward", forward)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert (state["iteration"], state["epoch"], state["epoch_iter"]) == (4, 1, 1)
    train(_tiny(tmp_path), tmp_path / "run", resume="auto")
    resumed = load_file(tmp_path / "run" / "final.safetensors")
    assert reference.keys() == resumed.keys()
    assert [k for k in reference if not torch.equal(reference[k], resumed[k])] == []
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert max(r.get("iter", 0) for r in records) == 6
