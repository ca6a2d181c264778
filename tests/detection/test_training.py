"""A short training run on synthetic scenes through kdpose's Trainer lowers the loss and finds the people."""
import json
from pathlib import Path

import numpy as np
import torch

from kdpose.data.synth import SynthConfig
from kdpose.detection import PersonDetector
from kdpose.detection.data import RenderedScenes, SceneDetectionDataset, collate_detection, render_eval_set
from kdpose.detection.evaluate import DetectionEvaluator
from kdpose.models.person_detector import PersonDetectorModel
from kdpose.tasks.detection import DetectionTask
from kdpose.engine.config import DataCfg, EvalCfg, ModelCfg, OptimCfg, RecipeCfg, ScheduleCfg, TrainCfg
from kdpose.engine.trainer import Trainer

# big, unoccluded people on a small canvas: learnable in a few dozen CPU iterations
EASY = SynthConfig(width=128, height=96, max_people=2, distance_range=(2.0, 3.5), occlusion=0.0, truncation=0.0,
                   clutter=0, blur=0.0, noise=0.0, crowding=0.0)
INPUT = (128, 96)


class Repeat(torch.utils.data.Dataset):
    """The same few scenes, ``times`` over (one long epoch = many iterations, one checkpoint)."""

    def __init__(self, dataset, times):
        self.dataset, self.times = dataset, times

    def __len__(self):
        return len(self.dataset) * self.times

    def set_epoch(self, epoch):
        self.dataset.set_epoch(epoch)

    def __getitem__(self, i):
        return self.dataset[i % len(self.dataset)]


def test_short_training_lowers_loss_and_finds_people(tmp_path):
    torch.manual_seed(0)
    scenes = SceneDetectionDataset(RenderedScenes(EASY, 4, seed=0, split="train", cache=True), INPUT,
                                   zoom_range=(1.0, 1.0))
    assert sum(len(scenes[i][1]) for i in range(4)) >= 4
    cfg = RecipeCfg(model=ModelCfg(name="kdpose-det-nano", input_size=INPUT),
                    data=DataCfg(batch_size=4, workers=0, persistent_workers=False),
                    optim=OptimCfg(lr=4e-3, weight_decay=0.0),
                    schedule=ScheduleCfg(warmup_iters=5, cosine_start_epoch=1),
                    train=TrainCfg(max_epochs=1, stage2_epochs=0, device="cpu", threads=1, ema=False,
                                   log_interval=10, seed=0),
                    eval=EvalCfg(interval=1, metric="AP50", use_ema=False))
    model = PersonDetectorModel("nano", INPUT)
    evaluator = DetectionEvaluator(render_eval_set(EASY, 4, seed=0, split="train"))  # the very training scenes
    trainer = Trainer(cfg, DetectionTask(model), Repeat(scenes, 40), collate_detection, tmp_path / "run",
                      evaluator=evaluator)
    before = evaluator(model, torch.device("cpu"))
    metrics = trainer.fit()
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r.get("kind") == "train"]
    assert len(losses) == 4
    assert np.mean(losses[-2:]) < 0.75 * losses[0]
    assert before["AP50"] < 0.1
    # 60 iterations from scratch (BatchNorm running statistics still lag behind the weights): clearly learning
    assert metrics["AP50"] >= 0.3, metrics
    assert (tmp_path / "run" / "final.safetensors").is_file()


def test_kdpose_train_runs_a_detector_recipe(tmp_path):
    """``kdpose train configs/detector_nano.yaml`` goes through the detection task (a 2-iteration run)."""
    from kdpose.tasks import train
    from kdpose.engine.config import load_recipe

    cfg = load_recipe(Path(__file__).resolve().parents[2] / "configs" / "detector_nano.yaml", [
        "model.input_size=[64,64]", "data.train.synthetic_size=[96,64]", "data.val.synthetic_size=[96,64]",
        "data.train.synthetic_images=4", "data.val.synthetic_images=2", "data.batch_size=2", "data.workers=0",
        "train.max_epochs=1", "train.device=cpu", "train.threads=1", "eval.interval=1", "schedule.warmup_iters=1"])
    metrics = train(cfg, tmp_path / "run")
    assert set(metrics) >= {"AP", "AP50", "AR"} and all(-1.0 <= v <= 1.0 for v in metrics.values())
    assert (tmp_path / "run" / "best.safetensors").is_file()
    det = PersonDetector(str(tmp_path / "run" / "final.safetensors"))
    assert det.input_size == (64, 64) and det.backend.model.model_name == "kdpose-det-nano"


def test_detector_recipe_starts_from_a_pose_backbone(tmp_path):
    """``model.init_weights`` + ``init_prefix: backbone.`` copy a CSPNeXt-t pose backbone into kdpose-det-tiny
    tensor for tensor and leave the neck and head as initialised; a size mismatch is a clear CheckpointError."""
    import pytest

    from kdpose.engine.config import load_recipe
    from kdpose.errors import CheckpointError
    from kdpose.models import create_model, save_weights
    from kdpose.tasks import TASKS

    torch.manual_seed(3)
    pose = create_model("cspnext-t-udp", layout="coco", input_size=(64, 96))
    weights = save_weights(pose, tmp_path / "pose.safetensors")
    root = Path(__file__).resolve().parents[2] / "configs"
    small = ["model.input_size=[64,64]", "data.train.synthetic_images=2", "data.val.synthetic_images=0",
             f"model.init_weights={weights}", "model.init_prefix=backbone."]

    def build_detector_training(cfg):
        parts = TASKS.get("detection").build(cfg, tmp_path)
        return parts.model, parts.task, parts.train_set, parts.evaluator

    torch.manual_seed(4)
    model, *_ = build_detector_training(load_recipe(root / "detector_tiny.yaml", small))
    torch.manual_seed(4)
    fresh, *_ = build_detector_training(load_recipe(root / "detector_tiny.yaml", small[:3]))
    pose_state, fresh_state = pose.backbone.state_dict(), fresh.state_dict()
    for key, value in model.state_dict().items():
        if key.startswith("backbone."):
            assert torch.equal(value, pose_state[key[len("backbone."):]]), key
        else:  # neck and head: exactly as a run without init_weights
            assert torch.equal(value, fresh_state[key]), key
    assert not torch.equal(model.backbone.stem[0].conv.weight, fresh.backbone.stem[0].conv.weight)
    with pytest.raises(CheckpointError, match="pose.safetensors"):
        build_detector_training(load_recipe(root / "detector_nano.yaml", small))
