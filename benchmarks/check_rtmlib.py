"""Does rtmlib run a kdpose-exported RTMPose ONNX file unchanged, and return kdpose's keypoints?

Two steps, because rtmlib and kdpose live in different environments (rtmlib pulls opencv-contrib; it must not
enter the project venv):

  1. prepare (project venv): export rtmpose-t with seeded trained-scale random weights, render a test image with
     a few person boxes, and run kdpose's own top-down pipeline (PoseEstimator, onnxruntime backend) on it:
         .venv/bin/python benchmarks/check_rtmlib.py prepare --dir /tmp/rtmlib_check
  2. compare (a venv with rtmlib, e.g. python -m venv /tmp/rtmlib_venv && /tmp/rtmlib_venv/bin/pip install rtmlib):
         /tmp/rtmlib_venv/bin/python benchmarks/check_rtmlib.py compare --dir /tmp/rtmlib_check

Channel order: rtmlib (0.0.16, tools/base.py + pose_estimation/rtmpose.py) normalises the array it is given
with RGB-ordered mean/std and never converts BGR -> RGB, while MMPose-trained models (and kdpose files)
expect RGB. The like-for-like comparison therefore gives rtmlib the RGB image; the BGR run is reported too, to
show how much the channel swap changes the result.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

BOXES = np.array([[40, 30, 200, 400], [260, 60, 420, 420], [470, 100, 610, 380]], np.float64)  # xyxy


def _test_image(seed: int = 0) -> np.ndarray:
    """A 480x640 BGR image with smooth structure (random blobs + gradient) so crops are not flat noise."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (15, 20, 3), dtype=np.uint8)
    img = cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(0, 60, 640, dtype=np.float32)[None, :, None]
    return np.clip(img.astype(np.float32) + ramp, 0, 255).astype(np.uint8)


def prepare(out: Path) -> int:
    import cv2
    import torch

    from kdpose.export.bench import realistic_random_weights
    from kdpose.export.onnx import export_onnx
    from kdpose.inference.estimator import PoseEstimator
    from kdpose.models import create_model

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    model = realistic_random_weights(create_model("rtmpose-t", layout="coco", input_size=(192, 256)).eval(), seed=7)
    onnx_path = export_onnx(model, out / "rtmpose-t.onnx", model_name="rtmpose-t")
    image = _test_image()
    cv2.imwrite(str(out / "image.png"), image)
    est = PoseEstimator(str(onnx_path), nms_thr=None, threads=1)
    res = est.predict_arrays(image, BOXES)
    order = [int(np.argmin(np.abs(res.bboxes[:, :4] - b).sum(1))) for b in BOXES]  # results are score-sorted
    np.savez(out / "kdpose.npz", keypoints=res.keypoints[order], scores=res.scores[order], boxes=BOXES)
    print(f"wrote {onnx_path}, image.png and kdpose.npz ({len(BOXES)} people) in {out}")
    return 0


def compare(out: Path) -> int:
    import cv2
    import rtmlib

    ref = np.load(out / "kdpose.npz")
    image = cv2.imread(str(out / "image.png"))
    pose = rtmlib.RTMPose(str(out / "rtmpose-t.onnx"), model_input_size=(192, 256), backend="onnxruntime",
                          device="cpu")
    from importlib.metadata import version

    report = {"rtmlib_version": version("rtmlib")}
    for label, img in (("rgb_input", image[..., ::-1].copy()), ("bgr_input", image)):
        kpts, scores = pose(img, bboxes=ref["boxes"].tolist())
        kpts, scores = np.asarray(kpts), np.asarray(scores)
        diff = np.abs(kpts - ref["keypoints"]).max(-1)
        report[label] = {"max_px_diff": float(diff.max()), "mean_px_diff": float(diff.mean()),
                         "keypoints_within_0.5px": float((diff <= 0.5).mean())}
    print(json.dumps(report, indent=1))
    ok = report["rgb_input"]["max_px_diff"] <= 0.5
    print("PASS: rtmlib returns kdpose's keypoints" if ok else "FAIL: keypoints differ")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "compare"])
    parser.add_argument("--dir", default="/tmp/rtmlib_check", help="working folder shared by the two steps")
    args = parser.parse_args(argv)
    if args.step == "compare":
        try:
            import rtmlib  # noqa: F401
        except ImportError:
            print("rtmlib is not installed in this environment: run the compare step with a venv that has it",
                  file=sys.stderr)
            return 2
        missing = [n for n in ("kdpose.npz", "image.png", "rtmpose-t.onnx") if not (Path(args.dir) / n).is_file()]
        if missing:  # this step may run without kdpose (rtmlib's environment): its own one-line error
            print(f"check_rtmlib.py: error: {Path(args.dir) / missing[0]}: not found; run the prepare step first "
                  f"(.venv/bin/python benchmarks/check_rtmlib.py prepare --dir {args.dir})", file=sys.stderr)
            return 2
        return compare(Path(args.dir))
    return prepare(Path(args.dir))


if __name__ == "__main__":
    try:
        from kdpose.utils.entry import guarded
    except ImportError:  # the compare step runs in rtmlib's environment, which need not have kdpose
        raise SystemExit(main()) from None
    raise SystemExit(guarded(main))
