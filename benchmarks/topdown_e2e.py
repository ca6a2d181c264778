"""End-to-end top-down AP (issue 23): a pose model on a person detector's boxes next to the same model on the
ground-truth boxes, and the detector's own box AP, all on the same images. The RTMPose paper reports COCO AP both
ways; this is that table on kdpose's synthetic val split.

    python benchmarks/topdown_e2e.py --pose cspnext-m-udp.synth-standard_128x96 \\
        --detector kdpose-det-tiny.synth-standard_320 [--images 500] [--preset standard]
    python benchmarks/topdown_e2e.py --pose TAG --detector TAG_OR_FILE --quick     # 4 images: a smoke test

Images: scenes 0..N-1 of the preset's val split (``standard``: the val split of
configs/cspnext-m_udp_synth-standard.yaml, 640x480, up to 4 people, seed 0). With ``--images 500`` that is the very
split the standard pose and detector recipes validate on, read from ``--cache-dir`` (``.kdpose_cache/synth``, rendered
there once if missing: ~1 h of one core); a smaller N renders its own split into the same cache, and the generator
draws scene i from (seed, split, i) alone, so those are the first N scenes of the 500.

Protocol (no flip test unless ``--flip``; the layout's COCO OKS AP through pycocotools, fractions):

* **ground-truth boxes**: kdpose's own top-down scoring, the shipped accuracy checks' protocol
  (:func:`kdpose.tasks.accuracy.score_estimator`): one pose per labelled person's box, no NMS, MMPose's rescoring
  (mean keypoint score above 0.2);
* **detected boxes**: the detector on every image (score >= ``--bbox-thr``, default 0.01 as the detector's own
  validation; its NMS; at most ``--max-det`` boxes), one pose per box, OKS-NMS 0.9 (MMPose's top-down default),
  instance score = box score x mean keypoint score above 0.2; every image counts (people without labelled keypoints
  are ignored by pycocotools, as in COCO);
* **detector box AP**: pycocotools bbox AP of the same detections, with the preset's ignore rule (``standard``:
  people without labelled keypoints are crowd regions, as the detector recipe validates).

Outputs: ``<out>/results.json`` and ``results.md`` (a markdown table with the command; ``--quick``:
``results_quick.*``), default ``benchmarks/results/topdown_e2e/<pose>__<detector>/``. Nothing is written into
BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from kdpose.utils.entry import guarded, require_at_least

REPO = Path(__file__).resolve().parents[1]
# preset -> (the recipe whose val split is the image set, whether unlabelled people are ignore regions for box AP)
PRESETS = {"standard": ("configs/cspnext-m_udp_synth-standard.yaml", True)}
QUICK_IMAGES = 4
POSE_METRICS = ("AP", "AP50", "AP75", "APM", "APL", "AR")
BOX_METRICS = ("AP", "AP50", "AP75", "APS", "APM", "APL", "AR1", "AR10", "AR")
DEFAULT_BBOX_THR = 0.01  # kdpose.detection.evaluate.EVAL_POST: the detector's own validation


def val_split(preset: str, images: int, cache_dir: Path) -> tuple[Path, Path]:
    """(annotation file, image folder) of scenes 0..images-1 of the preset's val split, rendered into ``cache_dir``
    if missing (the recipe's own split, and cache folder, when ``images`` is its size)."""
    from kdpose.engine.config import load_recipe
    from kdpose.tasks.synthetic import resolve_split

    cfg = load_recipe(REPO / PRESETS[preset][0])
    cfg.data.cache_dir = str(cache_dir)
    cfg.data.workers = 1  # one rendering process
    cfg.data.val.synthetic_images = int(images)
    ann, root = resolve_split(cfg.data, cfg.data.val, "val")
    return Path(ann), Path(root)


def build_detector(spec: str, bbox_thr: float, max_det: int):
    """A detector callable with its own score cut at ``bbox_thr``: a shipped kdpose tag, a built-in name with
    weights, a ``.safetensors`` / ``.onnx`` file (kdpose's ``PersonDetector``, at most ``max_det`` boxes), or an
    official tag (its NMS and box count are in the graph)."""
    from kdpose.detection import PersonDetector
    from kdpose.inference.detectors import OFFICIAL_DETECTORS, resolve_detector

    if spec in OFFICIAL_DETECTORS:
        return resolve_detector(spec, score_thr=bbox_thr)
    return PersonDetector(spec, score_thr=bbox_thr, max_det=max_det)


def detect(detector, images, batch: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image, (boxes (N, 4) xyxy, scores (N,)) of ``detector`` (batched where it can)."""
    from kdpose.inference.detectors import run_detector

    if hasattr(detector, "predict"):
        out = []
        for start in range(0, len(images), batch):
            out += detector.predict(list(images[start:start + batch]))
        return [(np.asarray(b, np.float32).reshape(-1, 4), np.asarray(s, np.float32).reshape(-1)) for b, s in out]
    return [run_detector(detector, image) for image in images]


def pose_on_detections(estimator, images, image_ids, detections, images_per_call: int = 4) -> list[dict]:
    """COCO keypoint results of the pose model on the detected boxes (one pose per box, OKS-NMS, rescored)."""
    results = []
    for start in range(0, len(images), images_per_call):
        part = slice(start, start + images_per_call)
        dets = detections[part]
        poses = estimator.predict_boxes(images[part], [d[0] for d in dets], [d[1] for d in dets],
                                        caller_boxes=False, nms=True)
        for image_id, res in zip(image_ids[part], poses):
            for kpts, scores, inst in zip(res.keypoints, res.scores, res.instance_scores):
                triplets = np.concatenate([kpts, scores[:, None]], -1)
                results.append({"image_id": int(image_id), "category_id": 1, "score": float(inst),
                                "keypoints": [round(float(v), 3) for v in triplets.reshape(-1)]})
    return results


def subset_gt(ann: Path, image_ids: list[int]) -> dict:
    """The annotation file's images, annotations and categories of ``image_ids``."""
    from kdpose.data.jsonfile import load_json

    data, keep = load_json(str(ann)), set(image_ids)
    return {"images": [im for im in data["images"] if im["id"] in keep],
            "annotations": [a for a in data["annotations"] if a["image_id"] in keep],
            "categories": data.get("categories", [])}


def run(pose: str, detector: str, images: int, preset: str, cache_dir: Path, bbox_thr: float = DEFAULT_BBOX_THR,
        max_det: int = 100, flip: bool = False, threads: int = 1) -> dict:
    """Measure (see the module doc); returns the results dict."""
    import torch

    from kdpose.detection.data import CachedScenes, coco_detection_gt
    from kdpose.detection.evaluate import coco_bbox_eval, to_bbox_results
    from kdpose.inference import PoseEstimator
    from kdpose.layouts import get_layout
    from kdpose.models import load_model
    from kdpose.tasks.accuracy import score_estimator
    from kdpose.valset import load_val_set

    torch.set_num_threads(threads)
    clock = {"start": time.perf_counter()}
    ann, root = val_split(preset, images, cache_dir)
    scenes = CachedScenes(ann, root)
    all_images = [scenes.image(i) for i in range(len(scenes))]
    targets = [scenes.targets(i) for i in range(len(scenes))]
    image_ids = [t.image_id for t in targets]
    clock["data_s"] = time.perf_counter() - clock["start"]

    model = load_model(pose)
    estimator = PoseEstimator(model, flip_test=flip, nms_thr=0.9, bbox_thr=bbox_thr, threads=threads)
    layout = get_layout(model.info.layout)
    with torch.no_grad():
        t0 = time.perf_counter()
        val = load_val_set(ann, layout.name, image_root=root)  # the labelled people and their boxes
        gt_metrics = score_estimator(estimator, val, images_per_call=4)
        clock["pose_gt_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        det = build_detector(detector, bbox_thr, max_det)
        detections = detect(det, all_images)
        clock["detector_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        results = pose_on_detections(estimator, all_images, image_ids, detections)
        clock["pose_det_s"] = time.perf_counter() - t0
    e2e = layout.evaluate(subset_gt(ann, image_ids), results)
    ignore = PRESETS[preset][1]
    box = coco_bbox_eval(coco_detection_gt(targets, ignore_unlabelled=ignore), to_bbox_results(image_ids, detections))
    clock["total_s"] = time.perf_counter() - clock["start"]
    labelled = int(sum(1 for t in targets for u in t.unlabelled if not u))
    return {
        "pose": pose, "detector": detector, "preset": preset, "images": len(all_images),
        "people": {"labelled": labelled, "unlabelled": int(sum(int(t.unlabelled.sum()) for t in targets))},
        "ground_truth_boxes": {**{k: float(gt_metrics[k]) for k in POSE_METRICS}, "PCK@0.2": gt_metrics["PCK@0.2"],
                               "poses": int(gt_metrics["people"])},
        "detected_boxes": {**{k: float(e2e[k]) for k in POSE_METRICS}, "poses": len(results)},
        "detector_box_ap": {**{k: float(box[k]) for k in BOX_METRICS},
                            "boxes": int(sum(len(d[1]) for d in detections)), "ignore_unlabelled": ignore},
        "protocol": {"bbox_thr": bbox_thr, "max_det": max_det, "flip_test": flip, "oks_nms": 0.9,
                     "rescore_thr": 0.2, "ground_truth": "kdpose.tasks.accuracy.score_estimator (no NMS)",
                     "split": f"{PRESETS[preset][0]} data.val, scenes 0..{len(all_images) - 1}",
                     "annotations": str(ann)},
        "seconds": {k: round(v, 1) for k, v in clock.items() if k != "start"},
        "threads": threads,
    }


def machine() -> dict:
    from kdpose.engine.precision import available_cores
    from kdpose.export.peaks import cpu_report

    return {"cpu": cpu_report()["cpu"], "cores": available_cores()}


def markdown(result: dict) -> str:
    """The table (pose AP with ground-truth vs detected boxes, and the detector's box AP) and the command."""
    gt, dt, box = result["ground_truth_boxes"], result["detected_boxes"], result["detector_box_ap"]
    rule = "people without labelled keypoints ignored" if box["ignore_unlabelled"] else "every person a box"
    lines = [f"Pose `{result['pose']}`, detector `{result['detector']}`: {result['images']} `{result['preset']}` val "
             f"images ({result['people']['labelled']} labelled people, {result['people']['unlabelled']} "
             f"unlabelled){' (--quick: the numbers mean nothing)' if result.get('quick') else ''}.", "",
             "| person boxes | AP | AP50 | AP75 | APM | APL | AR | poses scored |", "|---|---|---|---|---|---|---|---|",
             "| ground truth | " + " | ".join(f"{gt[k]:.3f}" for k in POSE_METRICS) + f" | {gt['poses']} |",
             f"| detected (`{result['detector']}`) | " + " | ".join(f"{dt[k]:.3f}" for k in POSE_METRICS)
             + f" | {dt['poses']} |", "",
             f"Detector box AP on the same images (pycocotools bbox, {rule}; {box['boxes']} boxes at score >= "
             f"{result['protocol']['bbox_thr']:g}): AP {box['AP']:.3f}, AP50 {box['AP50']:.3f}, AP75 "
             f"{box['AP75']:.3f}, AR {box['AR']:.3f}.", "",
             f"Ground-truth boxes: one pose per labelled person, no NMS; detected boxes: OKS-NMS 0.9, score = box "
             f"score x mean keypoint score > 0.2; flip test {'on' if result['protocol']['flip_test'] else 'off'}. "
             f"{result['seconds']['total_s']:.0f} s on {result['machine']['cpu']} ({result['threads']} thread(s)).",
             "", "```bash", result["command"], "```", ""]
    return "\n".join(lines)


def check_inputs(args: argparse.Namespace) -> None:
    """The pose model, the detector and the output folders, checked before the val split is rendered and scored:
    an unknown name or a missing file is a one-line error now, not after minutes of work."""
    from kdpose.models import PRETRAINED, model_task
    from kdpose.utils.io import check_output_dir

    name = PRETRAINED[args.pose].model if "." in args.pose else args.pose  # UnknownNameError with the close tags
    if model_task(name) != "topdown":  # UnknownNameError for an unknown zoo name
        from kdpose.errors import ConfigError

        raise ConfigError(f"--pose {args.pose}: a {model_task(name)} model; give a top-down pose model's tag")
    build_detector(args.detector, args.bbox_thr, args.max_det)  # unknown tag, missing or unreadable file
    check_output_dir(args.cache_dir, "--cache-dir")
    if args.out is not None:
        check_output_dir(args.out, "--out")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pose", required=True, help="pretrained tag of a top-down pose model")
    parser.add_argument("--detector", required=True, help="shipped detector tag, built-in .safetensors / .onnx "
                        "file, or official detector tag")
    parser.add_argument("--images", type=int, default=500, help="scenes 0..N-1 of the val split (default 500)")
    parser.add_argument("--preset", default="standard", choices=sorted(PRESETS))
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_IMAGES} images: a pipeline smoke test")
    parser.add_argument("--bbox-thr", type=float, default=DEFAULT_BBOX_THR,
                        help="detector score cut (default %(default)s: the detector's validation)")
    parser.add_argument("--max-det", type=int, default=100, help="boxes per image at most (default 100)")
    parser.add_argument("--flip", action="store_true", help="flip test of the pose model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".kdpose_cache" / "synth",
                        help="where the rendered val split is (default: the recipes' cache)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder of results.json / results.md (default benchmarks/results/topdown_e2e/<pose>__"
                             "<detector>)")
    args = parser.parse_args(argv)
    images = QUICK_IMAGES if args.quick else args.images
    require_at_least(parser, args, images=1, max_det=1, threads=1)
    if not 0 <= args.bbox_thr < 1:
        parser.error(f"--bbox-thr must be a score in [0, 1), got {args.bbox_thr}")
    check_inputs(args)
    result = run(args.pose, args.detector, images, args.preset, args.cache_dir, args.bbox_thr, args.max_det,
                 args.flip, args.threads)
    result.update(quick=args.quick, machine=machine(),
                  command=shlex.join(["python", "benchmarks/topdown_e2e.py", *(argv if argv is not None
                                                                                else sys.argv[1:])]))
    out = args.out or REPO / "benchmarks" / "results" / "topdown_e2e" / f"{args.pose}__{Path(args.detector).stem}"
    out.mkdir(parents=True, exist_ok=True)
    stem = "results_quick" if args.quick else "results"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (out / f"{stem}.md").write_text(text)
    print(text)
    print(f"wrote {out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
