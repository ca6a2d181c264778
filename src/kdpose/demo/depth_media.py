"""Pictures of the depth demo: depth images with drawn skeletons, the students' learning curves (task loss and the
largest predicted confidence against the detection threshold), F-score against compute, and PR curves
(:func:`kdpose.evaluation.pck_pr.plot_pr_curves`)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.bottomup import DepthScene
from .media import _label, _write_png
from .plots import _pyplot, _save


def depth_to_bgr(depth: np.ndarray) -> np.ndarray:
    """(H, W) uint16 millimetres -> (H, W, 3) uint8 BGR: near bright, far dark, invalid (0) black."""
    import cv2

    valid = depth > 0
    gray = np.zeros(depth.shape, np.uint8)
    if valid.any():
        d = depth[valid].astype(np.float32)
        lo, hi = np.percentile(d, 1), np.percentile(d, 99)
        gray[valid] = np.clip(255.0 * (hi - d) / max(1.0, hi - lo), 30, 255).astype(np.uint8)
    return cv2.applyColorMap(gray, cv2.COLORMAP_BONE)


def pick_scenes(scenes: Sequence[DepthScene], count: int) -> list[int]:
    """Indices of ``count`` scenes with the most labelled people (then the tallest): legible drawings."""
    def key(i: int):
        s = scenes[i]
        people = int((s.visible.sum(1) > 0).sum()) if len(s.visible) else 0
        height = float((s.boxes[:, 3] - s.boxes[:, 1]).max()) if len(s.boxes) else 0.0
        return (-people, -height, i)

    return sorted(range(len(scenes)), key=key)[:count]


def skeleton_grid(scenes: Sequence[DepthScene], columns: dict[str, list[tuple[np.ndarray, np.ndarray]]],
                  indices: Sequence[int], skeleton, path: Path) -> Path:
    """One row per scene in ``indices``, one column per entry of ``columns`` (title -> decoded people per scene:
    (keypoints (N, K, 2) image pixels, scores (N, K))), each a depth image with the people drawn."""
    from ..viz.draw import draw_skeleton

    rows = []
    for i in indices:
        base = depth_to_bgr(scenes[i].depth)
        cells = []
        for title, people in columns.items():
            kpts, scores = people[i]
            image = draw_skeleton(base, kpts, scores, skeleton, kpt_thr=0.0) if len(kpts) else base.copy()
            cells.append(_label(image, f"{title}: {len(kpts)} people"))
        rows.append(np.concatenate(cells, 1))
    return _write_png(path, np.concatenate(rows, 0))


def ground_truth_people(scenes: Sequence[DepthScene]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The labelled people of each scene in the (keypoints, scores) form of decoded people."""
    return [(s.keypoints, s.visible.astype(np.float32)) for s in scenes]


def plot_depth_curves(logs: dict[str, list[dict]], eta: float, path: Path) -> Path:
    """Left: the ground-truth loss L_PM (log scale); right: the largest keypoint confidence of the last stage on
    the training batch, with the detection threshold ``eta``: below it the network detects nobody (F = 0)."""
    plt = _pyplot()
    fig, (ax_loss, ax_conf) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    for label, rows in logs.items():
        steps = [r["step"] for r in rows]
        ax_loss.plot(steps, [r.get("loss_pm", r.get("loss")) for r in rows], label=label, alpha=0.85)
        ax_conf.plot(steps, [r["max_conf"] for r in rows], label=label, alpha=0.85)
    ax_conf.axhline(eta, color="gray", linestyle="--", linewidth=1, label=f"lowest eta = {eta:g}")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("L_PM (vs ground truth)")
    ax_conf.set_ylabel("largest keypoint confidence")
    for ax in (ax_loss, ax_conf):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_f_vs_compute(rows: Sequence[dict], path: Path) -> Path:
    """F-score (held-out synthetic) against GFLOPs at the evaluation input; marker area ~ parameters."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.8), dpi=110)
    for row in rows:
        ax.scatter(row["gflops"], row["f"], s=30 + 600 * row["params_m"] / max(r["params_m"] for r in rows),
                   alpha=0.7, label=row["label"])
    ax.set_xlabel("GFLOPs (one whole image)")
    ax.set_ylabel("F (PCK precision / recall)")
    ax.set_ylim(-0.02, max(0.1, 1.15 * max(r["f"] for r in rows)))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


__all__ = ["depth_to_bgr", "ground_truth_people", "pick_scenes", "plot_depth_curves", "plot_f_vs_compute",
           "skeleton_grid"]
