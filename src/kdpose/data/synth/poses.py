"""Joint-angle sampling within anatomical limits, by pose family.

A pose is a flat ``dict[str, float]`` of joint angles in radians (keys below) plus ``support`` (what touches the
ground: ``"feet"``, ``"seat"``, ``"ground"`` or ``"knee"``). Conventions (see ``body.py``): flexion moves a limb
forwards (knee and elbow: bend), abduction moves it away from the body's midline (negative = across it),
``*_horiz`` swings a raised arm across the chest, twists are about the bone axis.

Families: stand, walk, arms_raised, reach, crossed_arms, crossed_legs, crouch, sit, sit_ground, kneel, bend,
random. ``extremity`` in [0, 1] shifts the mix towards the hard families and widens the random ranges."""
from __future__ import annotations

import numpy as np

SIDES = ("l", "r")
LIMITS: dict[str, tuple[float, float]] = {
    "spine_flex": (-0.35, 1.5), "spine_side": (-0.45, 0.45), "spine_twist": (-0.7, 0.7),
    "neck_flex": (-0.7, 0.8), "neck_yaw": (-1.3, 1.3), "neck_roll": (-0.5, 0.5),
    "sh_flex": (-0.9, 3.1), "sh_abd": (-0.5, 3.0), "sh_horiz": (-0.6, 1.5), "sh_twist": (-1.5, 1.5),
    "elbow": (0.0, 2.6), "forearm_twist": (-1.4, 1.4), "wrist_flex": (-1.0, 1.0), "wrist_dev": (-0.35, 0.5),
    "hip_flex": (-0.4, 2.3), "hip_abd": (-0.45, 0.9), "hip_rot": (-0.6, 0.6), "knee": (0.0, 2.6),
    "ankle": (-0.6, 0.7),
}
FAMILIES = ("stand", "walk", "arms_raised", "reach", "crossed_arms", "crossed_legs", "crouch", "sit", "sit_ground",
            "kneel", "bend", "random")
_EASY = np.array([4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], float)
_HARD = np.array([1, 1.5, 2, 1.5, 1.2, 1, 1.5, 1.5, 1, 0.8, 1.2, 1.5], float)


def _relaxed(rng: np.random.Generator, spread: float) -> dict[str, float]:
    """A loose standing pose: every angle near its neutral value with noise scaled by ``spread``."""
    n = lambda s: float(rng.normal(0.0, s * spread))  # noqa: E731
    pose = {"spine_flex": 0.05 + n(0.12), "spine_side": n(0.08), "spine_twist": n(0.2),
            "neck_flex": n(0.25), "neck_yaw": n(0.5), "neck_roll": n(0.15)}
    for s in SIDES:
        pose.update({
            f"{s}_sh_flex": n(0.35), f"{s}_sh_abd": 0.12 + abs(n(0.2)), f"{s}_sh_horiz": n(0.2),
            f"{s}_sh_twist": n(0.3), f"{s}_elbow": 0.15 + abs(n(0.5)), f"{s}_forearm_twist": n(0.5),
            f"{s}_wrist_flex": n(0.3), f"{s}_wrist_dev": n(0.15), f"{s}_hip_flex": n(0.12),
            f"{s}_hip_abd": 0.05 + n(0.07), f"{s}_hip_rot": n(0.15), f"{s}_knee": abs(n(0.12)), f"{s}_ankle": n(0.08),
        })
    pose["support"] = "feet"
    return pose


def sample_pose(rng: np.random.Generator, extremity: float) -> dict:
    """Sample one pose; ``extremity`` in [0, 1] (see module docstring). Returns the angle dict and the family name
    under ``"family"``."""
    weights = (1.0 - extremity) * _EASY + extremity * _HARD
    family = FAMILIES[int(rng.choice(len(FAMILIES), p=weights / weights.sum()))]
    spread = 0.7 + 0.8 * extremity
    pose = _relaxed(rng, spread)
    u = rng.uniform
    side, other = ("l", "r") if rng.random() < 0.5 else ("r", "l")
    if family == "walk":
        phase = u(-1.0, 1.0)
        pose[f"{side}_hip_flex"], pose[f"{other}_hip_flex"] = 0.45 * phase, -0.35 * phase
        pose[f"{side}_knee"], pose[f"{other}_knee"] = u(0.0, 0.5), u(0.1, 1.2)
        pose[f"{side}_sh_flex"], pose[f"{other}_sh_flex"] = -0.5 * phase, 0.5 * phase
        if rng.random() < 0.4:  # running
            pose[f"{side}_hip_flex"] += 0.5
            pose[f"{other}_knee"] = u(1.2, 2.0)
            pose["l_elbow"], pose["r_elbow"] = u(1.2, 1.8), u(1.2, 1.8)
    elif family == "arms_raised":
        for s in (SIDES if rng.random() < 0.6 else (side,)):
            if rng.random() < 0.5:
                pose[f"{s}_sh_flex"] = u(2.2, 3.1)
            else:
                pose[f"{s}_sh_abd"] = u(1.4, 2.9)
            pose[f"{s}_elbow"] = u(0.0, 1.8)
    elif family == "reach":
        pose[f"{side}_sh_flex"] = u(0.8, 2.0)
        pose[f"{side}_sh_horiz"] = u(-0.5, 1.0)
        pose[f"{side}_elbow"] = u(0.0, 0.6)
        pose["spine_flex"] = u(0.0, 0.6)
        pose["spine_twist"] = u(-0.5, 0.5)
    elif family == "crossed_arms":  # forearms folded across the chest: elbow at 90 deg, shoulder turned inwards
        for s in SIDES:
            pose[f"{s}_sh_flex"] = u(0.1, 0.5)
            pose[f"{s}_sh_horiz"] = u(0.0, 0.3)
            pose[f"{s}_sh_abd"] = u(0.1, 0.35)
            pose[f"{s}_sh_twist"] = (-1.0 if s == "l" else 1.0) * u(1.1, 1.5)
            pose[f"{s}_elbow"] = u(1.5, 2.0)
    elif family == "crossed_legs":
        pose[f"{side}_hip_abd"] = u(-0.4, -0.25)
        pose[f"{side}_hip_flex"] = u(0.0, 0.25)
        pose[f"{side}_knee"] = u(0.0, 0.3)
        pose[f"{other}_hip_abd"] = u(-0.1, 0.05)
    elif family == "crouch":
        for s in SIDES:
            pose[f"{s}_hip_flex"] = u(1.5, 2.2)
            pose[f"{s}_knee"] = u(1.9, 2.5)
            pose[f"{s}_ankle"] = u(0.3, 0.6)
            pose[f"{s}_hip_abd"] = u(0.05, 0.5)
            pose[f"{s}_sh_flex"] = u(0.0, 1.3)
            pose[f"{s}_elbow"] = u(0.2, 1.8)
        pose["spine_flex"] = u(0.3, 0.9)
    elif family in ("sit", "sit_ground"):
        for s in SIDES:
            pose[f"{s}_hip_flex"] = u(1.3, 1.75)
            pose[f"{s}_knee"] = u(1.2, 1.9) if family == "sit" else u(0.0, 1.6)
            pose[f"{s}_hip_abd"] = u(0.0, 0.45)
            pose[f"{s}_sh_flex"] = u(-0.2, 1.0)
            pose[f"{s}_elbow"] = u(0.2, 1.8)
        if family == "sit" and rng.random() < 0.3:  # one leg crossed over the other
            pose[f"{side}_hip_abd"] = u(-0.4, -0.2)
            pose[f"{side}_hip_flex"] = u(1.7, 2.0)
        pose["spine_flex"] = u(-0.2, 0.5)
        pose["support"] = "seat" if family == "sit" else "ground"
    elif family == "kneel":
        pose[f"{side}_hip_flex"], pose[f"{side}_knee"] = u(1.3, 1.7), u(1.4, 1.7)
        pose[f"{other}_hip_flex"], pose[f"{other}_knee"] = u(-0.1, 0.3), u(1.4, 1.7)
        pose["support"] = "knee"
    elif family == "bend":
        pose["spine_flex"] = u(0.7, 1.5)
        for s in SIDES:
            pose[f"{s}_sh_flex"] = u(0.6, 1.8)
            pose[f"{s}_elbow"] = u(0.0, 1.0)
            pose[f"{s}_hip_flex"] = u(0.0, 0.4)
    elif family == "random":
        for key, (lo, hi) in LIMITS.items():
            names = [key] if key in ("spine_flex", "spine_side", "spine_twist", "neck_flex", "neck_yaw",
                                     "neck_roll") else [f"{s}_{key}" for s in SIDES]
            for name in names:
                # mix towards the relaxed value so that full-range extremes are rare but present
                mix = rng.uniform(0.3, 1.0) * extremity
                pose[name] = (1 - mix) * pose[name] + mix * rng.uniform(lo, hi)
        pose[f"{side}_knee"] = min(pose[f"{side}_knee"], 0.4)  # keep one leg able to stand
        pose[f"{side}_hip_flex"] = min(pose[f"{side}_hip_flex"], 0.4)
    _clip(pose)
    pose["family"] = family
    return pose


def _clip(pose: dict) -> None:
    """Clamp every angle to its anatomical limit (in place)."""
    for key, value in list(pose.items()):
        if not isinstance(value, float):
            continue
        base = key[2:] if key[:2] in ("l_", "r_") else key
        lo, hi = LIMITS[base]
        pose[key] = float(min(max(value, lo), hi))
