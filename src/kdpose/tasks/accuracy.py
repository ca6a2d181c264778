"""The declared accuracy check of shipped weights (``PretrainedCfg.check``, an
:class:`~kdpose.models.pretrained.AccuracyCheck`): render its small val set, run the model and measure.

    python -m kdpose.tasks.accuracy TAG                        # measured next to declared; exit 1 when off
    python -m kdpose.tasks.accuracy TAG --recipe configs/X.yaml  # the recipe's own val split instead

Top-down models run on every person's ground-truth box through :class:`kdpose.PoseEstimator` and are scored by
:func:`kdpose.evaluation.score_topdown` (the layout's COCO protocol with one pose per box, no NMS: AP, AP50, AP75, AP
by person size, AR; PCK@0.2; the share of left/right pairs predicted swapped); bottom-up models run on whole images
through :class:`kdpose.BottomUpEstimator` and are scored with the depth paper's PCK precision / recall at the best
detection threshold; person detectors run on whole images and are scored with COCO box AP (pycocotools, as their
training validates: :class:`kdpose.detection.evaluate.DetectionEvaluator`). ``tests/models/test_shipped_accuracy.py``
asserts the declared numbers of every shipped tag; the shipping tool (:mod:`kdpose.tasks.ship`) measures a new asset
the same way before its tag is registered.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.config import SplitCfg
from ..errors import ConfigError
from ..models.pretrained import AccuracyCheck, get_pretrained_cfg
from .synthetic import synthetic_config

TOPDOWN_METRICS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "PCK@0.2", "swapped", "median_px")
BOTTOMUP_METRICS = ("F", "F_upper", "AP", "AR", "eta")
DETECTION_METRICS = ("AP", "AP50", "AP75", "APS", "APM", "APL", "AR1", "AR10", "AR")
MODALITIES = ("rgb", "depth", "detection")
# what a check declares of each modality's measurement (fractions)
DECLARED = {"rgb": ("AP", "AP50", "AR", "PCK@0.2"), "depth": ("F", "F_upper"),
            "detection": ("AP", "AP50", "AP75", "AR")}


def check_split(check: AccuracyCheck) -> SplitCfg:
    """The check's val set as a recipe split (what ``data.val`` of a recipe would say)."""
    return SplitCfg(synthetic_images=int(check.images), synthetic_seed=int(check.seed),
                    synthetic_size=[int(v) for v in check.size], synthetic_max_people=int(check.max_people),
                    synthetic_preset=check.preset, synthetic_settings={k: v for k, v in check.settings})


def _synth(check: AccuracyCheck, layout: str):
    from ..layouts import get_layout

    if check.modality not in MODALITIES:
        raise ConfigError(f"accuracy check: modality must be one of {', '.join(MODALITIES)}, got {check.modality!r}")
    name = get_layout(layout).synthetic_name("accuracy check")
    modality = "depth" if check.modality == "depth" else "rgb"
    return synthetic_config(check_split(check), name, "accuracy check", modality=modality)


def render_rgb(check: AccuracyCheck, layout: str):
    """The check's RGB images with their people (:class:`kdpose.inference.guard.ValSet`), rendered and JPEG-written
    as a recipe's synthetic split is."""
    from ..data.synth import write_coco_dataset
    from ..valset import load_val_set

    with tempfile.TemporaryDirectory(prefix="kdpose-check-") as tmp:
        ann = write_coco_dataset(Path(tmp), _synth(check, layout), int(check.images), seed=int(check.seed),
                                 split=check.split)
        return load_val_set(ann, layout)


def render_depth(check: AccuracyCheck, layout: str) -> list:
    """The check's depth scenes (:class:`kdpose.data.bottomup.DepthScene`)."""
    from ..data.bottomup import render_depth_scenes

    return render_depth_scenes(_synth(check, layout), int(check.images), int(check.seed), check.split)


def render_detection(check: AccuracyCheck):
    """The check's scenes with their COCO box ground truth (:class:`kdpose.detection.data.EvalSet`), the images
    ``write_coco_dataset`` writes (JPEG artefacts included); people without labelled keypoints are crowd regions
    when ``check.ignore_unlabelled``. Every rendered person counts: the generator's body people (``coco``)."""
    from ..detection.data import render_eval_set

    return render_eval_set(_synth(check, "coco"), int(check.images), int(check.seed), check.split,
                           ignore_unlabelled=check.ignore_unlabelled)


def measure_detection(model: Any, eval_set: Any) -> dict[str, float]:
    """COCO box AP / AR of a built-in detector ``model`` on ``eval_set`` (:data:`DETECTION_METRICS`, the detector
    validation's protocol: score >= 0.01, NMS 0.6, 100 boxes an image); ``people``: boxes to find (not crowd)."""
    import torch

    from ..detection.evaluate import DetectionEvaluator

    device = next(model.parameters()).device
    metrics = DetectionEvaluator(eval_set)(model, torch.device(device))
    people = sum(1 for a in eval_set.coco_gt["annotations"] if not a.get("iscrowd", 0))
    return {**{k: metrics[k] for k in DETECTION_METRICS}, "people": int(people)}


def predict_val(estimator: Any, val: Any, images_per_call: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pose per person of ``val`` from its ground-truth box (no NMS), in ``val``'s order: keypoints (N, K, 2)
    in image pixels, scores (N, K) and MMPose's crop areas (N,) (the aspect-fixed, padded box: OKS-NMS's areas).
    ``images_per_call``: images whose crops share the forward passes (speed only)."""
    from ..data.geometry import bbox_xyxy_to_center_scale, fix_aspect_ratio

    kpts, scores = [], []
    for start in range(0, len(val.images), images_per_call):
        images, boxes = val.images[start:start + images_per_call], val.boxes[start:start + images_per_call]
        for res in estimator.predict_boxes(images, boxes, [None] * len(images), caller_boxes=True, nms=False):
            kpts.append(res.keypoints)
            scores.append(res.scores)
    w, h = estimator.input_size
    _, scale = bbox_xyxy_to_center_scale(np.concatenate(val.boxes), estimator.padding)
    return np.concatenate(kpts), np.concatenate(scores), np.prod(fix_aspect_ratio(scale, w / h), axis=1)


def score_estimator(estimator: Any, val: Any, nms_thr: float | None = None, rescore_thr: float = 0.2,
                    images_per_call: int = 1) -> dict[str, float]:
    """``estimator`` (a ``PoseEstimator``; its ``flip_test`` as set) on ``val``'s ground-truth boxes, scored by
    :func:`kdpose.evaluation.score_topdown` (``nms_thr``, ``rescore_thr``: see there) through ``val.score``."""
    kpts, scores, areas = predict_val(estimator, val, images_per_call)
    return val.score(kpts, scores, areas=areas, nms_thr=nms_thr, rescore_thr=rescore_thr)


def measure_topdown(model: Any, val: Any) -> dict[str, float]:
    """The shipped check's protocol for a top-down ``model`` on ``val``'s ground-truth boxes: one pose per box (no
    NMS), no flip test, MMPose rescoring at 0.2; AP / AP50 / AP75 / AP by person size (APM, APL) / AR (layout's COCO
    protocol), PCK@0.2, the left/right swap rate, the median error in image pixels and ``people`` scored."""
    from ..inference import PoseEstimator

    return score_estimator(PoseEstimator(model), val)


def measure_bottomup(model: Any, scenes: list, input_size: tuple[int, int] | None) -> dict[str, float]:
    """F / F_upper / AP / AR (the depth paper's PCK precision / recall, AP and AR in %) at the best detection
    threshold ``eta`` of a bottom-up ``model`` on whole ``scenes``; ``people``: ground-truth people."""
    from ..evaluation.pck_pr import evaluate_people, ground_truth_heights
    from ..inference import BottomUpEstimator
    from ..inference.bottomup import DEFAULT_ETAS
    from ..layouts import get_layout

    estimator = BottomUpEstimator(model, input_size=input_size)
    preds, _ = estimator.predict([s.depth for s in scenes], DEFAULT_ETAS)
    heights = [ground_truth_heights(s.keypoints, s.visible, s.boxes) for s in scenes]
    result = evaluate_people(preds, [s.keypoints for s in scenes], [s.visible for s in scenes], heights,
                             get_layout(model.info.layout).upper_body)
    return {"F": float(result.best["F"]), "F_upper": float(result.upper["F"]), "AP": float(result.best["AP"]),
            "AR": float(result.best["AR"]), "eta": float(result.best["eta"]),
            "people": int(sum(len(s.keypoints) for s in scenes))}


def measure(model: Any, check: AccuracyCheck) -> dict[str, float]:
    """Render ``check``'s val set and measure ``model`` (a ``PoseModel`` in eval mode) on it."""
    import torch

    with torch.no_grad():
        if check.modality == "detection":
            return measure_detection(model, render_detection(check))
        if check.modality == "depth":
            return measure_bottomup(model, render_depth(check, model.info.layout), check.input_size)
        return measure_topdown(model, render_rgb(check, model.info.layout))


def measure_tag(tag: str, weights: str | Path | None = None) -> dict[str, float]:
    """The numbers of pretrained ``tag`` (or of ``weights`` loaded as that tag's model) on its declared check."""
    cfg = get_pretrained_cfg(tag)
    if cfg.check is None:
        raise ConfigError(f"{tag}: declares no accuracy check (PretrainedCfg.check)")
    return measure(load_tag(tag, weights), cfg.check)


def load_tag(tag: str, weights: str | Path | None = None):
    """``load_model`` of a tag, or of another file of the tag's model, layout and input size."""
    from ..models import load_model

    cfg = get_pretrained_cfg(tag)
    if weights is None:
        return load_model(tag)
    return load_model(cfg.model, weights=str(weights), layout=cfg.layout or None, input_size=cfg.input_size)


def compare(measured: dict[str, float], check: AccuracyCheck) -> list[str]:
    """One message per declared metric that is missing or further than the tolerance from its value."""
    problems = []
    for name, expected in check.metrics:
        if name not in measured:
            problems.append(f"{name}: not measured (known: {', '.join(measured)})")
        elif not abs(measured[name] - expected) <= check.tolerance:
            problems.append(f"{name}: measured {measured[name]:.4f}, declared {expected:.4f} "
                            f"(tolerance {check.tolerance:g})")
    return problems


def declared_metrics(measured: dict[str, float], modality: str) -> tuple[tuple[str, float], ...]:
    """The (name, value) pairs to declare for a measurement: rounded to 4 decimals, fractions only (top-down: AP,
    AP50, AR, PCK@0.2; bottom-up: F, F_upper; detection: box AP, AP50, AP75, AR)."""
    names = DECLARED[modality]
    return tuple((n, round(float(measured[n]), 4)) for n in names)


def recipe_val(tag: str, recipe: str | Path, work_dir: str | Path | None = None) -> dict:
    """The file of ``tag`` on ``recipe``'s own val split, what its trainer's evaluator reports: a top-down recipe's
    layout COCO protocol on ground-truth boxes, or a detector recipe's box AP (its ignore rule). Only the val split
    is rendered (or read from the cache)."""
    import torch

    from ..data import TopDownDataset
    from ..engine.config import load_recipe, recipe_layout
    from .base import get_task
    from .topdown import build_evaluator, load_samples

    cfg = load_recipe(recipe)
    recipe_layout(cfg)
    model = load_tag(tag)
    kind = get_task(cfg)
    if kind.name == "detection":
        return measure_detection(model, kind.eval_set(cfg))
    samples, ann = load_samples(cfg.data, cfg.data.val, "val", "eval")
    val_set = TopDownDataset(samples, model.codec, skip_bad_images=True)
    with tempfile.TemporaryDirectory(prefix="kdpose-recipe-val-") as tmp:
        evaluator = build_evaluator(cfg, model, val_set, ann, Path(work_dir or tmp))
        with torch.no_grad():
            return evaluator(model, torch.device("cpu"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdpose.tasks.accuracy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tag", help="pretrained tag (kdpose.models.list_pretrained())")
    parser.add_argument("--weights", help="measure this file as the tag's model instead of the tag's own file")
    parser.add_argument("--recipe", help="evaluate on this recipe's val split (top-down or detector) instead of the "
                        "check")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the test)")
    args = parser.parse_args(argv)
    import torch

    if args.threads < 1:  # torch's own RuntimeError was a traceback
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    if args.recipe:
        print(json.dumps(recipe_val(args.tag, args.recipe), indent=1))
        return 0
    check = get_pretrained_cfg(args.tag).check
    measured = measure_tag(args.tag, args.weights)
    print(json.dumps({"tag": args.tag, "check": check.describe(), "measured": measured}, indent=1))
    print(f"declare: metrics={declared_metrics(measured, check.modality)!r}")
    problems = compare(measured, check)
    for line in problems:
        print(f"OFF: {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    from ..utils.entry import guarded

    raise SystemExit(guarded(main))
