"""Validation: run a model over a top-down val set, decode, map to image space, score with COCO OKS AP.

Each rank evaluates its share of the val set; the COCO-format results are gathered (``all_gather_object``) and
every rank computes the same metrics.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from . import dist
from .loader import ResumableSampler, build_loader
from .precision import autocast, to_float32


def to_coco_results(keypoints: np.ndarray, scores: np.ndarray, image_ids: np.ndarray, bbox_scores: np.ndarray,
                    areas: np.ndarray, rescore_thr: float, category_id: int = 1) -> list[dict]:
    """COCO results-format dicts from (N, K, 2) image-space keypoints and (N, K) keypoint scores.

    The instance score is MMPose's ``bbox_keypoint`` rescoring; ``areas`` (N,) (the crop box area, MMPose's
    ``prod(bbox_scale)``) is kept under ``"_area"`` for OKS-NMS and removed before evaluation.
    """
    from ..evaluation.nms import rescore_instances

    inst_scores = rescore_instances(bbox_scores, scores, rescore_thr)
    flat = np.concatenate([keypoints, scores[..., None]], -1).reshape(len(keypoints), -1)
    return [
        {"image_id": int(i), "category_id": category_id, "keypoints": [round(float(v), 3) for v in row],
         "score": float(s), "_area": float(a)}
        for i, row, s, a in zip(image_ids, flat, inst_scores, areas, strict=True)  # a short one: a bug, not a drop
    ]


def nms_per_image(results: list[dict], sigmas: np.ndarray, thr: float) -> list[dict]:
    """OKS-NMS within each image (MMPose's default for top-down COCO evaluation); drops the ``_area`` helper."""
    from ..evaluation.nms import oks_nms

    kept: list[dict] = []
    if thr > 0:
        by_image: dict[int, list[dict]] = defaultdict(list)
        for r in results:
            by_image[r["image_id"]].append(r)
        for image_id in sorted(by_image):
            group = by_image[image_id]
            kpts = np.asarray([g["keypoints"] for g in group], np.float64).reshape(len(group), -1, 3)
            scores = np.asarray([g["score"] for g in group], np.float64)
            areas = np.asarray([g["_area"] for g in group], np.float64)
            kept.extend(group[int(k)] for k in oks_nms(kpts, scores, areas, sigmas, thr))
    else:
        kept = list(results)
    return [{k: v for k, v in r.items() if k != "_area"} for r in kept]


class PoseEvaluator:
    """Callable evaluator for the Trainer (``evaluator(model, device) -> metrics``).

    Args:
        dataset: val ``TopDownDataset`` (no augmentation); items collate to a ``Batch`` with ``center``/``scale``.
        collate_fn: list of items -> ``Batch``.
        gt_file: COCO-format ground-truth JSON of the same images.
        codec: the model's codec (``decode`` and, for flip test, ``unflip``).
        skeleton: the layout (``flip_indices``, ``sigmas``, ``name``).
        layout: the layout name, whose protocol scores the results (``kdpose.layouts``: flat metrics for coco /
            crowdpose, per part for coco_wholebody).
        batch_size, workers: val loader settings.
        flip_test: average with the mirrored input (``kdpose.codecs.flip.flip_test``).
        rescore_thr, nms_thr: MMPose's instance rescoring and OKS-NMS thresholds.
        results_file: where rank 0 writes the gathered results JSON (optional).
    """

    def __init__(self, dataset: Dataset, collate_fn: Callable, gt_file: str | Path, codec: Any, skeleton: Any,
                 layout: str = "coco", batch_size: int = 64, workers: int = 0, flip_test: bool = False,
                 rescore_thr: float = 0.2, nms_thr: float = 0.9, results_file: str | Path | None = None):
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.gt_file = str(gt_file)
        self.codec = codec
        self.skeleton = skeleton
        self.layout = layout
        self.batch_size = batch_size
        self.workers = workers
        self.flip_test = flip_test
        self.rescore_thr = rescore_thr
        self.nms_thr = nms_thr
        self.results_file = Path(results_file) if results_file else None
        self.amp = "none"  # forward precision (the Trainer sets its own); outputs are decoded in fp32

    @torch.no_grad()
    def predict(self, model: nn.Module, device: torch.device) -> list[dict]:
        """This rank's share of the val set as COCO results (before NMS)."""
        from ..data.geometry import invert_crop_points

        sampler = ResumableSampler(len(self.dataset), shuffle=False, rank=dist.rank(),
                                   world_size=dist.world_size(), pad=False)
        loader = build_loader(self.dataset, sampler, self.batch_size, self.collate_fn, self.workers,
                              torch.Generator().manual_seed(0), pin_memory=device.type == "cuda",
                              drop_last=False)
        was_training = model.training
        model.eval()
        results: list[dict] = []
        try:
            for batch in loader:
                inputs = batch.inputs.to(device, non_blocking=True)
                with autocast(device, self.amp):
                    if self.flip_test:
                        from ..codecs.flip import flip_test

                        output = flip_test(model, inputs, self.codec, self.skeleton.flip_indices)
                    else:
                        output = model(inputs)
                output = to_float32(output)
                coords, scores = self.codec.decode(output)
                points = invert_crop_points(coords.float().cpu().numpy(), batch.center.numpy(),
                                            batch.scale.numpy(), self.codec.input_size)
                areas = batch.scale.double().prod(1).numpy()
                results += to_coco_results(points, scores.float().cpu().numpy(), batch.image_id.numpy(),
                                           batch.bbox_score.numpy(), areas, self.rescore_thr)
        finally:
            model.train(was_training)
        return results

    def evaluate(self, results: list[dict]) -> dict:
        """COCO OKS metrics of gathered results (flat for coco/crowdpose, per part for wholebody)."""
        from ..layouts import get_layout

        results = nms_per_image(results, np.asarray(self.skeleton.sigmas, np.float64), self.nms_thr)
        return get_layout(self.layout).evaluate(self.gt_file, results)

    def __call__(self, model: nn.Module, device: torch.device) -> dict:
        results = dist.all_gather_list(self.predict(model, device))
        metrics = self.evaluate(results) if dist.is_main() else None
        if dist.is_main() and self.results_file is not None:
            from ..evaluation.results import split_wholebody_results
            from ..utils.io import write_json

            write_json(self.results_file, split_wholebody_results(results))  # whole-body: the official format
        return dist.broadcast_object(metrics)
