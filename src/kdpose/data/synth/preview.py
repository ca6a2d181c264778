"""Pictures of synthetic scenes for people to look at: depth colouring, keypoints, limbs and boxes.

``python -m kdpose.data.synth.preview OUT.png --layout wholebody --modality rgb --seed 3`` writes one picture."""
from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

from ...skeletons import get_skeleton
from ...errors import ConfigError, KdposeError
from ...utils.io import atomic_write
from .config import SynthConfig, parse_size
from .scene import SynthScene, render_scene
from .writer import scene_seed


def depth_to_bgr(depth_mm: np.ndarray, max_mm: float = 8000.0) -> np.ndarray:
    """(H, W) uint16 millimetres -> (H, W, 3) uint8 BGR (turbo colour map, near = red, holes black)."""
    scaled = np.clip(depth_mm.astype(np.float32) / max_mm * 255.0, 0, 255).astype(np.uint8)
    out = cv2.applyColorMap(255 - scaled, cv2.COLORMAP_TURBO)
    out[depth_mm == 0] = 0
    return out


def draw_scene(scene: SynthScene, keypoints: bool = True, boxes: bool = True) -> np.ndarray:
    """The scene's image (depth coloured) with each instance's labelled keypoints and links drawn: filled dots
    are visible (2), hollow dots occluded (1)."""
    image = depth_to_bgr(scene.image) if scene.modality == "depth" else scene.image.copy()
    skeleton = get_skeleton(scene.skeleton_name)
    for inst in scene.instances:
        if boxes:
            x0, y0, x1, y1 = (int(round(v)) for v in inst.bbox)
            cv2.rectangle(image, (x0, y0), (x1, y1), (255, 255, 255), 1)
        if not keypoints:
            continue
        pts = np.round(inst.keypoints).astype(int)
        for (a, b), color in zip(skeleton.links, skeleton.link_colors):
            if inst.flags[a] and inst.flags[b]:
                cv2.line(image, tuple(pts[a]), tuple(pts[b]), color, 1, cv2.LINE_AA)
        for k in np.nonzero(inst.flags)[0]:
            radius = 2 if k < 23 else 1
            thickness = -1 if inst.flags[k] == 2 else 1
            cv2.circle(image, tuple(pts[k]), radius, skeleton.keypoint_colors[k], thickness, cv2.LINE_AA)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render one synthetic scene with its annotations drawn")
    parser.add_argument("out")
    parser.add_argument("--layout", default="coco")
    parser.add_argument("--modality", default="rgb")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--distance", help="person distance range NEAR,FAR in metres (default: the generator's)")
    parser.add_argument("--max-people", type=int, default=4)
    parser.add_argument("--no-keypoints", action="store_true")
    args = parser.parse_args(argv)
    try:  # bad values are one line, as in kdpose synth (a negative seed was numpy's traceback)
        _render(args)
    except KdposeError as exc:
        print(f"preview: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _render(args: argparse.Namespace) -> None:
    w, h = parse_size(args.size)
    try:
        distance = tuple(float(v) for v in args.distance.split(",")) if args.distance else None
    except ValueError:
        raise ConfigError(f"bad --distance '{args.distance}' (expected NEAR,FAR in metres, e.g. 1.5,20)") from None
    if args.index < 0:
        raise ConfigError(f"--index must be >= 0, got {args.index}")
    cfg = SynthConfig(width=w, height=h, layout=args.layout, modality=args.modality, distance_range=distance,
                      max_people=args.max_people).validated()
    scene = render_scene(cfg, scene_seed(args.seed, "train", args.index))
    image = draw_scene(scene, keypoints=not args.no_keypoints)
    try:
        ok, buf = cv2.imencode(os.path.splitext(args.out)[1] or ".png", image)
    except cv2.error:  # an extension OpenCV has no encoder for
        ok = False
    if not ok:
        raise ConfigError(f"{args.out}: OpenCV cannot write this image format (use .png or .jpg)")
    try:
        with atomic_write(args.out) as f:
            f.write(buf.tobytes())
    except OSError as exc:
        raise ConfigError(f"{args.out}: cannot write ({exc.strerror or exc})") from None


if __name__ == "__main__":
    raise SystemExit(main())
