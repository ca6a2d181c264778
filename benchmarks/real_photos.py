"""The shipped synthetic-trained pose weights on real photos: every weight file kdpose ships that holds a whole top-down
network with the COCO layout (backbone-only files, the depth models and the person detector are left out) runs on
the real COCO fixture images with their ground-truth boxes, and kdpose's COCO evaluation (pycocotools) scores it.
Prints a markdown table: AP, AP50 and AR on the photos next to the AP of the tag's own synthetic accuracy check.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/real_photos.py --threads 1

The protocol is the one of ``kdpose infer IMAGES --bboxes test_coco.json --json`` followed by ``kdpose eval``: the
boxes training validation crops from each annotation, one pose per box, OKS-NMS 0.9, rescored instances.

4 images with 12 posed people (``shared/fixtures/coco``) are a smoke-sized sample: an indication that the weights do
not transfer from synthetic scenes to photos, not a benchmark. The shipped weights are for the synthetic scenes and
the distillation benchmarks; for real photos load the official checkpoints (README, "Official checkpoints"; tags
like ``rtmpose-m.body7_256x192``).

CrowdPose (``shared/fixtures/crowdpose``) is not measured: its 14 keypoints include top of head and neck, which
COCO-17 has no keypoint for, and kdpose has no COCO -> CrowdPose mapping, so a COCO-layout model cannot be scored
with ``kdpose eval --layout crowdpose`` without inventing one.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the real data files: $KDPOSE_FIXTURES (as the tests read it) or ../shared/fixtures beside the repository
DEFAULT_FIXTURES = Path(os.environ.get("KDPOSE_FIXTURES") or REPO.parent / "shared" / "fixtures") / "coco"
GT_NAME = "test_coco.json"
NMS_THR = 0.9  # training validation's OKS-NMS threshold (eval.nms_thr), which `kdpose infer --nms auto` applies
HEADER = ("| tag | training data | AP (real) | AP50 (real) | AR (real) | synthetic val AP |\n"
          "|---|---|---|---|---|---|")


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES,
                        help=f"folder with the COCO images and {GT_NAME} (default: {DEFAULT_FIXTURES})")
    parser.add_argument("--tags", nargs="+", help="tags to run (default: every shipped top-down COCO tag)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the model (default 1)")
    args = parser.parse_args(argv)
    gt = args.fixtures / GT_NAME
    images = sorted(args.fixtures.glob("*.jpg"))
    rows = []
    for tag in args.tags or shipped_pose_tags():
        metrics = evaluate(gt, predict(tag, images, gt, args.threads))
        print(f"{tag}: AP {metrics['AP']:.4f} AP50 {metrics['AP50']:.4f} AR {metrics['AR']:.4f}", file=sys.stderr)
        rows.append(table_row(tag, metrics))
    print("\n".join([HEADER, *rows]))


if __name__ == "__main__":
    main()
