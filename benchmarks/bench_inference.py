"""Pose-stage latency for 1..9 people per 640x480 frame: kdpose (all crops in one batched forward) vs a
per-person loop (rtmlib's way) vs onnxruntime's raw batched compute floor, all on the same rtmpose-t ONNX file.

    .venv/bin/python benchmarks/bench_inference.py [--rtmlib-site /tmp/rtmlib_venv/lib/python3.11/site-packages]

* kdpose batched:  ``PoseEstimator(onnx).predict_arrays(frame, bboxes)`` -- crop, normalise, one forward,
  decode, back-project, rescoring (OKS-NMS off so every method returns all N people).
* kdpose loop:     the same estimator with ``max_batch=1`` (one forward per person).
* rtmlib:          ``rtmlib.RTMPose(onnx)(frame, bboxes)``, imported from a throwaway environment
  (``python -m venv /tmp/rtmlib_venv && /tmp/rtmlib_venv/bin/pip install rtmlib``); skipped when absent.

All methods are timed round-robin in one process (one call of each per round, median of the rounds), so that
load changes on a shared machine affect them alike.
* ORT floor:       ``session.run`` on a ready (N, 3, 256, 192) float32 array -- the model compute alone.
* ORT per crop:    N ``session.run`` calls on (1, 3, 256, 192) arrays.

Also: the same with an int8 (dynamic, per-channel) copy of the model, and end-to-end frames/s of the video
pipeline (tracking + One-Euro) on a synthetic clip with detection every frame vs every 5 frames (the built-in
kdpose-det-nano detector is run for its cost, its boxes replaced by the true ones). Weights are random (seeded):
latency does not depend on them.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kdpose.utils.entry import guarded, require_at_least

def load_rtmlib(site_packages: str | None):
    """Import rtmlib's ``RTMPose`` from another environment's site-packages (appended last to ``sys.path``, so
    numpy / OpenCV / onnxruntime stay this environment's: the same versions here, 2.4.6 / 5.0.0 / 1.31.1)."""
    if not site_packages or not os.path.isdir(os.path.join(site_packages, "rtmlib")):
        return None
    sys.path.append(site_packages)
    try:
        from rtmlib import RTMPose
    except Exception as exc:
        print(f"(rtmlib import failed: {exc})", file=sys.stderr)
        return None
    return RTMPose


def interleaved_ms(fns: dict, repeats: int, warmup: int = 2) -> dict:
    """Median ms of each callable, timed round-robin (one call of each per round) so that load changes on a
    shared machine hit every method alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def make_frame(people: int = 9, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 640x480 textured frame and ``people`` person-like boxes in a 3x3 grid (xyxy)."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    boxes = []
    for i in range(people):
        r, c = divmod(i, 3)
        x0, y0 = 20 + c * 210 + rng.uniform(0, 30), 10 + r * 155 + rng.uniform(0, 10)
        boxes.append([x0, y0, x0 + rng.uniform(80, 150), y0 + rng.uniform(120, 140)])
    return frame, np.asarray(boxes, np.float32)


def export_model(tmp: Path) -> tuple[Path, Path | None]:
    import torch

    from kdpose.export.onnx import export_onnx
    from kdpose.models import create_model

    torch.manual_seed(0)
    model = create_model("rtmpose-t", layout="coco", input_size=(192, 256)).eval()
    fp32 = export_onnx(model, tmp / "rtmpose-t.onnx", model_name="rtmpose-t")
    try:
        from kdpose.export.quantize import quantize_int8

        int8 = quantize_int8(fp32, tmp / "rtmpose-t.int8.onnx", mode="dynamic")  # what the int8 rows measured
    except Exception as exc:  # quantisation is optional for this benchmark
        print(f"(int8 copy skipped: {exc})", file=sys.stderr)
        int8 = None
    return fp32, int8


def bench_pose_stage(onnx: Path, frame, boxes, counts, repeats, rtmlib_cls) -> list[dict]:
    import onnxruntime as ort

    from kdpose.inference.estimator import PoseEstimator

    batched = PoseEstimator(str(onnx), nms_thr=None)
    loop = PoseEstimator(str(onnx), nms_thr=None, max_batch=1)
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    rtm = rtmlib_cls(str(onnx), model_input_size=(192, 256), backend="onnxruntime", device="cpu") if rtmlib_cls \
        else None
    # rtmlib feeds its input to the model without a BGR->RGB swap; giving it the RGB frame makes both pipelines see
    # identical crops, so their keypoints can be compared
    frame_rgb = np.ascontiguousarray(frame[..., ::-1])
    rng = np.random.default_rng(1)
    rows = []
    for n in counts:
        b = boxes[:n]
        x = rng.standard_normal((n, 3, 256, 192)).astype(np.float32)
        fns = {"kdpose_batched": lambda: batched.predict_arrays(frame, bboxes=b),
               "kdpose_loop": lambda: loop.predict_arrays(frame, bboxes=b),
               "ort_floor": lambda: sess.run(None, {"input": x}),
               "ort_per_crop": lambda: [sess.run(None, {"input": x[i:i + 1]}) for i in range(n)]}
        if rtm is not None:
            fns["rtmlib"] = lambda: rtm(frame_rgb, bboxes=b.tolist())
        row = {"people": n, **interleaved_ms(fns, repeats)}
        if rtm is not None:
            # random weights give near-flat logits, so tiny float differences can move an arg-max: report the
            # share of keypoints on which the two pipelines agree to 0.5 px
            theirs = rtm(frame_rgb, bboxes=b.tolist())[0]
            ours = batched.predict_arrays(frame, bboxes=b).keypoints
            row["agree_with_rtmlib"] = float((np.abs(theirs - ours).max(-1) <= 0.5).mean())
        rows.append(row)
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}), file=sys.stderr)
    return rows


def bench_video(onnx: Path, frames: int = 40, people: int = 4) -> dict:
    """Frames/s of the video pipeline on a synthetic clip.

    The detector is the built-in ``kdpose-det-nano`` architecture at 320x320 (untrained, seeded: its run time is
    real) whose output is replaced by the true boxes, so every configuration tracks the same people; without
    ``kdpose.detection`` a zero-cost stand-in is used. Each entry reports people per frame too.
    """
    from kdpose.inference.estimator import PoseEstimator
    from kdpose.inference.video import VideoPoseEstimator

    frame, boxes = make_frame(people, seed=3)
    clip = [np.roll(frame, 3 * i, axis=1) for i in range(frames)]
    clip_boxes = [boxes + [3 * i, 0, 3 * i, 0] for i in range(frames)]
    try:
        import torch

        from kdpose.detection import PersonDetector, create_detector_model

        torch.manual_seed(0)
        real = PersonDetector(create_detector_model("kdpose-det-nano", input_size=(320, 320)).eval())
        det_name = "kdpose-det-nano 320x320 (run, output replaced by the true boxes)"
    except ImportError:
        real, det_name = None, "zero-cost stand-in"
    out = {"detector": det_name}
    for label, every, tracking in (("no tracking", 1, False), ("tracking + One-Euro", 1, True),
                                   ("tracking + One-Euro, detect every 5", 5, True)):
        state = {"i": 0}

        def detector(image):
            if real is not None:
                real(image)
            return clip_boxes[state["i"]], np.ones(people)

        est = PoseEstimator(str(onnx), detector=detector)
        video = VideoPoseEstimator(est, det_every=every, tracking=tracking, kpt_thr=0.0)
        found = 0
        t = time.perf_counter()
        for i, im in enumerate(clip):
            state["i"] = i
            found += len(video.step(im, i).keypoints)
        elapsed = time.perf_counter() - t
        out[label] = {"fps": frames / elapsed, "people_per_frame": found / frames,
                      "detector_ms_per_frame": 1000 * est.timings["detect_s"] / frames,
                      "pose_ms_per_frame": 1000 * est.timings["pose_s"] / frames}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rtmlib-site",
                        help="site-packages folder of an environment with rtmlib installed (default: "
                             "/tmp/rtmlib_venv/lib/python3*/site-packages; rtmlib is skipped when that is absent)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--people", default="1,2,3,4,5,6,7,8,9")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--video-only", action="store_true", help="only the video-pipeline measurement")
    args = parser.parse_args()
    require_at_least(parser, args, repeats=1)
    words = [v.strip() for v in args.people.split(",")]
    if not all(w.isdigit() and 1 <= int(w) <= 9 for w in words):
        parser.error(f"--people must be a comma list of counts from 1 to 9 (the frame's 3x3 grid), got '{args.people}'")
    counts = [int(w) for w in words]
    if args.rtmlib_site is None:
        args.rtmlib_site = next(iter(sorted(glob.glob("/tmp/rtmlib_venv/lib/python3*/site-packages"))), None)
    elif not os.path.isdir(os.path.join(args.rtmlib_site, "rtmlib")):  # named, so not skipped without a word
        parser.error(f"--rtmlib-site {args.rtmlib_site}: no rtmlib folder there (give the site-packages folder of "
                     "an environment with rtmlib installed)")
    from kdpose.cli.main import require_extra
    from kdpose.utils.io import check_output_file

    if args.json:
        check_output_file(args.json, "--json", "inference.json")
    for module in ("onnx", "onnxruntime"):  # every measurement runs the exported ONNX file
        require_extra(module, "benchmarks/bench_inference.py")
    rtmlib_cls = load_rtmlib(args.rtmlib_site)
    frame, boxes = make_frame(max(counts))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        fp32, int8 = export_model(tmp)
        rows, int8_rows = [], []
        if not args.video_only:
            rows = bench_pose_stage(fp32, frame, boxes, counts, args.repeats, rtmlib_cls)
            int8_rows = bench_pose_stage(int8, frame, boxes, [1, 6, 9], args.repeats, None) if int8 else []
        video = bench_video(fp32)
    print(f"machine: {os.cpu_count()} CPUs, 1-min load average {load_before:.1f} before / "
          f"{os.getloadavg()[0]:.1f} after; rtmlib: {'yes' if rtmlib_cls else 'not found'}")
    cols = ["people", "kdpose_batched", "kdpose_loop", "rtmlib", "ort_floor", "ort_per_crop"]
    print("| " + " | ".join(cols) + " | kdpose / floor | rtmlib / kdpose |")
    print("|" + "---|" * (len(cols) + 2))
    for r in rows:
        cells = [str(r["people"])] + [f"{r[c]:.1f}" if c in r else "n/a" for c in cols[1:]]
        ratio = r["kdpose_batched"] / r["ort_floor"]
        speedup = f"{r['rtmlib'] / r['kdpose_batched']:.2f}x" if "rtmlib" in r else "n/a"
        print("| " + " | ".join(cells) + f" | {ratio:.2f} | {speedup} |")
    for r in int8_rows:
        print(f"int8: {r['people']} people: kdpose batched {r['kdpose_batched']:.1f} ms, "
              f"ORT floor {r['ort_floor']:.1f} ms")
    print(f"video detector: {video['detector']}")
    for label, v in video.items():
        if label != "detector":
            print(f"video, {label}: {v['fps']:.2f} fps, {v['people_per_frame']:.1f} people/frame, detector "
                  f"{v['detector_ms_per_frame']:.1f} ms/frame, pose {v['pose_ms_per_frame']:.1f} ms/frame")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"fp32": rows, "int8": int8_rows, "video": video}, indent=1))


if __name__ == "__main__":
    raise SystemExit(guarded(main))
