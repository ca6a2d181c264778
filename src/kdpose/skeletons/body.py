"""Body layouts: COCO-17, CrowdPose-14 and MPII-16 (values from MMPose's dataset metainfo files)."""
from __future__ import annotations

from .base import BLUE, GREEN, ORANGE, Skeleton, build_skeleton

COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

COCO_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip

# (from, to, colour) in MMPose's order (19 links)
COCO_LINKS = (
    ("left_ankle", "left_knee", GREEN), ("left_knee", "left_hip", GREEN),
    ("right_ankle", "right_knee", ORANGE), ("right_knee", "right_hip", ORANGE),
    ("left_hip", "right_hip", BLUE), ("left_shoulder", "left_hip", BLUE), ("right_shoulder", "right_hip", BLUE),
    ("left_shoulder", "right_shoulder", BLUE), ("left_shoulder", "left_elbow", GREEN),
    ("right_shoulder", "right_elbow", ORANGE), ("left_elbow", "left_wrist", GREEN),
    ("right_elbow", "right_wrist", ORANGE), ("left_eye", "right_eye", BLUE), ("nose", "left_eye", BLUE),
    ("nose", "right_eye", BLUE), ("left_eye", "left_ear", BLUE), ("right_eye", "right_ear", BLUE),
    ("left_ear", "left_shoulder", BLUE), ("right_ear", "right_shoulder", BLUE),
)  # fmt: skip

COCO_UPPER = COCO_NAMES[:11]
COCO_LOWER = COCO_NAMES[11:]


def coco() -> Skeleton:
    """COCO body, 17 keypoints."""
    return build_skeleton(
        "coco", COCO_NAMES, COCO_LINKS, COCO_SIGMAS, upper_names=COCO_UPPER, lower_names=COCO_LOWER
    )


CROWDPOSE_NAMES = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "top_head", "neck",
)  # fmt: skip

CROWDPOSE_SIGMAS = (
    0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079,
)  # fmt: skip

CROWDPOSE_LINKS = COCO_LINKS[:12] + (
    ("top_head", "neck", BLUE), ("right_shoulder", "neck", BLUE), ("left_shoulder", "neck", BLUE),
)


def crowdpose() -> Skeleton:
    """CrowdPose, 14 keypoints (12 COCO limbs joints + top of head + neck)."""
    upper = CROWDPOSE_NAMES[:6] + ("top_head", "neck")
    lower = CROWDPOSE_NAMES[6:12]
    return build_skeleton(
        "crowdpose", CROWDPOSE_NAMES, CROWDPOSE_LINKS, CROWDPOSE_SIGMAS, upper_names=upper, lower_names=lower
    )


MPII_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist",
)  # fmt: skip

# MMPose's MPII sigmas ("adapted from COCO"); used only if someone runs OKS on MPII.
MPII_SIGMAS = (
    0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179, 0.179, 0.072, 0.062,
)  # fmt: skip

MPII_LINKS = (
    ("right_ankle", "right_knee", ORANGE), ("right_knee", "right_hip", ORANGE), ("right_hip", "pelvis", ORANGE),
    ("pelvis", "left_hip", GREEN), ("left_hip", "left_knee", GREEN), ("left_knee", "left_ankle", GREEN),
    ("pelvis", "thorax", BLUE), ("thorax", "upper_neck", BLUE), ("upper_neck", "head_top", BLUE),
    ("upper_neck", "right_shoulder", ORANGE), ("right_shoulder", "right_elbow", ORANGE),
    ("right_elbow", "right_wrist", ORANGE), ("upper_neck", "left_shoulder", GREEN),
    ("left_shoulder", "left_elbow", GREEN), ("left_elbow", "left_wrist", GREEN),
)  # fmt: skip


def mpii() -> Skeleton:
    """MPII Human Pose, 16 joints (MPII order)."""
    lower = MPII_NAMES[:7]
    upper = MPII_NAMES[7:]
    return build_skeleton("mpii", MPII_NAMES, MPII_LINKS, MPII_SIGMAS, upper_names=upper, lower_names=lower)
