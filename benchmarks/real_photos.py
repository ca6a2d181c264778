"""The shipped synthetic-trained weights on real photos, in two markdown tables.

Pose: every weight file kdpose ships that holds a whole top-down network with the COCO layout (backbone-only files,
the depth models and the person detectors are left out) runs on the real COCO fixture images with their
ground-truth boxes, and kdpose's COCO evaluation (pycocotools) scores it: AP, AP50 and AR on the photos next to the
AP of the tag's own synthetic accuracy check. The protocol is the one of ``kdpose infer IMAGES --bboxes
test_coco.json --json`` followed by ``kdpose eval``: the boxes training validation crops from each annotation, one
pose per box, OKS-NMS 0.9, rescored instances.

Person detector: every shipped person-detector tag (kdpose's own trained detectors shipped as pretrained tags, e.g.
``kdpose-det-tiny.synth-standard_320``: ``kdpose.detection.registry.shipped_detector_tags()``) runs on the whole
photos that have ground truth, the 4 COCO images (``shared/fixtures/coco/test_coco.json``, 14 person boxes: the 12
posed people and 2 without labelled keypoints, who are still people to find; iscrowd flags as the file gives them)
and the 2 CrowdPose images (``shared/fixtures/crowdpose/test_crowdpose.json``, 5 person boxes), and is scored with
COCO box AP (pycocotools, iouType bbox, the person category) as its training validation and its accuracy check
score it (``kdpose.detection.evaluate``: score >= 0.01, NMS 0.6, 100 boxes an image): AP, AP50 and AR (AR@100) per
photo set next to the box AP of the tag's synthetic accuracy check. When no detector tag is shipped, one line says
so in place of the table.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/real_photos.py --threads 1

(``--tables pose`` or ``--tables detector`` prints one of them; ``--tags`` / ``--det-tags`` pick the tags.)

4 COCO photos with 12 posed people and 6 photos with 19 person boxes are a smoke-sized sample: an indication of
how the weights transfer from synthetic scenes to photos, not a benchmark. The shipped weights are for the synthetic
scenes and the distillation benchmarks; for real photos load the official checkpoints (README, "Official
checkpoints"; tags like ``rtmpose-m.body7_256x192``, and detectors like ``rtmdet-nano.person``).

CrowdPose is not measured for pose: its 14 keypoints include top of head and neck, which COCO-17 has no keypoint
for, and kdpose has no COCO -> CrowdPose mapping, so a COCO-layout model cannot be scored with ``kdpose eval
--layout crowdpose`` without inventing one. Its person boxes need no mapping, so the detector table uses them.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from kdpose.utils.entry import guarded, require_at_least

REPO = Path(__file__).resolve().parents[1]
# the real data files: $KDPOSE_FIXTURES (as the tests read it) or ../shared/fixtures beside the repository
DEFAULT_FIXTURES = Path(os.environ.get("KDPOSE_FIXTURES") or REPO.parent / "shared" / "fixtures") / "coco"
GT_NAME = "test_coco.json"
NMS_THR = 0.9  # training validation's OKS-NMS threshold (eval.nms_thr), which `kdpose infer --nms auto` applies
HEADER = ("| tag | training data | AP (real) | AP50 (real) | AR (real) | synthetic val AP |\n"
          "|---|---|---|---|---|---|")
# the detector table: photo set -> its annotation file (in the folder of that name beside the COCO fixture folder)
DET_SETS = {"coco": GT_NAME, "crowdpose": "test_crowdpose.json"}
DET_HEADER = ("| tag | photo set | images | people | AP | AP50 | AR | synthetic val box AP |\n"
              "|---|---|---|---|---|---|---|---|")
NO_DETECTOR = ("No person-detector tag is shipped yet (kdpose.detection.registry.shipped_detector_tags() is empty): "
               "no box AP table.")
# a detector as kdpose calls one: an image (here its path) -> (boxes (N, 4) xyxy, scores (N,))
Detector = Callable[[str], tuple]


def shipped_pose_tags() -> list[str]:
    """Tags of the shipped files that hold a whole top-down network with the COCO layout."""
    from kdpose.models import PRETRAINED, list_pretrained, model_task

    return [t for t in list_pretrained() if PRETRAINED[t].asset and PRETRAINED[t].loads == "model"
            and PRETRAINED[t].layout == "coco" and model_task(PRETRAINED[t].model) == "topdown"]


def predict(tag: str, images: list[Path], gt: Path, threads: int = 1) -> list[dict]:
    """COCO keypoint results of ``tag`` on ``images``, one pose per ground-truth box of ``gt`` (an annotation file)."""
    from kdpose.inference import PoseEstimator
    from kdpose.inference.outputs import coco_records

    est = PoseEstimator(tag, detector=str(gt), threads=threads, nms_thr=NMS_THR, nms_caller_boxes=True)
    records = []
    for path in images:
        image_id = est.image_id_for(path.name, -1)
        records += coco_records(est.predict_arrays(str(path), image_id=image_id), image_id)
    return records


def evaluate(gt: Path | dict, records: list[dict]) -> dict[str, float]:
    """COCO OKS metrics (fractions), as ``kdpose eval --layout coco`` computes them."""
    from kdpose.layouts import get_layout

    return get_layout("coco").evaluate(gt, records)


def training_data(tag: str) -> str:
    from kdpose.models import PRETRAINED

    cfg = PRETRAINED[tag]
    if not cfg.synthetic:
        return "see its model card"
    return f"synthetic, `{cfg.check.preset}` preset" if cfg.check else "synthetic"


def table_row(tag: str, metrics: dict[str, float]) -> str:
    """One markdown row in percent; the synthetic val AP is the tag's accuracy check (its expected AP)."""
    from kdpose.models import PRETRAINED

    check = PRETRAINED[tag].check
    synth = f"{100 * check.expected['AP']:.1f}" if check and "AP" in check.expected else "-"
    real = " | ".join(f"{100 * metrics[k]:.1f}" for k in ("AP", "AP50", "AR"))
    return f"| `{tag}` | {training_data(tag)} | {real} | {synth} |"


# ------------------------------------------------------------------------------------------------ person detectors
def detection_gt(gt_file: Path) -> dict:
    """The person boxes of an annotation file as COCO detection ground truth: its images and their person
    annotations, every one a box to find (also those without labelled keypoints) unless the file marks it iscrowd."""
    from kdpose.data.jsonfile import load_json, require

    data = load_json(gt_file)
    require(data, ("images", "annotations"), str(gt_file), "the annotation file")
    ids = {im["id"] for im in data["images"]}
    anns = [{**a, "iscrowd": int(a.get("iscrowd", 0))} for a in data["annotations"]
            if a["image_id"] in ids and a.get("category_id", 1) == 1]
    return {"images": data["images"], "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}


def make_detector(tag: str, threads: int = 1) -> Detector:
    """The shipped detector ``tag`` with the thresholds of its validation and accuracy check (score >= 0.01, NMS
    0.6, 100 boxes an image: ``kdpose.detection.evaluate.EVAL_POST``), on ``threads`` CPU threads."""
    import torch

    from kdpose.detection import PersonDetector
    from kdpose.detection.evaluate import EVAL_POST

    torch.set_num_threads(threads)
    return PersonDetector(tag, score_thr=EVAL_POST.score_thr, iou_thr=EVAL_POST.iou_thr, max_det=EVAL_POST.max_det)


def score_detector(detector: Detector, folder: Path, gt_name: str) -> tuple[int, int, dict[str, float]]:
    """(images, people, COCO box metrics) of ``detector`` on the photos of ``folder / gt_name``: every image the file
    lists, read from ``folder``, scored as ``DetectionEvaluator`` scores (``to_bbox_results`` + ``coco_bbox_eval``);
    people: the boxes to find (not crowd)."""
    from kdpose.detection.evaluate import coco_bbox_eval, to_bbox_results

    gt = detection_gt(folder / gt_name)
    ids, detections = [], []
    for image in gt["images"]:
        path = folder / image["file_name"]
        if not path.is_file():
            raise SystemExit(f"{path}: missing (an image of {folder / gt_name})")
        ids.append(image["id"])
        detections.append(detector(str(path)))
    people = sum(1 for a in gt["annotations"] if not a["iscrowd"])
    return len(ids), people, coco_bbox_eval(gt, to_bbox_results(ids, detections))


def synthetic_box_ap(tag: str) -> float | None:
    """The box AP the tag's accuracy check expects on its synthetic val set, None where it declares none."""
    from kdpose.models import PRETRAINED

    cfg = PRETRAINED.get(tag)
    check = cfg.check if cfg is not None else None
    if check is None or check.modality != "detection":
        return None
    return check.expected.get("AP")


def _percent(value: float | None) -> str:
    return "-" if value is None or value < 0 else f"{100 * value:.1f}"  # pycocotools: -1 = undefined


def det_table_row(tag: str, photo_set: str, images: int, people: int, metrics: dict[str, float]) -> str:
    """One markdown row of the detector table, metrics in percent."""
    real = " | ".join(_percent(metrics[k]) for k in ("AP", "AP50", "AR"))
    return f"| `{tag}` | {photo_set} | {images} | {people} | {real} | {_percent(synthetic_box_ap(tag))} |"


def detector_table(tags: list[str], folders: dict[str, Path], threads: int = 1) -> str:
    """The detector table of ``tags`` on the photo sets of ``folders`` (set name -> folder), or :data:`NO_DETECTOR`."""
    if not tags:
        return NO_DETECTOR
    rows = []
    for tag in tags:
        detector = make_detector(tag, threads)
        for name, folder in folders.items():
            images, people, metrics = score_detector(detector, folder, DET_SETS[name])
            print(f"{tag} on {name}: box AP {metrics['AP']:.4f} AP50 {metrics['AP50']:.4f} AR {metrics['AR']:.4f}",
                  file=sys.stderr)
            rows.append(det_table_row(tag, name, images, people, metrics))
    return "\n".join([DET_HEADER, *rows])


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before the first model runs, a thread count below 1, an unknown tag and a photo folder without its
    annotation file (one line each, naming the option and the file)."""
    from kdpose.detection.registry import shipped_detector_tags
    from kdpose.errors import DataError
    from kdpose.models import PRETRAINED

    require_at_least(parser, args, threads=1)
    for tag in (args.tags or []) + (args.det_tags or []):
        PRETRAINED[tag]  # UnknownNameError with the close tags
    folders = {}
    if "pose" in args.tables:
        folders["--fixtures"] = (args.fixtures, GT_NAME)
    # no detector to run: the table is one line saying so, and no photo is read
    if "detector" in args.tables and (args.det_tags or shipped_detector_tags()):
        folders.setdefault("--fixtures", (args.fixtures, GT_NAME))
        folders["--crowdpose"] = (args.crowdpose or args.fixtures.parent / "crowdpose", DET_SETS["crowdpose"])
    for flag, (folder, name) in folders.items():
        if not (folder / name).is_file():
            raise DataError(f"{folder / name}: not found ({flag}: the folder with the photos and {name})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES,
                        help=f"folder with the COCO images and {GT_NAME} (default: {DEFAULT_FIXTURES})")
    parser.add_argument("--crowdpose", type=Path,
                        help=f"folder with the CrowdPose images and {DET_SETS['crowdpose']} (default: crowdpose "
                             "beside the --fixtures folder)")
    parser.add_argument("--tags", nargs="+", help="pose tags to run (default: every shipped top-down COCO tag)")
    parser.add_argument("--det-tags", nargs="+",
                        help="person-detector tags to run (default: every shipped detector tag)")
    parser.add_argument("--tables", nargs="+", choices=("pose", "detector"), default=["pose", "detector"],
                        help="which tables to print (default: both)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the model (default 1)")
    args = parser.parse_args(argv)
    check_args(parser, args)
    tables = []
    if "pose" in args.tables:
        gt = args.fixtures / GT_NAME
        images = sorted(args.fixtures.glob("*.jpg"))
        rows = []
        for tag in args.tags or shipped_pose_tags():
            metrics = evaluate(gt, predict(tag, images, gt, args.threads))
            print(f"{tag}: AP {metrics['AP']:.4f} AP50 {metrics['AP50']:.4f} AR {metrics['AR']:.4f}", file=sys.stderr)
            rows.append(table_row(tag, metrics))
        tables.append("\n".join([HEADER, *rows]))
    if "detector" in args.tables:
        from kdpose.detection.registry import shipped_detector_tags

        folders = {"coco": args.fixtures, "crowdpose": args.crowdpose or args.fixtures.parent / "crowdpose"}
        tables.append(detector_table(args.det_tags or shipped_detector_tags(), folders, args.threads))
    print("\n\n".join(tables))


if __name__ == "__main__":
    raise SystemExit(guarded(main))
