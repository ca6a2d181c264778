"""Task ``topdown``: a top-down pose model (RTMPose, SimpleBaseline, HRNet, TokenPose, DistilPose, SDPose ...)
trained on person crops of a COCO-format dataset (or a rendered synthetic one), plainly or by distillation, scored
with the layout's COCO protocol (OKS AP; per part for whole-body)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..engine.config import DataCfg, RecipeCfg, SplitCfg, recipe_layout
from ..engine.validate import PoseEvaluator
from ..errors import ConfigError, DataError
from .base import TaskKind, TrainParts, build_model, build_task, register_task
from .synthetic import resolve_split, split_layout, synthetic_config


def load_samples(data: DataCfg, split: SplitCfg, name: str, mode: str) -> tuple[list, str]:
    """The ``Sample`` list of a split and its annotation file (val: GT boxes, or detector boxes from bbox_file)."""
    from ..data import load_detections
    from ..data.coco import check_image_folder
    from ..layouts import get_layout

    layout = get_layout(data.layout or "coco")
    ann, img_dir = resolve_split(data, split, name)
    root = img_dir or None
    if mode == "eval" and split.bbox_file:
        samples = load_detections(split.bbox_file, ann, layout.name, split.bbox_score_thr, image_root=root)
    else:
        samples = layout.read_annotations(ann, mode=mode, image_root=root)
    if not samples:
        raise DataError(f"{ann}: no usable person instances for {name}")
    check_image_folder(samples, ann, root, f"data.{name}.img_dir")
    return samples, ann


def fresh_samples(data: DataCfg, split: SplitCfg):
    """The training people of ``data.train.synthetic_fresh``: ``split.synthetic_images`` crops an epoch from new
    scenes, rendered in blocks of one batch (:class:`kdpose.data.synth.FreshPeople`); nothing is written."""
    from ..data.synth import FreshPeople

    if split.synthetic_images < data.batch_size:
        raise ConfigError(f"data.train.synthetic_images: {split.synthetic_images} crops an epoch is less than one "
                          f"batch ({data.batch_size}) of fresh scenes")
    synth = synthetic_config(split, split_layout(data), "data.train")
    return FreshPeople(synth, split.synthetic_images, seed=split.synthetic_seed, block=data.batch_size)


def build_datasets(cfg: RecipeCfg, model: nn.Module) -> tuple[Any, Any, str | None]:
    """(train TopDownDataset, val TopDownDataset or None, val annotation file or None)."""
    from ..data import TopDownDataset, build_train_pipeline
    from ..data.transforms import AUGMENT_RECIPES

    recipe_layout(cfg)  # fills data.layout from model.layout (one layout per recipe)
    data = cfg.data
    if data.augment not in AUGMENT_RECIPES:
        raise ConfigError(f"data.augment: unknown augmentation '{data.augment}' (choose from "
                          f"{', '.join(AUGMENT_RECIPES)})")
    codec, skeleton = model.codec, model.skeleton
    if data.train.synthetic_fresh:
        train_samples = fresh_samples(data, data.train)
    else:
        train_samples, _ = load_samples(data, data.train, "train", "train")
    pipeline = build_train_pipeline(skeleton, tuple(codec.input_size), recipe=cfg.data.augment)
    train_set = TopDownDataset(train_samples, codec, pipeline, seed=cfg.train.seed, skip_bad_images=True)
    if cfg.eval.interval <= 0:
        return train_set, None, None
    val_samples, val_ann = load_samples(data, data.val, "val", "eval")
    val_set = TopDownDataset(val_samples, codec, skip_bad_images=True)
    return train_set, val_set, val_ann


def build_evaluator(cfg: RecipeCfg, model: nn.Module, val_set: Any, val_ann: str, work_dir: Path) -> PoseEvaluator:
    from ..data import collate_topdown

    return PoseEvaluator(val_set, collate_topdown, val_ann, model.codec, model.skeleton, layout=recipe_layout(cfg).name,
                         batch_size=cfg.data.val_batch_size, workers=cfg.data.workers, flip_test=cfg.eval.flip_test,
                         rescore_thr=cfg.eval.rescore_thr, nms_thr=cfg.eval.nms_thr,
                         results_file=work_dir / "val_results.json")


def evaluate_weights(cfg: RecipeCfg, weights: str | Path, work_dir: str | Path) -> dict:
    """The recipe's validation metrics (COCO protocol of its layout, ground-truth boxes) of ``weights``: what the
    trainer's evaluator reports, for a finished or shipped set of weights (``work_dir`` gets ``val_results.json``)."""
    import torch

    from ..models import load_model

    model = load_model(cfg.model.name, weights=str(weights), layout=cfg.model.layout,
                       input_size=tuple(cfg.model.input_size))
    _, val_set, val_ann = build_datasets(cfg, model)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    evaluator = build_evaluator(cfg, model, val_set, val_ann, work_dir)
    with torch.no_grad():
        return evaluator(model, torch.device("cpu"))


@register_task
class TopDownTask(TaskKind):
    """Person crops -> codec targets; ``PoseTask`` or a distiller; COCO-protocol evaluator."""

    name = "topdown"
    model_tasks = ("topdown",)
    fresh_scenes = True

    def check(self, cfg: RecipeCfg) -> None:
        layout = recipe_layout(cfg)
        self.task_params(cfg)
        names = layout.metric_names()
        if cfg.eval.interval > 0 and names and cfg.eval.metric not in names:
            # found by the first validation, after a whole epoch of training (hours at full scale)
            if layout.protocol == "wholebody":
                parts = ", ".join(dict.fromkeys(n.split(".")[0] for n in names))
                stats = ", ".join(dict.fromkeys(n.split(".")[1] for n in names))
                known = f"part.stat, e.g. wholebody.AP; parts: {parts}; stats: {stats}"
            else:
                known = ", ".join(names)
            raise ConfigError(f"eval.metric: '{cfg.eval.metric}' is not a validation metric of layout "
                              f"'{layout.name}' ({known})")

    def build(self, cfg: RecipeCfg, work_dir: Path) -> TrainParts:
        from ..data import collate_topdown

        model = build_model(cfg.model)
        task = build_task(cfg, model, "topdown")
        train_set, val_set, val_ann = build_datasets(cfg, model)
        evaluator = build_evaluator(cfg, model, val_set, val_ann, work_dir) if val_set is not None else None
        return TrainParts(model, task, train_set, collate_topdown, evaluator)


__all__ = ["TopDownTask", "build_datasets", "build_evaluator", "evaluate_weights", "fresh_samples", "load_samples"]
