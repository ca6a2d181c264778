"""Build the COCO-WholeBody + UBody ("ucoco") training file that the full-scale DWPose recipes train on.

MMPose's ucoco configs concatenate COCO-WholeBody train2017 with the 15 UBody scenes, each read every 10th frame
(``sample_interval=10``). This script writes that mixture as one COCO-WholeBody file (``kdpose.data.mixing``), so
the recipes read it through ``data.train.ann_file`` with ``img_dir`` = the common data root. ``--ubody-ratio R``
instead draws UBody images to make a share R of the mixture (the ratio is per image, applied after frame_step).

Expected layout (download the datasets yourself):
    <root>/coco/annotations/coco_wholebody_train_v1.0.json, <root>/coco/train2017/
    <root>/UBody/annotations/<scene>/train_annotations.json, <root>/UBody/images/

Examples:
    python benchmarks/dwpose/make_ucoco.py                        # -> data/ucoco/ucoco_train.json (concatenation)
    python benchmarks/dwpose/make_ucoco.py --ubody-ratio 0.3 --out data/ucoco/ucoco_train_r30.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

UBODY_SCENES = ("Magic_show", "Entertainment", "ConductMusic", "Online_class", "TalkShow", "Speech", "Fitness",
                "Interview", "Olympic", "TVShow", "Singing", "SignLanguage", "Movie", "LiveVlog", "VideoConference")


def main(argv: list[str] | None = None) -> int:
    from kdpose.data.mixing import CONCATENATE, AnnotationSource, write_mixed_annotations
    from kdpose.errors import DataError
    from kdpose.utils.entry import require_at_least
    from kdpose.utils.io import check_output_file

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("data"), help="common data root (the recipes' img_dir)")
    parser.add_argument("--out", type=Path, default=Path("data/ucoco/ucoco_train.json"))
    parser.add_argument("--ubody-ratio", type=float, default=CONCATENATE,
                        help="UBody's share of the mixed images in (0, 1); default -1 = all of it (MMPose)")
    parser.add_argument("--frame-step", type=int, default=10, help="keep every Nth UBody frame (MMPose: 10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    require_at_least(parser, args, frame_step=1)
    if args.ubody_ratio != CONCATENATE and not 0 < args.ubody_ratio < 1:
        parser.error(f"--ubody-ratio must be in (0, 1), or {CONCATENATE:g} for all of UBody; got {args.ubody_ratio:g}")
    if not args.root.is_dir():
        raise DataError(f"{args.root}: no such folder (--root: the data root holding coco/ and UBody/)")
    check_output_file(args.out, "--out", "ucoco_train.json")

    root = args.root
    coco = AnnotationSource(str(root / "coco/annotations/coco_wholebody_train_v1.0.json"), "coco/train2017")
    # with a set share the scenes are one pool: each scene gets the share in proportion to its size
    scenes = [AnnotationSource(str(root / f"UBody/annotations/{s}/train_annotations.json"), "UBody/images",
                               CONCATENATE, args.frame_step) for s in UBODY_SCENES]
    if args.ubody_ratio == CONCATENATE:
        taken = write_mixed_annotations(coco, scenes, args.out, seed=args.seed)
    else:
        taken = _with_share(coco, scenes, args.ubody_ratio, args.out, args.seed)
    for source, n in taken.items():
        print(f"{n:8d} images from {source}")
    print(f"wrote {args.out}")
    return 0


def _with_share(coco, scenes, ratio: float, out: Path, seed: int) -> dict[str, int]:
    """Pool the UBody scenes into one temporary file, then draw the share from the pool."""
    from kdpose.data.mixing import AnnotationSource, write_mixed_annotations

    pool = out.with_name(out.stem + "_ubody_pool.json")
    # the pool is primary-less: use the first scene as "primary" and concatenate the rest
    write_mixed_annotations(scenes[0], scenes[1:], pool, seed=seed)
    return write_mixed_annotations(coco, [AnnotationSource(str(pool), "", ratio, 1)], out, seed=seed)


if __name__ == "__main__":
    from kdpose.utils.entry import guarded

    sys.exit(guarded(main))
