"""Task ``bottomup``: depth pose machines (Martinez-Gonzalez et al., TCSVT 2019) trained on whole synthetic depth
scenes with confidence-map + PAF targets and intermediate supervision, plainly or by stagewise distillation with
hints (``distill.method: stagewise``), scored with the paper's PCK precision / recall (best F over the detection
threshold eta).

Recipe (``configs/mpm-2s_synth-depth.yaml``): ``model.name`` a pose machine (``mpm-2s``, ...; ``model.kwargs``:
``width``, codec ``sigma`` / ``nms_radius``), ``model.layout`` one with a limb tree that the generator renders
(``coco``), ``model.input_size`` the training crop; ``data.train`` / ``data.val`` synthetic depth scenes
(``synthetic_settings``: sensor noise, silhouette dropout, clutter ...; rendered once, in memory);
``eval.input_size`` the whole-image letterbox of validation (default: each scene's whole-image size at the model's
input height, as inference) and ``eval.metric``
``F`` (also ``AP``, ``AR``, ``F_upper``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..engine.config import RecipeCfg, recipe_layout
from ..errors import ConfigError
from .base import TaskKind, TrainParts, build_model, build_task, register_task
from .synthetic import depth_scenes


class BottomUpEvaluator:
    """``evaluator(model, device) -> metrics`` of a bottom-up model on depth scenes: the paper's metric at the best
    detection threshold (``F``, ``AP``, ``AR`` in %, ``eta``), the upper-body F (``F_upper``) and the largest
    keypoint confidence (``max_confidence``: whether the network has left the all-background phase)."""

    def __init__(self, scenes: Sequence, input_size: tuple[int, int] | None, upper_body: Sequence[int],
                 etas: Sequence[float] | None = None, batch_size: int = 8):
        from ..inference.bottomup import DEFAULT_ETAS

        self.scenes = list(scenes)
        # None: each scene at its whole-image size at the model's input height (BottomUpEstimator's default)
        self.input_size = None if input_size is None else (int(input_size[0]), int(input_size[1]))
        self.upper_body = tuple(upper_body)
        self.etas = tuple(etas or DEFAULT_ETAS)
        self.batch_size = batch_size

    def __call__(self, model: nn.Module, device: torch.device) -> dict:
        from ..evaluation.pck_pr import evaluate_people, ground_truth_heights
        from ..inference.bottomup import predict_people, torch_forward

        was_training = model.training
        try:
            preds, peak = predict_people(torch_forward(model, str(device)), model.codec,
                                         [s.depth for s in self.scenes], self.input_size,
                                         model.info.in_channels, self.etas, self.batch_size)
        finally:
            model.train(was_training)
        heights = [ground_truth_heights(s.keypoints, s.visible, s.boxes) for s in self.scenes]
        result = evaluate_people(preds, [s.keypoints for s in self.scenes], [s.visible for s in self.scenes],
                                 heights, self.upper_body)
        return {**result.best, "F_upper": result.upper["F"], "max_confidence": peak}


def eval_input_size(cfg: RecipeCfg) -> tuple[int, int] | None:
    """The whole-image network input of validation: ``eval.input_size``, else None: each scene at the model's
    input height and its own aspect ratio, as inference and the shipped accuracy checks letterbox it (the square
    training crop shrank 4:3 scenes to 0.75 of the scale the network learnt: F 0.333 -> 0.290 on the shipped
    depth teacher, and that number picked the best checkpoint)."""
    return tuple(cfg.eval.input_size) if any(cfg.eval.input_size) else None


def check_depth_recipe(cfg: RecipeCfg) -> None:
    """What every depth-scene task needs: a layout with limbs that the generator renders, rendered training data."""
    layout = recipe_layout(cfg)
    layout.require_limbs(f"model.layout: '{cfg.model.name}'")
    layout.synthetic_name("model.layout")
    if cfg.data.train.synthetic_images <= 0:
        raise ConfigError("data.train.synthetic_images: bottom-up training renders synthetic depth scenes; set it > 0")


def build_depth_evaluator(cfg: RecipeCfg, model: nn.Module) -> BottomUpEvaluator | None:
    """The PCK precision / recall evaluator on the recipe's val scenes (None without validation)."""
    if cfg.eval.interval <= 0 or cfg.data.val.synthetic_images <= 0:
        return None
    from ..layouts import get_layout

    scenes = depth_scenes(cfg.data, cfg.data.val, "val")
    return BottomUpEvaluator(scenes, eval_input_size(cfg), get_layout(cfg.model.layout).upper_body,
                             batch_size=cfg.data.val_batch_size)


@register_task
class BottomUpTask(TaskKind):
    """Depth scenes -> augmented crops with PAF targets; the pose-machine loss or stagewise distillation; PCK-PR."""

    name = "bottomup"
    model_tasks = ("bottomup",)

    def check(self, cfg: RecipeCfg) -> None:
        self.task_params(cfg)
        check_depth_recipe(cfg)

    def build(self, cfg: RecipeCfg, work_dir: Path) -> TrainParts:
        from ..data.bottomup import BottomUpDepthDataset, collate_bottomup

        self.check(cfg)
        model = build_model(cfg.model)
        task = build_task(cfg, model, "bottomup")
        train_set = BottomUpDepthDataset(depth_scenes(cfg.data, cfg.data.train, "train"), model.codec, train=True,
                                         seed=cfg.train.seed)
        return TrainParts(model, task, train_set, collate_bottomup, build_depth_evaluator(cfg, model))


__all__ = ["BottomUpEvaluator", "BottomUpTask", "build_depth_evaluator", "check_depth_recipe", "eval_input_size"]
