"""MPII Human Pose reader for MMPose's JSON flavour: a list of ``{image, joints[16][2], joints_vis[16], center,
scale}`` (``scale`` = person height / 200 px, centre in MATLAB 1-based pixels).

Box convention (MMPose ``MpiiDataset``): ``scale_px = 200 * scale`` on both axes; the centre moves down by
``15 / 200 * scale_px`` (to avoid cutting the legs) when it is valid, then ``center -= 1`` (0-based); the box is
the ``center +- scale_px / 2`` square. Joints are used as given.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import DataError
from .geometry import center_scale_to_bbox_xyxy
from .jsonfile import load_json, require
from .sample import Sample

MPII_PIXEL_STD = 200.0


def mpii_center_scale_to_bbox(center, scale: float) -> np.ndarray:
    """MMPose's MPII centre/scale -> (4,) xyxy box in 0-based pixels."""
    c = np.asarray(center, dtype=np.float32).copy()
    s = np.float32(scale) * MPII_PIXEL_STD
    if c[0] != -1:
        c[1] += 15.0 / MPII_PIXEL_STD * s
    c -= 1.0
    return center_scale_to_bbox_xyxy(c, np.array([s, s], np.float32))


def load_mpii(path: str | os.PathLike, image_root: str | os.PathLike | None = None) -> list[Sample]:
    """Read an MPII JSON file; one Sample per entry (``image_id`` = position in the file, ``ann_id`` too;
    ``meta['image_name']``, ``meta['center']``, ``meta['scale']`` keep the raw fields)."""
    path = os.fspath(path)
    data = load_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of MPII entries (MMPose's MPII JSON), got {type(data).__name__}")
    root = os.fspath(image_root) if image_root is not None else os.path.dirname(os.path.abspath(path))
    samples = []
    for i, entry in enumerate(data):
        require(entry, ("image", "joints", "joints_vis", "center", "scale"), path, f"entry {i}")
        joints = np.asarray(entry["joints"], dtype=np.float32)
        vis = np.asarray(entry["joints_vis"], dtype=np.float32)
        if joints.shape != (16, 2) or vis.shape != (16,):
            raise DataError(
                f"{path}: entry {i} has joints {joints.shape} / joints_vis {vis.shape}, layout 'mpii' expects 16"
            )
        samples.append(
            Sample(
                image_path=os.path.join(root, entry["image"]),
                image_id=i,
                bbox=mpii_center_scale_to_bbox(entry["center"], float(entry["scale"])),
                keypoints=joints,
                visible=np.minimum(1.0, vis),
                ann_id=i,
                flags=vis.copy(),
                meta={"image_name": entry["image"], "center": list(entry["center"]), "scale": float(entry["scale"])},
            )
        )
    return samples
