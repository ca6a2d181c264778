"""OpenPose-18 body layout (the ControlNet / DWPose "pose image" order) and the COCO -> OpenPose conversion.

OpenPose-18 = COCO-17 re-ordered, plus a neck at index 1 computed as the midpoint of the shoulders.
"""
from __future__ import annotations

import numpy as np

from .base import Skeleton, build_skeleton
from .body import COCO_SIGMAS

OPENPOSE_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip

# OPENPOSE_FROM_COCO[i] = COCO index of OpenPose keypoint i (-1 = the neck, which COCO does not have).
OPENPOSE_FROM_COCO = np.array([0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3])
NECK = 1

# The 18 colours of OpenPose / ControlNet's draw_bodypose (given there in RGB; stored BGR). Keypoint i and
# limb i share colour i.
_OPENPOSE_RGB = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
OPENPOSE_COLORS = tuple((b, g, r) for r, g, b in _OPENPOSE_RGB)

# The 17 limbs ControlNet draws (OpenPose's limbSeq without the two ear-shoulder links), 0-based.
OPENPOSE_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip


def openpose() -> Skeleton:
    """OpenPose-18 body. OKS sigmas are COCO's, re-ordered; the neck uses the shoulder sigma."""
    coco_sigmas = np.asarray(COCO_SIGMAS)
    sigmas = np.where(OPENPOSE_FROM_COCO >= 0, coco_sigmas[np.maximum(OPENPOSE_FROM_COCO, 0)], coco_sigmas[5])
    upper = [n for n in OPENPOSE_NAMES if not n.endswith(("hip", "knee", "ankle"))]
    lower = [n for n in OPENPOSE_NAMES if n.endswith(("hip", "knee", "ankle"))]
    return build_skeleton(
        "openpose",
        OPENPOSE_NAMES,
        (),
        sigmas.tolist(),
        keypoint_colors=OPENPOSE_COLORS,
        upper_names=upper,
        lower_names=lower,
        links_by_index=tuple((a, b, OPENPOSE_COLORS[i]) for i, (a, b) in enumerate(OPENPOSE_LIMBS)),
    )



def coco_to_openpose(keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert COCO-17 or COCO-WholeBody-133 predictions to OpenPose order.

    The first 17 keypoints become OpenPose-18 (neck inserted at index 1 as the shoulder midpoint); any further
    keypoints (feet, face, hands of the 133 layout) follow unchanged, so 17 -> 18 and 133 -> 134 (rtmlib's
    ``to_openpose`` shape).

    Args:
        keypoints: (N, K, 2) or (K, 2) with K = 17 or 133, COCO order.
        scores: (N, K) or (K,) keypoint scores.
    Returns:
        keypoints (N, K+1, 2) and scores (N, K+1) (leading N dropped again for unbatched input). The neck score
        is ``min`` of the two shoulder scores, so thresholding it at t keeps the neck exactly when both shoulders
        pass t (rtmlib's rule for t = 0.3).
    """
    keypoints = np.asarray(keypoints)
    scores = np.asarray(scores)
    single = keypoints.ndim == 2
    if single:
        keypoints, scores = keypoints[None], scores[None]
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2 or keypoints.shape[1] not in (17, 133):
        raise ValueError(f"coco_to_openpose expects (N, 17|133, 2) keypoints, got {keypoints.shape}")
    if scores.shape != keypoints.shape[:2]:
        raise ValueError(f"scores shape {scores.shape} does not match keypoints {keypoints.shape}")
    src = np.maximum(OPENPOSE_FROM_COCO, 0)
    body_kpts = keypoints[:, src].copy()
    body_scores = scores[:, src].copy()
    body_kpts[:, NECK] = keypoints[:, [5, 6]].mean(axis=1)
    body_scores[:, NECK] = scores[:, [5, 6]].min(axis=1)
    out_k = np.concatenate([body_kpts, keypoints[:, 17:]], axis=1)
    out_s = np.concatenate([body_scores, scores[:, 17:]], axis=1)
    return (out_k[0], out_s[0]) if single else (out_k, out_s)
