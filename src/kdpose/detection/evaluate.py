"""Detector validation: COCO bbox AP through pycocotools, and an evaluator the Trainer can call.

``DetectionEvaluator`` follows the trainer's ``Evaluator`` protocol (``evaluator(model, device) -> metrics``), the
engine's extension point for validation: the pose evaluator is simply not used for detector recipes.
Metrics: ``{"AP", "AP50", "AP75", "APS", "APM", "APL", "AR1", "AR10", "AR", "ARS", "ARM", "ARL"}`` (fractions,
-1 = undefined, as pycocotools reports them).
"""
from __future__ import annotations

import contextlib
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


def coco_bbox_eval(gt: dict | str, results: Sequence[dict] | str, category_id: int = 1) -> dict[str, float]:
    """COCO bbox AP/AR of person boxes.

    Args:
        gt: COCO ground truth (dict or annotation file path); annotations need ``image_id`` and ``bbox`` (``area``
            defaults to the box area); only ``category_id`` is evaluated, so a full COCO instances file works.
        results: COCO results-format list or file: ``image_id``, ``bbox`` (x, y, w, h), ``score``. When every
            entry also has a ``bbox_score`` (the pose results ``kdpose infer`` writes: a pose score and the score of
            the detection it came from), the box is ranked by ``bbox_score``.

    Raises:
        DataError: a file that cannot be read, a missing field, a box that is not 4 numbers, an unknown image id.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from ..errors import DataError
    from ..evaluation.coco import load_gt, load_results, normalise_results

    data, _ = load_gt(gt, fields=("image_id", "bbox"))
    for ann in data["annotations"]:
        ann.setdefault("area", float(ann["bbox"][2]) * float(ann["bbox"][3]))
    results, name = load_results(results)
    if results and all("bbox_score" in r for r in results):
        results = [{**r, "score": r["bbox_score"]} for r in results]
    results = normalise_results(results, name, {im["id"] for im in data["images"]}, ("bbox",))
    for i, r in enumerate(results):
        if len(r["bbox"]) != 4:
            raise DataError(f"{name}: result {i} has a 'bbox' of {len(r['bbox'])} numbers, expected 4 (x, y, w, h)")
    results = [r for r in results if r["category_id"] == category_id]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and tables
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
        if results:
            dets = coco.loadRes(results)
        else:  # loadRes fails on an empty list; an empty set gives pycocotools' own 0 / -1 (no data) numbers
            dets = COCO()
            dets.dataset = {"images": list(data["images"]), "annotations": [],
                            "categories": data.get("categories") or [{"id": category_id, "name": "person"}]}
            dets.createIndex()
        ev = COCOeval(coco, dets, "bbox")
        ev.params.imgIds = sorted(coco.getImgIds())
        ev.params.catIds = [category_id]
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
