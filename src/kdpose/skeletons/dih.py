"""The depth paper's skeleton (Martinez-Gonzalez et al., TCSVT 2019: the DIH / Panoptic depth layout, 17 landmarks)
and the limb trees bottom-up models assemble people along.

Limbs are (A, B) keypoint index pairs in assembly order (a tree walked from its root, see
:mod:`kdpose.codecs.paf`); they are layout data, so they live beside the keypoint tables.
"""
from __future__ import annotations

from .base import Color, Skeleton, build_skeleton

# 0 Neck 1 Head 2 HeadTop 3-5 L hip/knee/ankle, 6-8 L shoulder/elbow/wrist, 9-11 R hip/knee/ankle,
# 12-14 R shoulder/elbow/wrist, 15 L eye, 16 R eye
DIH_NAMES = ("neck", "head", "head_top", "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow",
             "left_wrist", "right_hip", "right_knee", "right_ankle", "right_shoulder", "right_elbow", "right_wrist",
             "left_eye", "right_eye")
# the paper's 16-limb tree rooted at the neck
DIH_LIMBS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (0, 3), (3, 4), (4, 5), (0, 6), (6, 7), (7, 8),
    (0, 9), (9, 10), (10, 11), (0, 12), (12, 13), (13, 14), (1, 15), (1, 16),
)
DIH_UPPER_BODY: tuple[int, ...] = (0, 1, 2, 6, 7, 8, 12, 13, 14, 15, 16)
DIH_LINK_COLOR: Color = (255, 128, 0)  # BGR, one colour for every limb

# COCO-17 has no neck, so the paper's tree is rebuilt on COCO ids rooted at the nose (16 limbs, mirror-symmetric so
# flip test works), plus one redundant limb closing the shoulders (5, 6) that joins the two halves of a person whose
# nose is weak (back views). 17 limbs = 34 PAF channels.
COCO_PAF_LIMBS: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4), (0, 5), (0, 6), (5, 7), (7, 9), (6, 8), (8, 10),
    (5, 11), (11, 13), (13, 15), (6, 12), (12, 14), (14, 16), (5, 6),
)
COCO_UPPER_BODY: tuple[int, ...] = tuple(range(11))  # head (nose, eyes, ears), shoulders, elbows, wrists


def dih() -> Skeleton:
    """The DIH depth skeleton, 17 keypoints (links = the 16 PAF limbs; the paper gives no OKS sigmas, 0.079 each)."""
    links = [(DIH_NAMES[a], DIH_NAMES[b], DIH_LINK_COLOR) for a, b in DIH_LIMBS]
    upper = [DIH_NAMES[i] for i in DIH_UPPER_BODY]
    lower = [n for n in DIH_NAMES if n not in upper]
    return build_skeleton("dih", DIH_NAMES, links, [0.079] * 17, upper_names=upper, lower_names=lower)
