"""Training the built-in detector with kdpose's one Trainer (``kdpose train configs/detector_tiny.yaml``).

The recipe is an ordinary :class:`kdpose.engine.config.RecipeCfg`; a detector recipe is recognised by
``model.name`` (``kdpose-det-nano`` / ``kdpose-det-tiny``) and read as follows:

* ``model.input_size``: the square-ish network input (multiple of 32: 320x320, 416x416, 640x640);
* ``model.init_weights`` (+ ``model.init_prefix: backbone.``): start from a checkpoint, or only its backbone
  (a CSPNeXt pose model of the same size, e.g. the shipped ``demo_student_rtmpose-t_backbone_coco.safetensors``);
* ``data.train`` / ``data.val``: ``synthetic_images`` scenes of ``synthetic_size`` with up to
  ``synthetic_max_people`` people and the generator settings ``synthetic_settings`` (difficulty knobs), seeds
  ``synthetic_seed`` (training scenes are rendered on the fly each epoch,
  the validation set once, in memory);
* ``optim``, ``schedule``, ``train`` (epochs, EMA, threads, ...) as for pose models; ``eval.interval`` and
  ``eval.metric`` (``AP`` = COCO bbox AP) via :class:`~kdpose.detection.evaluate.DetectionEvaluator`;
* ``model.kwargs``: ``box_weight`` (GIoU weight, 2.0), ``radius`` (centre sampling, 2.5 strides),
  ``zoom_min`` (zoom-out augmentation lower bound, 0.5).

This module imports the engine (it is training glue, like the CLI); the rest of ``kdpose.detection`` does not.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError
from ..utils.progress import TrainProgress
from .detector import BUILTIN_NAMES, create_detector_model
from .loss import DetectionLoss

KNOWN_KWARGS = ("box_weight", "radius", "zoom_min")


def is_detector_recipe(cfg) -> bool:
    return cfg.model.name in BUILTIN_NAMES


class DetectionTask(nn.Module):
    """The trainer's task for the detector: ``task(batch, progress) -> {"loss", "loss_cls", "loss_box", ...}``;
    ``task.model`` is the plain :class:`PersonDetectorModel` (evaluated, EMA'd, exported)."""

    def __init__(self, model: nn.Module, box_weight: float = 2.0, radius: float = 2.5):
        super().__init__()
        self.model = model
        self.loss_fn = DetectionLoss(model.codec, box_weight, radius)

    def forward(self, batch, progress: TrainProgress | None = None) -> dict[str, torch.Tensor]:
        return self.loss_fn(self.model(batch.inputs), batch.boxes, batch.valid)


def build_detector_training(cfg):
    """(model, task, train set, evaluator or None) from a detector recipe."""
    from .data import SceneDetectionDataset, render_eval_set
    from .evaluate import DetectionEvaluator

    kwargs = dict(cfg.model.kwargs)
    unknown = sorted(set(kwargs) - set(KNOWN_KWARGS))
    if unknown:
        raise ConfigError(f"model.kwargs: unknown key(s) {', '.join(unknown)} for a detector "
                          f"(valid: {', '.join(KNOWN_KWARGS)})")
    if cfg.data.train.synthetic_images <= 0:
        raise ConfigError("data.train.synthetic_images: detector training renders synthetic scenes; set it > 0")
    input_size = tuple(cfg.model.input_size)
    model = create_detector_model(cfg.model.name, input_size)
    if cfg.model.init_weights:
        from ..models import load_weights

        # init_prefix "backbone." starts the detector from a pose model's CSPNeXt of the same size (RTMDet starts
        # from a pre-trained CSPNeXt too): rtmpose-t / cspnext-t-udp match kdpose-det-tiny's backbone tensor for tensor
        load_weights(model, cfg.model.init_weights, prefix=cfg.model.init_prefix)
    from ..engine.build import synthetic_config

    task = DetectionTask(model, float(kwargs.get("box_weight", 2.0)), float(kwargs.get("radius", 2.5)))
    tr, va = cfg.data.train, cfg.data.val
    train_set = SceneDetectionDataset(synthetic_config(tr, "coco", "data.train"), tr.synthetic_images, input_size,
                                      seed=tr.synthetic_seed, split="train",
                                      zoom_range=(float(kwargs.get("zoom_min", 0.5)), 1.0))
    evaluator = None
    if cfg.eval.interval > 0 and va.synthetic_images > 0:
        eval_set = render_eval_set(synthetic_config(va, "coco", "data.val"), va.synthetic_images, va.synthetic_seed)
        evaluator = DetectionEvaluator(eval_set, batch_size=cfg.data.val_batch_size)
    return model, task, train_set, evaluator


def train_detector(cfg, work_dir: str | Path, resume: bool | str = False) -> dict:
    """Train a detector recipe with :class:`kdpose.engine.trainer.Trainer`; returns the last validation metrics."""
    from ..engine import dist
    from ..engine.trainer import Trainer, seed_everything, select_device
    from .data import collate_detection

    from ..engine.build import resolve_resume

    work_dir = Path(work_dir)
    if cfg.train.stage2_epochs:
        cfg.train.stage2_epochs = 0  # the detector has one augmentation stage
    resume = resolve_resume(cfg, work_dir, resume)
    device = select_device(cfg.train.device)
    seed_everything(cfg.train.seed)
    if cfg.data.workers > 0:
        # Keep OpenCV's thread pool from ever starting in this process: rendering the val set here would start
        # it, and a forked loader worker then hangs for good in ``cv2.setNumThreads`` (engine.loader.seed_worker)
        # on the pool state it inherited.
        import cv2

        cv2.setNumThreads(1)
    _, task, train_set, evaluator = build_detector_training(cfg)
    trainer = Trainer(cfg, task, train_set, collate_detection, work_dir, evaluator=evaluator, device=device)
    try:
        if resume:
            trainer.resume()
        return trainer.fit()
    finally:
        dist.cleanup()
