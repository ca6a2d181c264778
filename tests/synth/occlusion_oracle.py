"""An occlusion check independent of the rasteriser: march along the 3D ray from the camera to each keypoint's
body surface and test every sample point against the analytic scene volumes (capsules and boxes)."""
from __future__ import annotations

import numpy as np

from kdpose.data.synth.rotations import rot_y
from kdpose.data.synth.visibility import VISIBILITY_TOLERANCE_M


def _inside_capsules(points: np.ndarray, a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """(J, 3) points, (P, 3) capsules -> (J,) bool: inside any capsule (radius interpolated along the axis)."""
    e = b - a
    length2 = np.maximum((e * e).sum(1), 1e-12)
    t = np.clip(((points[:, None, :] - a[None]) * e[None]).sum(-1) / length2[None], 0.0, 1.0)  # (J, P)
    closest = a[None] + t[..., None] * e[None]
    dist = np.linalg.norm(points[:, None, :] - closest, axis=-1)
    return (dist < ra[None] + t * (rb - ra)[None]).any(1)


def _inside_boxes(points: np.ndarray, boxes) -> np.ndarray:
    inside = np.zeros(len(points), bool)
    for obj in boxes:
        local = (points - obj.centre) @ rot_y(obj.yaw)  # world -> box frame (inverse rotation)
        w, h, d = obj.size
        inside |= (np.abs(local[:, 0]) < w / 2) & (local[:, 1] > 0) & (local[:, 1] < h) & (np.abs(local[:, 2]) < d / 2)
    return inside


def _surface_normal(point: np.ndarray, person) -> np.ndarray:
    """Outward normal at a surface point: from the axis of the person's capsule whose surface passes closest."""
    a, b = person.cap_a, person.cap_b
    e = b - a
    t = np.clip(((point - a) * e).sum(1) / np.maximum((e * e).sum(1), 1e-12), 0.0, 1.0)
    closest = a + t[:, None] * e
    dist = np.linalg.norm(point - closest, axis=1)
    gap = np.abs(dist - (person.cap_ra + t * (person.cap_rb - person.cap_ra)))
    j = int(np.argmin(gap))
    n = point - closest[j]
    return n / max(np.linalg.norm(n), 1e-12)


def _near_segment(a, b, ra, rb, start, end) -> np.ndarray:
    """Capsules whose bounding sphere comes within reach of the segment start-end (a cheap pre-filter)."""
    centre, half = 0.5 * (a + b), 0.5 * np.linalg.norm(b - a, axis=1) + np.maximum(ra, rb)
    d = end - start
    t = np.clip(((centre - start) @ d) / max(d @ d, 1e-12), 0.0, 1.0)
    return np.linalg.norm(centre - (start + t[:, None] * d), axis=1) < half


def oracle_flags(scene, inst, step: float = 0.004) -> np.ndarray:
    """(K,) flags 2/1/0 for one instance from 3D ray marching (0 = outside the image). Keypoints on the body
    surface (face landmarks, ears: zero depth offset) are also self-occluded when their surface faces away."""
    cam, layout = scene.camera, scene.layout
    a = np.concatenate([p.cap_a for p in layout.people] + [o.a[None] for o in layout.objects if o.kind == "capsule"])
    b = np.concatenate([p.cap_b for p in layout.people] + [o.b[None] for o in layout.objects if o.kind == "capsule"])
    ra = np.concatenate([p.cap_ra for p in layout.people] + [[o.radius] for o in layout.objects if o.kind == "capsule"])
    rb = np.concatenate([p.cap_rb for p in layout.people] + [[o.radius] for o in layout.objects if o.kind == "capsule"])
    boxes = [o for o in layout.objects if o.kind == "box"]
    person = layout.people[inst.person_index]
    world = person.keypoints[: len(inst.flags)]
    h, w = scene.instance_map.shape
    out = np.zeros(len(world), np.uint8)
    for k, p in enumerate(world):
        x, y = inst.keypoints[k]
        z = inst.keypoints_cam[k, 2]
        if not (0 <= x < w and 0 <= y < h and z > 0.1):
            continue
        ray = p - cam.position
        tolerance = VISIBILITY_TOLERANCE_M + 1.5 * z / cam.focal
        # stop where the keypoint's own body surface (minus the tolerance) begins, measured in camera z
        stop = (inst.depth_offset[k] + tolerance) / z
        end = cam.position + (1.0 - stop) * ray
        near = _near_segment(a, b, ra, rb, cam.position, end)
        s = np.linspace(0.0, 1.0 - stop, max(2, int(np.linalg.norm(end - cam.position) / step)))
        samples = cam.position + s[:, None] * ray
        blocked = bool(near.any() and _inside_capsules(samples, a[near], b[near], ra[near], rb[near]).any())
        blocked = blocked or bool(boxes and _inside_boxes(samples, boxes).any())
        if inst.depth_offset[k] == 0 and not blocked:
            blocked = float(_surface_normal(p, person) @ ray) > 0
        out[k] = 1 if blocked else 2
    return out
