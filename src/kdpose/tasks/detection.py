"""Task ``detection``: the built-in person detector (``kdpose-det-nano`` / ``kdpose-det-tiny``) on synthetic RGB
scenes, scored with COCO box AP (``kdpose train configs/detector_tiny.yaml``).

The recipe is read as follows:

* ``model.input_size``: the square-ish network input (multiple of 32: 320x320, 416x416, 640x640);
* ``model.init_weights`` (+ ``model.init_prefix: backbone.``): start from a checkpoint, or only its backbone (a
  CSPNeXt pose model of the same size, e.g. ``cspnext-t-udp``: kdpose-det-tiny's backbone tensor for tensor);
* ``data.train`` / ``data.val``: ``synthetic_images`` scenes of ``synthetic_size`` with up to
  ``synthetic_max_people`` people, ``synthetic_preset`` and the generator settings ``synthetic_settings``, seeds
  ``synthetic_seed`` (by default training scenes rendered on the fly each epoch, the validation set once, in
  memory; with ``cache_scenes`` both rendered once into ``data.cache_dir`` and read from there);
* ``optim``, ``schedule``, ``train`` as for pose models (the scenes have one augmentation stage, so
  ``train.stage2_epochs`` changes nothing); ``eval.metric`` ``AP`` = COCO bbox AP
  (:class:`~kdpose.detection.evaluate.DetectionEvaluator`);
* ``task_params`` (or, in older recipes, ``model.kwargs``): ``box_weight`` (GIoU weight, 2.0), ``radius`` (centre
  sampling, 2.5 strides), ``zoom_min`` (zoom-out augmentation lower bound, 0.5), ``ignore_unlabelled`` (false: every
  rendered person is a box to find; true: people without labelled keypoints, which the ``standard`` preset leaves
  unlabelled as a COCO annotator would, are ignore regions in training and ``iscrowd: 1`` in the val ground
  truth), ``cache_scenes`` (false: render on the fly; true: render each split once with ``write_coco_dataset``
  into ``data.cache_dir``, the same folder a pose recipe with the same split settings uses, and read the files;
  the augmentation is still drawn anew each epoch).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..engine.config import RecipeCfg
from ..errors import ConfigError
from ..utils.progress import TrainProgress
from .base import TaskKind, TrainParts, build_model, register_task
from .synthetic import synthetic_config


class DetectionTask(nn.Module):
    """The trainer's task for the detector: ``task(batch, progress) -> {"loss", "loss_cls", "loss_box", ...}``;
    ``task.model`` is the plain :class:`~kdpose.models.person_detector.PersonDetectorModel`."""

    def __init__(self, model: nn.Module, box_weight: float = 2.0, radius: float = 2.5):
        from ..detection.loss import DetectionLoss

        super().__init__()
        self.model = model
        self.loss_fn = DetectionLoss(model.codec, box_weight, radius)

    def forward(self, batch, progress: TrainProgress | None = None) -> dict[str, torch.Tensor]:
        return self.loss_fn(self.model(batch.inputs), batch.boxes, batch.valid, batch.ignore)


@register_task
class DetectionKind(TaskKind):
    """Rendered scenes -> letterboxed images and person boxes; ``DetectionTask``; COCO box AP."""

    name = "detection"
    model_tasks = ("detection",)
    params = {"box_weight": 2.0, "radius": 2.5, "zoom_min": 0.5, "ignore_unlabelled": False, "cache_scenes": False}

    def settings(self, cfg: RecipeCfg) -> dict:
        """``task_params`` with the settings older recipes keep in ``model.kwargs`` (only these keys there)."""
        legacy = dict(cfg.model.kwargs)
        unknown = sorted(set(legacy) - set(self.params))
        if unknown:
            raise ConfigError(f"model.kwargs: unknown key(s) {', '.join(unknown)} for a detector "
                              f"(valid: {', '.join(self.params)})")
        both = sorted(set(legacy) & set(cfg.task_params))
        if both:
            raise ConfigError(f"task_params and model.kwargs both set {', '.join(both)}; keep one")
        return {**self.task_params(cfg), **legacy}

    def check(self, cfg: RecipeCfg) -> None:
        self.settings(cfg)
        if cfg.data.train.synthetic_images <= 0:
            raise ConfigError("data.train.synthetic_images: detector training renders synthetic scenes; set it > 0")
        if cfg.distill.method:
            raise ConfigError(f"distill.method: '{cfg.distill.method}': the person detector is trained without "
                              "distillation")

    def build(self, cfg: RecipeCfg, work_dir: Path) -> TrainParts:
        from ..detection.data import CachedScenes, RenderedScenes, SceneDetectionDataset, collate_detection
        from ..detection.evaluate import DetectionEvaluator
        from .synthetic import resolve_split

        self.check(cfg)
        settings = self.settings(cfg)
        if cfg.data.workers > 0:
            # Keep OpenCV's thread pool from ever starting in this process: rendering the val set here would start
            # it, and a forked loader worker then hangs for good in ``cv2.setNumThreads`` (engine.loader.seed_worker)
            # on the pool state it inherited.
            import cv2

            cv2.setNumThreads(1)
        model = build_model(cfg.model, kwargs={}, layout=False)
        task = DetectionTask(model, float(settings["box_weight"]), float(settings["radius"]))
        tr, va = cfg.data.train, cfg.data.val
        ignore, cached = bool(settings["ignore_unlabelled"]), bool(settings["cache_scenes"])
        if cached:  # rendered once (rank 0) into data.cache_dir, or found there
            scenes = CachedScenes(*resolve_split(cfg.data, tr, "train"))
        else:
            scenes = RenderedScenes(synthetic_config(tr, "coco", "data.train"), tr.synthetic_images,
                                    tr.synthetic_seed, "train")
        train_set = SceneDetectionDataset(scenes, tuple(cfg.model.input_size), seed=tr.synthetic_seed,
                                          zoom_range=(float(settings["zoom_min"]), 1.0), ignore_unlabelled=ignore)
        evaluator = None
        if cfg.eval.interval > 0 and va.synthetic_images > 0:
            evaluator = DetectionEvaluator(self.eval_set(cfg), batch_size=cfg.data.val_batch_size)
        return TrainParts(model, task, train_set, collate_detection, evaluator)

    def eval_set(self, cfg: RecipeCfg):
        """The recipe's val split as a detection :class:`~kdpose.detection.data.EvalSet` (with ``cache_scenes``
        read from ``data.cache_dir``, rendered there first if missing; else rendered in memory), ground truth with
        the recipe's ignore rule. Also what ``python -m kdpose.tasks.accuracy TAG --recipe`` scores a detector on."""
        from ..detection.data import load_eval_set, render_eval_set
        from .synthetic import resolve_split

        settings, va = self.settings(cfg), cfg.data.val
        ignore = bool(settings["ignore_unlabelled"])
        if settings["cache_scenes"]:
            return load_eval_set(*resolve_split(cfg.data, va, "val"), ignore_unlabelled=ignore)
        return render_eval_set(synthetic_config(va, "coco", "data.val"), va.synthetic_images, va.synthetic_seed,
                               ignore_unlabelled=ignore)


__all__ = ["DetectionKind", "DetectionTask"]
