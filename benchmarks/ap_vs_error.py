"""How precise must keypoints be for a given COCO AP on a synthetic val set? Ground truth plus isotropic Gaussian
noise, scaled to each person's box height, scored with the same COCO OKS evaluation as training; prints the median
error in image pixels and as a share of the person height next to AP. Explains the training curves: a model's
median error on this data tells its AP ceiling (BENCHMARKS.md, training engine section).

    .venv/bin/python benchmarks/ap_vs_error.py .kdpose_cache/synth/val-*/person_keypoints_val.json
"""
from __future__ import annotations

import argparse
import copy

import numpy as np

from kdpose.data.jsonfile import load_json, require
from kdpose.errors import DataError
from kdpose.evaluation.coco import coco_keypoint_eval
from kdpose.layouts import get_layout
from kdpose.utils.entry import guarded


def noisy_results(gt: dict, rel_sigma: float, rng: np.random.Generator) -> tuple[list[dict], np.ndarray]:
    """One result per labelled annotation: its keypoints + N(0, (rel_sigma * box height)^2) per axis."""
    results, errors = [], []
    for ann in gt["annotations"]:
        kp = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
        labelled = kp[:, 2] > 0
        if not labelled.any():
            continue
        noise = rng.normal(0.0, rel_sigma * ann["bbox"][3], size=(len(kp), 2))
        pred = kp[:, :2] + noise
        errors.append(np.linalg.norm(noise[labelled], axis=1) / ann["bbox"][3])
        results.append({"image_id": ann["image_id"], "category_id": 1, "score": 1.0,
                        "keypoints": np.column_stack([pred, np.ones(len(kp))]).ravel().tolist()})
    return results, np.concatenate(errors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ann_file")
    ap.add_argument("--layout", default="coco")
    ap.add_argument("--rel", type=float, nargs="+", default=[0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12])
    args = ap.parse_args()
    bad = [r for r in args.rel if not r > 0]
    if bad:
        ap.error(f"--rel must be positive shares of the box height, got {bad[0]}")
    get_layout(args.layout)  # an unknown name: UnknownNameError listing the valid ones
    gt = load_json(args.ann_file)
    require(gt, ("images", "annotations"), args.ann_file, "the annotation file")
    if not any(a.get("num_keypoints", 1) > 0 for a in gt["annotations"]):
        raise DataError(f"{args.ann_file}: no labelled person (no annotation with num_keypoints > 0)")
    heights = np.median([a["bbox"][3] for a in gt["annotations"] if a.get("num_keypoints", 1) > 0])
    print(f"{args.ann_file}: {len(gt['annotations'])} people, median box height {heights:.0f} px")
    print("| noise sigma / height | median error / height | median error at the median height (px) | AP | AP50 | AP75 |")
    print("|---|---|---|---|---|---|")
    for rel in args.rel:
        results, err = noisy_results(gt, rel, np.random.default_rng(0))
        m = coco_keypoint_eval(copy.deepcopy(gt), results, args.layout)
        print(f"| {rel:.3f} | {np.median(err):.3f} | {np.median(err) * heights:.1f} | {m['AP']:.3f} | "
              f"{m['AP50']:.3f} | {m['AP75']:.3f} |")


if __name__ == "__main__":
    raise SystemExit(guarded(main))
