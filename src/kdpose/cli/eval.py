"""``kdpose eval``: COCO-style keypoint AP/AR of a results file against a ground-truth annotation file."""
from __future__ import annotations

import argparse

NAME = "eval"
HELP = ("COCO OKS AP/AR of keypoint predictions (COCO, COCO-WholeBody per part, CrowdPose), the depth paper's PCK "
        "precision / recall, or person-box AP")

EPILOG = """\
RESULTS.json is a list in COCO results format: {"image_id", "category_id": 1, "keypoints": [x, y, score, ...],
"score"}. Whole-body results give 133x3 "keypoints" or the split COCO-WholeBody fields (keypoints, foot_kpts,
face_kpts, lefthand_kpts, righthand_kpts; what `kdpose infer` writes, and the only form xtcocotools reads).
Values are fractions in [0, 1] as pycocotools reports them (-1 = undefined, e.g. no medium-size people). --out
writes {"AP", "AP50", ...} for coco/crowdpose and one such object per part ("body", "foot", "face", "lefthand",
"righthand", "hand", "wholebody") for wholebody.

--iou-type bbox scores person boxes instead (COCO bbox AP/AR, small / medium / large, category 1 only, so a full
COCO instances file works as --gt): RESULTS.json entries need "image_id", "bbox" [x, y, w, h] and "score". The
results that `kdpose infer` writes carry each pose's box and its detector score ("bbox_score"), which is then
used as the box's score, so one file evaluates both the poses and the boxes that found the people: the boxes
infer kept (score >= --bbox-thr, after pose NMS), so their AP is at most the detector's own (measure that with
--bbox-thr 0.01 --nms off).

Examples:
  kdpose eval --gt data/coco/person_keypoints_val2017.json --pred work/results.json
  kdpose eval --gt coco_wholebody_val_v1.0.json --pred results_wb.json --layout wholebody --out metrics.json
  kdpose eval --gt crowdpose_test.json --pred results.json --layout crowdpose
  kdpose eval --gt data/coco/instances_val2017.json --pred dets.json --iou-type bbox
  kdpose eval --gt depth/person_keypoints_val.json --pred infer_out/predictions.json --metric pck-pr   # depth models
"""



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("--gt", required=True, metavar="ANN.json", help="ground-truth COCO-style annotation file")
    parser.add_argument("--pred", required=True, metavar="RESULTS.json", help="predictions, COCO results format")
    parser.add_argument("--layout", default="coco",
                        help="keypoint layout, which picks the protocol (default coco): coco, wholebody (per part), "
                             "crowdpose (easy / medium / hard), or mpii, hand, face (OKS with their sigmas)")
    parser.add_argument("--iou-type", default="keypoints", choices=("keypoints", "bbox"),
                        help="keypoints: OKS AP of poses (default); bbox: box AP of person detections")
    parser.add_argument("--metric", default="oks", choices=("oks", "pck-pr"),
                        help="keypoints: oks = COCO OKS AP/AR (default); pck-pr = the depth paper's PCK precision / "
                             "recall (AP, AR in %%, F at the best keypoint-score threshold; bottom-up depth models)")
    parser.add_argument("--out", metavar="METRICS.json", help="also write the metrics as JSON here")


def format_table(metrics: dict) -> str:
    """Flat metrics -> one header row and one value row; per-part metrics -> one row per part."""
    nested = isinstance(next(iter(metrics.values())), dict)
    rows = metrics if nested else {"": metrics}
    names = list(next(iter(rows.values())))
    first = max([len("part")] + [len(r) for r in rows]) if nested else 0
    head = ("part".ljust(first) + "  " if nested else "") + "  ".join(f"{n:>9}" for n in names)
    lines = [head]
    for part, vals in rows.items():
        prefix = part.ljust(first) + "  " if nested else ""
        lines.append(prefix + "  ".join(f"{vals[n]:>9.4f}" for n in names))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import sys
    import warnings

    from kdpose.detection.evaluate import coco_bbox_eval
    from kdpose.layouts import get_layout
    from kdpose.utils.io import check_output_file, write_json

    if args.out:
        check_output_file(args.out, "--out")
    if args.iou_type == "bbox" and args.metric != "oks":  # was ignored: box AP printed for a PCK request
        from kdpose.errors import ConfigError

        raise ConfigError(f"--metric {args.metric} scores keypoints; --iou-type bbox gives COCO box AP (drop one)")
    layout = get_layout(args.layout)
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message="kdpose:")
        if args.iou_type == "bbox":
            metrics = coco_bbox_eval(args.gt, args.pred)
        elif args.metric == "pck-pr":
            from kdpose.evaluation.pck_pr import pck_pr_eval

            metrics = pck_pr_eval(args.gt, args.pred, layout)
        else:
            from kdpose.data.jsonfile import load_json

            gt_data = load_json(args.gt)
            if isinstance(gt_data, dict):  # (anything else: the protocol's own reader says what is wrong)
                layout.check_ground_truth_names(gt_data, args.gt)
            metrics = layout.evaluate(args.gt, args.pred)
    for w in caught:  # kdpose's own (an empty predictions file) as one line, not Python's file:line + source line
        text = str(w.message)
        if text.startswith("kdpose: "):
            print(f"kdpose: warning: {text[len('kdpose: '):]}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    parts = [m for m in metrics.values() if isinstance(m, dict)] or [metrics]  # whole-body: one dict per part
    numbers = [v for m in parts for v in m.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers and all(v == -1 for v in numbers):  # pycocotools' "no ground truth": a table of -1 and exit 0 before
        from kdpose.errors import DataError

        what = "people" if args.iou_type == "bbox" else "people with labelled keypoints"
        raise DataError(f"{args.gt}: the ground truth has no {what}, so every metric is undefined (-1); evaluate "
                        "on a file with labelled people")
    print(format_table(metrics))
    if args.out:
        write_json(args.out, metrics, indent=2)
        print(f"metrics written to {args.out}")
    return 0
