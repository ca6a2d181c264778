"""COCO-WholeBody 133 (body 0-16, feet 17-22, face 23-90, left hand 91-111, right hand 112-132), and the
stand-alone hand-21 and face-68 layouts (values from MMPose's ``coco_wholebody*.py`` metainfo)."""
from __future__ import annotations

from .base import GREEN, ORANGE, PINK, RED, SKY, WHITE, Color, Skeleton, build_skeleton, side_color
from .body import COCO_LINKS, COCO_NAMES, COCO_SIGMAS, COCO_UPPER

FOOT_NAMES = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")
FOOT_SIGMAS = (0.068, 0.066, 0.066, 0.092, 0.094, 0.094)

FACE_NAMES = tuple(f"face-{j}" for j in range(68))
FACE_SIGMAS = (
    0.042, 0.043, 0.044, 0.043, 0.040, 0.035, 0.031, 0.025, 0.020, 0.023, 0.029, 0.032, 0.037, 0.038, 0.043,
    0.041, 0.045, 0.013, 0.012, 0.011, 0.011, 0.012, 0.012, 0.011, 0.011, 0.013, 0.015, 0.009, 0.007, 0.007,
    0.007, 0.012, 0.009, 0.008, 0.016, 0.010, 0.017, 0.011, 0.009, 0.011, 0.009, 0.007, 0.013, 0.008, 0.011,
    0.012, 0.010, 0.034, 0.008, 0.008, 0.009, 0.008, 0.008, 0.007, 0.010, 0.008, 0.009, 0.009, 0.009, 0.007,
    0.007, 0.008, 0.011, 0.008, 0.008, 0.008, 0.010, 0.008,
)  # fmt: skip

# Mirror pairs of the 68-point iBUG face, in face-local numbering.
FACE_FLIP_PAIRS = (
    tuple((j, 16 - j) for j in range(8))  # jaw line (8 = chin, fixed)
    + ((17, 26), (18, 25), (19, 24), (20, 23), (21, 22))  # eyebrows
    + ((31, 35), (32, 34))  # nostrils (27-30 bridge and 33 fixed)
    + ((36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46))  # eyes
    + ((48, 54), (49, 53), (50, 52), (55, 59), (56, 58))  # outer lips (51, 57 fixed)
    + ((60, 64), (61, 63), (65, 67))  # inner lips (62, 66 fixed)
)  # fmt: skip

FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
FINGER_COLORS: tuple[Color, ...] = (ORANGE, PINK, SKY, RED, GREEN)
HAND_LOCAL_NAMES = ("wrist",) + tuple(f"{f}{i}" for f in FINGERS for i in range(1, 5))
HAND_SIGMAS = (
    0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024,
    0.022, 0.026, 0.017, 0.021, 0.021, 0.032, 0.020, 0.019, 0.022, 0.031,
)  # fmt: skip
HAND_KEYPOINT_COLORS: tuple[Color, ...] = (WHITE,) + tuple(c for c in FINGER_COLORS for _ in range(4))


def hand_links(root: int) -> tuple[tuple[int, int, Color], ...]:
    """20 links of a 21-point hand whose root (wrist) is at index ``root``: root->finger1->2->3->4 per finger."""
    out = []
    for f, color in enumerate(FINGER_COLORS):
        chain = [root] + [root + 1 + 4 * f + i for i in range(4)]
        out += [(a, b, color) for a, b in zip(chain[:-1], chain[1:])]
    return tuple(out)


def _hand_names(side: str) -> tuple[str, ...]:
    return (f"{side}_hand_root",) + tuple(f"{side}_{n}" for n in HAND_LOCAL_NAMES[1:])


WHOLEBODY_NAMES = COCO_NAMES + FOOT_NAMES + FACE_NAMES + _hand_names("left") + _hand_names("right")
WHOLEBODY_PARTS = {"body": (0, 17), "foot": (17, 23), "face": (23, 91), "lefthand": (91, 112), "righthand": (112, 133)}
# The body keypoint each foot, face and hand keypoint belongs to: where a whole-body network started from a body-17
# one takes the new keypoints' first weights from (kdpose.skeletons.keypoint_origins, ModelCfg.init_partial).
BODY_ANCHORS: dict[str, str] = {
    **{n: n.split("_")[0] + "_ankle" for n in FOOT_NAMES},
    **{n: "nose" for n in FACE_NAMES},
    **{n: "left_wrist" for n in _hand_names("left")},
    **{n: "right_wrist" for n in _hand_names("right")},
}
FOOT_LINKS = (
    ("left_ankle", "left_big_toe", GREEN), ("left_ankle", "left_small_toe", GREEN), ("left_ankle", "left_heel", GREEN),
    ("right_ankle", "right_big_toe", ORANGE), ("right_ankle", "right_small_toe", ORANGE),
    ("right_ankle", "right_heel", ORANGE),
)  # fmt: skip


def coco_wholebody() -> Skeleton:
    """COCO-WholeBody, 133 keypoints. Hand/face keypoints are not part of the half-body ids (as in MMPose)."""
    face0 = WHOLEBODY_PARTS["face"][0]
    colors = (
        tuple(side_color(n) for n in COCO_NAMES)
        + (ORANGE,) * len(FOOT_NAMES)
        + (WHITE,) * len(FACE_NAMES)
        + HAND_KEYPOINT_COLORS * 2
    )
    return build_skeleton(
        "coco_wholebody",
        WHOLEBODY_NAMES,
        COCO_LINKS + FOOT_LINKS,
        COCO_SIGMAS + FOOT_SIGMAS + FACE_SIGMAS + HAND_SIGMAS * 2,
        parts=WHOLEBODY_PARTS,
        keypoint_colors=colors,
        upper_names=COCO_UPPER,
        lower_names=COCO_NAMES[11:] + FOOT_NAMES,
        extra_flip_pairs=tuple((face0 + a, face0 + b) for a, b in FACE_FLIP_PAIRS),
        links_by_index=hand_links(WHOLEBODY_PARTS["lefthand"][0]) + hand_links(WHOLEBODY_PARTS["righthand"][0]),
    )


def hand() -> Skeleton:
    """One hand, 21 keypoints (COCO-WholeBody hand order; a hand has no mirror partner, flip is the identity)."""
    return build_skeleton(
        "hand",
        HAND_LOCAL_NAMES,
        (),
        HAND_SIGMAS,
        parts={"hand": (0, 21)},
        keypoint_colors=HAND_KEYPOINT_COLORS,
        links_by_index=hand_links(0),
    )


def face() -> Skeleton:
    """68-point face (iBUG / COCO-WholeBody face order); no links, as in MMPose."""
    return build_skeleton(
        "face",
        FACE_NAMES,
        (),
        FACE_SIGMAS,
        parts={"face": (0, 68)},
        keypoint_colors=(WHITE,) * 68,
        extra_flip_pairs=FACE_FLIP_PAIRS,
    )
