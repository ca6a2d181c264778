"""Articulated 3D people: randomised body proportions, forward kinematics, keypoints and the volume primitives.

The person frame is right-handed, metres: x = the person's left, y = up, z = the direction they face, origin on
the ground under the pelvis. A person is a set of capsules (sphere-swept segments whose radius varies linearly
from one end to the other) that the rasteriser draws with a z-buffer; the keypoints are joint centres (inside the
volumes), face landmarks on the head surface, and hand/foot points on the hand/foot volumes.

``Person.keypoints`` always holds the 133 COCO-WholeBody points in their official order (body 0-16, feet 17-22,
face 23-90, left hand 91-111, right hand 112-132); the COCO-17 layout is its first 17 rows.
``Person.kp_depth_offset`` is the radius of the volume around each keypoint: the rendered surface in front of a
visible keypoint lies that far in front of it, which is what the visibility test and the tests use."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .face import place_on_head, sample_face
from .hand import hand_points, sample_hand_pose
from .poses import sample_pose
from .rotations import rot_x, rot_y, rot_z

NUM_KEYPOINTS = 133
# materials of the primitives (the RGB renderer picks a colour/texture per material and person)
SKIN, HAIR, TOP, BOTTOM, SHOES = range(5)
# head capsule in the head frame: axis from y = HEAD_AXIS[0] to HEAD_AXIS[1] (x = z = 0), radius HEAD_RADIUS
HEAD_AXIS = (-0.045, 0.035)
HEAD_RADIUS = 0.085


@dataclass
class BodyShape:
    """Body proportions of one person (metres, ``build`` is a width factor, ``head`` a head-size factor)."""

    height: float
    build: float
    head: float
    thigh: float
    shin: float
    upper_arm: float
    forearm: float
    spine: float
    neck: float
    shoulder_half: float
    hip_half: float
    foot: float
    ankle_height: float
    sleeves: str  # "long" | "short" | "none"
    legs: str  # "long" | "shorts"
    hair: str  # "short" | "long" | "none"


def sample_shape(rng: np.random.Generator) -> BodyShape:
    """Random body proportions: adults 1.5-1.98 m (12 % children 1.0-1.45 m), build 0.8-1.35, limb ratios +-7 %."""
    child = rng.random() < 0.12
    height = rng.uniform(1.0, 1.45) if child else float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.98))
    j = lambda: rng.uniform(0.93, 1.07)  # noqa: E731
    head = (height / 1.7) ** (0.45 if child else 0.3) * j()
    return BodyShape(
        height=height, build=rng.uniform(0.8, 1.35) * (0.85 if child else 1.0), head=head,
        thigh=0.245 * height * j(), shin=0.246 * height * j(), upper_arm=0.186 * height * j(),
        forearm=0.146 * height * j(), spine=0.27 * height * j(), neck=0.045 * height * j(),
        shoulder_half=0.105 * height * j(), hip_half=0.052 * height * j(), foot=0.152 * height * j(),
        ankle_height=0.039 * height,
        sleeves=str(rng.choice(["long", "short", "none"], p=[0.45, 0.4, 0.15])),
        legs=str(rng.choice(["long", "shorts"], p=[0.75, 0.25])),
        hair=str(rng.choice(["short", "long", "none"], p=[0.55, 0.35, 0.1])),
    )


@dataclass
class Person:
    """One posed person in its own frame (before placement), see the module docstring.

    Attributes:
        keypoints: (133, 3) COCO-WholeBody keypoints.
        kp_depth_offset: (133,) radius of the body volume around each keypoint (metres).
        kp_normal: (133, 3) outward surface normal of keypoints that lie on the surface (face landmarks, ears);
            zeros for joint centres. A surface keypoint whose normal faces away from the camera is self-occluded.
        cap_a, cap_b: (P, 3) capsule end points; cap_ra, cap_rb: (P,) radii at those ends; cap_material: (P,) int.
        seat_height: height of the stool the person sits on (0 when none).
        shape, pose: what it was built from.
    """

    keypoints: np.ndarray
    kp_depth_offset: np.ndarray
    kp_normal: np.ndarray
    cap_a: np.ndarray
    cap_b: np.ndarray
    cap_ra: np.ndarray
    cap_rb: np.ndarray
    cap_material: np.ndarray
    seat_height: float
    shape: BodyShape
    pose: dict

    def transformed(self, rotation: np.ndarray, translation: np.ndarray) -> "Person":
        """The same person moved rigidly: ``p -> rotation @ p + translation``."""
        f = lambda p: p @ rotation.T + translation  # noqa: E731
        return Person(f(self.keypoints), self.kp_depth_offset, self.kp_normal @ rotation.T, f(self.cap_a),
                      f(self.cap_b), self.cap_ra,
                      self.cap_rb, self.cap_material, self.seat_height, self.shape, self.pose)


def sample_person(rng: np.random.Generator, extremity: float, shape: BodyShape | None = None) -> Person:
    """Sample a body shape and a pose and build the posed person, standing on the ground (y = 0)."""
    shape = shape or sample_shape(rng)
    pose = sample_pose(rng, extremity)
    hands = (sample_hand_pose(rng, extremity), sample_hand_pose(rng, extremity))
    face = sample_face(rng, shape.head)
    return build_person(shape, pose, hands, face)


def build_person(shape: BodyShape, pose: dict, hands: tuple[dict, dict], face_xy: np.ndarray) -> Person:
    """Forward kinematics: shape + joint angles -> keypoints and capsules, feet (or seat) on the ground."""
    s, w = shape, shape.build
    kp = np.zeros((NUM_KEYPOINTS, 3))
    off = np.zeros(NUM_KEYPOINTS)
    normal = np.zeros((NUM_KEYPOINTS, 3))
    caps: list[tuple[np.ndarray, np.ndarray, float, float, int]] = []

    def cap(a, b, ra, rb, mat):
        caps.append((np.asarray(a, float), np.asarray(b, float), float(ra), float(rb), mat))

    down = np.array([0.0, -1.0, 0.0])
    # --- trunk: two spine segments share the flexion / side bend / twist
    pelvis = np.zeros(3)
    r_lower = rot_y(0.4 * pose["spine_twist"]) @ rot_z(0.4 * pose["spine_side"]) @ rot_x(0.45 * pose["spine_flex"])
    chest = pelvis + r_lower @ np.array([0.0, 0.5 * s.spine, 0.0])
    r_upper = r_lower @ rot_y(0.6 * pose["spine_twist"]) @ rot_z(0.6 * pose["spine_side"]) @ rot_x(
        0.55 * pose["spine_flex"])
    neck_base = chest + r_upper @ np.array([0.0, 0.5 * s.spine, 0.0])
    hip = {"l": np.array([s.hip_half, 0.0, 0.0]), "r": np.array([-s.hip_half, 0.0, 0.0])}
    shoulder = {k: neck_base + r_upper @ np.array([sign * s.shoulder_half, -0.025 * s.height, -0.01])
                for k, sign in (("l", 1.0), ("r", -1.0))}
    neck_top = neck_base + r_upper @ np.array([0.0, s.neck, 0.012])
    r_head = r_upper @ rot_y(pose["neck_yaw"]) @ rot_x(pose["neck_flex"]) @ rot_z(pose["neck_roll"])
    head_scale = s.head
    head_origin = neck_top + r_head @ np.array([0.0, 0.1 * head_scale, 0.01 * head_scale])  # eye level on the axis
    to_head = lambda p: head_origin + (np.asarray(p) * 1.0) @ r_head.T  # noqa: E731 (head frame -> person frame)
    hr = HEAD_RADIUS * head_scale
    lo, hi = HEAD_AXIS[0] * head_scale, HEAD_AXIS[1] * head_scale

    tw = 1.0 * w
    cap(pelvis + r_lower @ np.array([0, 0.03, 0]), chest, 0.115 * tw, 0.115 * tw, TOP)
    cap(chest, neck_base + r_upper @ np.array([0, -0.04, 0]), 0.112 * tw, 0.09 * tw, TOP)
    for k, sign in (("l", 1.0), ("r", -1.0)):
        inner_sh = neck_base + r_upper @ np.array([sign * 0.7 * s.shoulder_half, -0.06 * s.height, -0.01])
        cap(hip[k] + np.array([0, 0.05, 0]), inner_sh, 0.085 * tw, 0.075 * tw, TOP)
        cap(inner_sh, shoulder[k], 0.07 * tw, 0.055 * tw, TOP)
    cap(hip["l"], hip["r"], 0.1 * tw, 0.1 * tw, BOTTOM)
    cap(neck_base, neck_top, 0.05 * tw, 0.045 * tw, SKIN)
    # --- head, hair, nose and face landmarks
    cap(to_head([0, lo, 0]), to_head([0, hi, 0]), hr, hr, SKIN)
    if s.hair != "none":
        cap(to_head([0, lo + 0.035 * head_scale, -0.014 * head_scale]), to_head([0, hi + 0.01 * head_scale,
            -0.014 * head_scale]), 1.07 * hr, 1.07 * hr, HAIR)
        if s.hair == "long":
            cap(to_head([0, 0.0, -0.05 * head_scale]), to_head([0, -0.17 * head_scale, -0.07 * head_scale]),
                0.07 * head_scale, 0.06 * head_scale, HAIR)
    face3 = place_on_head(face_xy, hr, lo, hi)
    kp[23:91] = to_head(face3)
    axis_pt = np.stack([np.zeros(68), np.clip(face3[:, 1], lo, hi), np.zeros(68)], 1)
    face_n = face3 - axis_pt
    normal[23:91] = (face_n / np.linalg.norm(face_n, axis=1, keepdims=True)) @ r_head.T
    nose_tip, nose_top = face3[30], face3[27]
    cap(to_head(nose_tip - [0, 0, 0.011 * head_scale]), to_head(nose_top - [0, 0, 0.012 * head_scale]),
        0.011 * head_scale, 0.009 * head_scale, SKIN)
    kp[0] = kp[23 + 30]
    kp[1] = kp[23 + 42:23 + 48].mean(0)  # COCO left eye = the person's left eye = iBUG 42-47
    kp[2] = kp[23 + 36:23 + 42].mean(0)
    ear_x = np.sqrt(hr**2 - (0.012 * head_scale) ** 2)
    kp[3] = to_head([ear_x, -0.008 * head_scale, -0.012 * head_scale])
    kp[4] = to_head([-ear_x, -0.008 * head_scale, -0.012 * head_scale])
    normal[0:3] = normal[[23 + 30, 23 + 42, 23 + 36]]  # nose tip, eyes: the face's normals there
    normal[3] = r_head @ np.array([1.0, 0.0, 0.0])
    normal[4] = r_head @ np.array([-1.0, 0.0, 0.0])
    # --- arms and hands
    for k, sign, hand_pose, base in (("l", 1.0, hands[0], 91), ("r", -1.0, hands[1], 112)):
        r_sh = r_upper @ rot_y(-sign * pose[f"{k}_sh_horiz"]) @ rot_z(sign * pose[f"{k}_sh_abd"]) @ rot_x(
            -pose[f"{k}_sh_flex"]) @ rot_y(pose[f"{k}_sh_twist"])
        elbow = shoulder[k] + r_sh @ (down * s.upper_arm)
        r_fore = r_sh @ rot_x(-pose[f"{k}_elbow"]) @ rot_y(sign * pose[f"{k}_forearm_twist"])
        wrist = elbow + r_fore @ (down * s.forearm)
        sleeve_upper = SKIN if s.sleeves == "none" else TOP
        sleeve_fore = TOP if s.sleeves == "long" else SKIN
        cap(shoulder[k], elbow, 0.05 * w, 0.04 * w, sleeve_upper)
        cap(elbow, wrist, 0.04 * w, 0.029 * w, sleeve_fore)
        kp[5 if k == "l" else 6], off[5 if k == "l" else 6] = shoulder[k], 0.05 * w
        kp[7 if k == "l" else 8], off[7 if k == "l" else 8] = elbow, 0.04 * w
        kp[9 if k == "l" else 10], off[9 if k == "l" else 10] = wrist, 0.029 * w
        r_hand = r_fore @ rot_x(-pose[f"{k}_wrist_flex"]) @ rot_z(sign * pose[f"{k}_wrist_dev"])
        hand_scale = s.height / 1.7
        hp, segs, seg_r, hrad = hand_points(hand_pose, hand_scale, palm_sign=-sign)
        hand_world = wrist + hp @ r_hand.T
        hand_world[0] = wrist
        kp[base:base + 21] = hand_world
        off[base:base + 21] = hrad
        for (i, j), (ra, rb) in zip(segs, seg_r):
            cap(hand_world[i], hand_world[j], ra, rb, SKIN)
    # --- legs and feet
    for k, sign, kidx in (("l", 1.0, (11, 13, 15, 17)), ("r", -1.0, (12, 14, 16, 20))):
        r_thigh = rot_y(sign * pose[f"{k}_hip_rot"]) @ rot_z(sign * pose[f"{k}_hip_abd"]) @ rot_x(
            -pose[f"{k}_hip_flex"])
        knee = hip[k] + r_thigh @ (down * s.thigh)
        r_shin = r_thigh @ rot_x(pose[f"{k}_knee"])
        ankle = knee + r_shin @ (down * s.shin)
        r_foot = r_shin @ rot_x(-pose[f"{k}_ankle"])
        foot_pt = lambda x, y, z: ankle + r_foot @ np.array([x, y, z])  # noqa: E731
        fw = 0.055 * s.height * w ** 0.5
        big_toe = foot_pt(-sign * 0.3 * fw, -s.ankle_height + 0.012, 0.78 * s.foot)
        small_toe = foot_pt(sign * 0.55 * fw, -s.ankle_height + 0.012, 0.62 * s.foot)
        heel = foot_pt(0.0, -s.ankle_height + 0.02, -0.22 * s.foot)
        leg_mat = BOTTOM
        cap(hip[k], knee, 0.085 * w, 0.058 * w, leg_mat)
        cap(knee, ankle, 0.056 * w, 0.04 * w, BOTTOM if s.legs == "long" else SKIN)
        mid_toes = 0.5 * (big_toe + small_toe)
        cap(heel, mid_toes, 0.032 * w ** 0.5, 0.026 * w ** 0.5, SHOES)
        cap(ankle, 0.6 * heel + 0.4 * mid_toes, 0.042 * w ** 0.5, 0.036 * w ** 0.5, SHOES)
        cap(big_toe, small_toe, 0.018, 0.015, SHOES)
        i_hip, i_knee, i_ankle, i_foot = kidx
        kp[i_hip], off[i_hip] = hip[k], 0.1 * w
        kp[i_knee], off[i_knee] = knee, 0.056 * w
        kp[i_ankle], off[i_ankle] = ankle, 0.042 * w ** 0.5
        kp[i_foot:i_foot + 3] = big_toe, small_toe, heel
        off[i_foot:i_foot + 3] = 0.018, 0.015, 0.032 * w ** 0.5

    a = np.stack([c[0] for c in caps])
    b = np.stack([c[1] for c in caps])
    ra = np.array([c[2] for c in caps])
    rb = np.array([c[3] for c in caps])
    mat = np.array([c[4] for c in caps], np.int32)
    # --- stand on the lowest contact point (soles, knees, buttocks); a seated person's buttocks rest on a stool
    support = pose["support"]
    soles = np.concatenate([kp[[17, 18, 20, 21], 1] - 0.016, kp[[19, 22], 1] - 0.032 * w ** 0.5])
    contact = [soles.min(), kp[13, 1] - 0.056 * w, kp[14, 1] - 0.056 * w]
    if support != "seat":
        contact += [kp[11, 1] - 0.1 * w, kp[12, 1] - 0.1 * w]
    ground = min(contact)
    shift = np.array([0.0, -ground, 0.0])
    seat = 0.0
    if support == "seat":
        seat = float(min(kp[11, 1], kp[12, 1]) - 0.1 * w - ground)
        seat = seat if seat > 0.15 else 0.0
    return Person(kp + shift, off, normal, a + shift, b + shift, ra, rb, mat, seat, shape, pose)
