"""End to end on kdpose's synthetic data: the validation chain scores an oracle ~1, and the synthetic recipe
trains a couple of iterations, validates, keeps the best checkpoint and exports loadable weights."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kdpose.engine.config import load_recipe
from kdpose.tasks import build_model, train
from kdpose.tasks.topdown import build_datasets, build_evaluator

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "rtmpose-t_synth-body.yaml"


def _tiny(tmp_path, *extra: str):
    return load_recipe(RECIPE, [
        f"data.cache_dir={tmp_path / 'data'}", "data.train.synthetic_images=4", "data.val.synthetic_images=3",
        "data.train.synthetic_size=[160, 128]", "data.val.synthetic_size=[160, 128]",
        "model.input_size=[64, 64]", "data.batch_size=2", "data.val_batch_size=4", "data.workers=0",
        "train.max_epochs=2", "train.stage2_epochs=1", "train.epoch_iters=1", "eval.interval=1",
        "train.device=cpu", "model.init_weights=", *extra])


class _Oracle(torch.nn.Module):
    """Returns the encoded ground truth of the val items in order: a perfect model for the eval chain."""

    def __init__(self, val_set):
        super().__init__()
        from kdpose.codecs.simcc import SimCCOutput

        self.targets = [val_set[i].target for i in range(len(val_set))]
        self.cursor = 0
        self.output = SimCCOutput

    def forward(self, inputs):
        batch = self.targets[self.cursor:self.cursor + len(inputs)]
        self.cursor += len(inputs)
        x = torch.stack([torch.as_tensor(t.x_labels * t.weights[:, None]) for t in batch])
        y = torch.stack([torch.as_tensor(t.y_labels * t.weights[:, None]) for t in batch])
        return self.output(x, y)


def test_eval_chain_scores_the_ground_truth_near_one(tmp_path):
    cfg = _tiny(tmp_path, "model.input_size=[192, 256]", "eval.nms_thr=0.0")
    model = build_model(cfg.model)
    _, val_set, val_ann = build_datasets(cfg, model)
    metrics = build_evaluator(cfg, model, val_set, val_ann, tmp_path)(_Oracle(val_set), torch.device("cpu"))
    # crops decode to within half a SimCC bin; keypoints outside the crop cannot be predicted, hence not exactly 1
    assert metrics["AP"] > 0.9, metrics
    results = json.loads((tmp_path / "val_results.json").read_text())
    assert len(results) == len(val_set) and len(results[0]["keypoints"]) == 17 * 3


@pytest.mark.slow
def test_synthetic_recipe_trains_validates_and_resumes(tmp_path):
    work = tmp_path / "run"
    cfg = _tiny(tmp_path, "train.max_epochs=1")
    metrics = train(cfg, work)
    assert 0.0 <= metrics["AP"] <= 1.0
    records = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["setup", "train", "val"]
    from kdpose.engine.precision import resolve_amp   # the log names the precision the recipe's value gives here

    assert records[0]["amp"] == resolve_amp(cfg.train.amp, torch.device("cpu"))[0] and records[0]["threads"] >= 1
    records = records[1:]
    assert records[0]["iter"] == 1 and records[0]["loss"] > 0 and 0 <= records[0]["data_share"] <= 1
    for name in ("config.yaml", "last.pt", "best.pt", "best.safetensors", "final.safetensors"):
        assert (work / name).is_file(), name
    # the exported weights load strictly into a fresh model of the recipe
    from kdpose.models import load_weights

    load_weights(build_model(_tiny(tmp_path).model), work / "best.safetensors")
    from kdpose.errors import ConfigError

    with pytest.raises(ConfigError, match="already holds a run"):
        train(_tiny(tmp_path, "train.max_epochs=1"), work)
    # continue the finished run for one more epoch (a longer schedule) from its last.pt, validating with flip test
    metrics = train(_tiny(tmp_path, "train.max_epochs=2", "eval.flip_test=true"), work, resume=True)
    assert 0.0 <= metrics["AP"] <= 1.0
    records = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    records = [r for r in records if r["kind"] != "setup"]   # one setup record per session of the run
    assert [r["kind"] for r in records] == ["train", "val", "recipe_change", "train", "val"]
    assert records[2]["changed"] == ["eval.flip_test", "train.max_epochs"] and records[3]["iter"] == 2
    # what last.pt restores (the optimizer, the base learning rate) cannot change on --resume: it would be ignored
    with pytest.raises(ConfigError, match=r"changed optim.lr would be ignored"):
        train(_tiny(tmp_path, "train.max_epochs=3", "optim.lr=0.5"), work, resume=True)
    # a new run can start from this run's weights in another folder, as that message says
    start = train(_tiny(tmp_path, "train.max_epochs=1", "optim.lr=0.5", f"model.init_weights={work / 'last.pt'}"),
                  tmp_path / "from_last")
    assert 0.0 <= start["AP"] <= 1.0
    # --auto-resume: a finished run of the same recipe continues (nothing left to do), another recipe is refused
    train(_tiny(tmp_path, "train.max_epochs=2", "eval.flip_test=true"), work, resume="auto")
    with pytest.raises(ConfigError, match=r"holds a run of another recipe \(differs in optim.lr\)"):
        train(_tiny(tmp_path, "train.max_epochs=2", "eval.flip_test=true", "optim.lr=0.5"), work, resume="auto")
    # how the run executes (threads, logging, checkpoint interval) is not part of the recipe it continues
    train(_tiny(tmp_path, "train.max_epochs=2", "eval.flip_test=true", "train.threads=1", "train.log_interval=7"),
          work, resume="auto")


def test_synthetic_settings_reach_the_generator_and_the_cache_key(tmp_path):
    from kdpose.data.synth import SynthConfig
    from kdpose.tasks.synthetic import resolve_split, synthetic_config

    cfg = _tiny(tmp_path)
    # no settings: exactly the config the recipes always rendered with (same cache folder as before)
    assert synthetic_config(cfg.data.val, "coco", "data.val") == SynthConfig(width=160, height=128, max_people=4)
    easy = _tiny(tmp_path, "data.val.synthetic_settings={occlusion: 0, truncation: 0, distance_range: [1.5, 4]}")
    synth = synthetic_config(easy.data.val, "coco", "data.val")
    assert (synth.occlusion, synth.truncation, synth.distance_range) == (0, 0, (1.5, 4.0))
    ann_default, _ = resolve_split(cfg.data, cfg.data.val, "val")
    ann_easy, _ = resolve_split(easy.data, easy.data.val, "val")
    assert Path(ann_default).parent != Path(ann_easy).parent
    written = json.loads(Path(ann_easy).read_text())["info"]["settings"]
    assert (written["occlusion"], written["truncation"], written["distance_range"]) == (0, 0, [1.5, 4.0])


@pytest.mark.parametrize("settings, message", [
    ("{occlusion: 2}", r"data.train.synthetic_settings: synth: occlusion must be in \[0, 1\], got 2"),
    ("{ocllusion: 0}", "data.train.synthetic_settings: unknown setting 'ocllusion' \\(valid: min_people"),
    ("{max_people: 9}", "data.train.synthetic_settings.max_people: set by synthetic_max_people, not here"),
])
def test_bad_synthetic_settings_name_the_key(tmp_path, settings, message):
    from kdpose.tasks.synthetic import synthetic_config
    from kdpose.errors import ConfigError

    cfg = _tiny(tmp_path, f"data.train.synthetic_settings={settings}")
    with pytest.raises(ConfigError, match=message):
        synthetic_config(cfg.data.train, "coco", "data.train")
