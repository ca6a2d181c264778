"""Detector validation: COCO bbox AP through pycocotools, and an evaluator the Trainer can call.

``DetectionEvaluator`` follows the trainer's ``Evaluator`` protocol (``evaluator(model, device) -> metrics``), the
engine's extension point for validation: the pose evaluator is simply not used for detector recipes.
Metrics: ``{"AP", "AP50", "AP75", "APS", "APM", "APL", "AR1", "AR10", "AR", "ARS", "ARM", "ARL"}`` (fractions,
-1 = undefined, as pycocotools reports them).
"""
from __future__ import annotations

import contextlib
import copy
import io
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .postprocess import PostprocessCfg

BBOX_STAT_NAMES = ("AP", "AP50", "AP75", "APS", "APM", "APL", "AR1", "AR10", "AR", "ARS", "ARM", "ARL")
# AP needs the low-score tail of the precision/recall curve: keep almost everything for evaluation
EVAL_POST = PostprocessCfg(score_thr=0.01, iou_thr=0.6, pre_nms=1000, max_det=100)


def to_bbox_results(image_ids: Sequence[int], detections: Sequence[tuple[np.ndarray, np.ndarray]],
                    category_id: int = 1) -> list[dict]:
    """Per-image (boxes (N, 4) xyxy, scores (N,)) -> COCO results-format dicts (``bbox`` as xywh)."""
    out = []
    for image_id, (boxes, scores) in zip(image_ids, detections):
        for b, s in zip(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64).reshape(-1)):
            out.append({"image_id": int(image_id), "category_id": category_id, "score": round(float(s), 5),
                        "bbox": [round(float(b[0]), 2), round(float(b[1]), 2), round(float(b[2] - b[0]), 2),
                                 round(float(b[3] - b[1]), 2)]})
    return out


def coco_bbox_eval(gt: dict | str, results: list[dict]) -> dict[str, float]:
    """COCO bbox AP/AR of ``results`` against ground truth ``gt`` (a COCO dict or an annotation file path)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from ..evaluation.coco import load_gt

    if isinstance(gt, dict):
        data = copy.deepcopy(gt)
        data.setdefault("categories", [{"id": 1, "name": "person"}])
    else:
        data, _ = load_gt(gt)
    if not results:
        return {k: 0.0 for k in BBOX_STAT_NAMES}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and tables
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
        dets = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dets, "bbox")
        ev.params.imgIds = sorted(coco.getImgIds())
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(v) for k, v in zip(BBOX_STAT_NAMES, ev.stats)}


class DetectionEvaluator:
    """Trainer evaluator for the built-in detector on a fixed :class:`~kdpose.detection.data.EvalSet`.

    Every process evaluates the whole (small) set, so every rank returns the same metrics without gathering.

    Args:
        eval_set: images, boxes and COCO ground truth (``render_eval_set``).
        batch_size: images per forward.
        post: thresholds used for evaluation (low score threshold: AP integrates over all scores).
    """

    def __init__(self, eval_set, batch_size: int = 16, post: PostprocessCfg = EVAL_POST):
        self.eval_set = eval_set
        self.batch_size = batch_size
        self.post = post

    @torch.no_grad()
    def predict(self, model: nn.Module, device: torch.device) -> list[tuple[np.ndarray, np.ndarray]]:
        from .runners import TorchDetector

        was_training = model.training
        try:
            runner = TorchDetector(model, device=str(device), post=self.post)
            images = self.eval_set.images
            out: list = []
            for start in range(0, len(images), self.batch_size):
                out += runner.predict(images[start:start + self.batch_size])
        finally:
            model.train(was_training)
        return out

    def __call__(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        detections = self.predict(model, device)
        ids = [im["id"] for im in self.eval_set.coco_gt["images"]]
        return coco_bbox_eval(self.eval_set.coco_gt, to_bbox_results(ids, detections))
