"""``kdpose synth``: write a synthetic multi-person pose dataset (RGB or depth) in COCO / COCO-WholeBody format."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

NAME = "synth"
HELP = "generate a synthetic multi-person pose dataset (RGB or depth, COCO-17 or whole-body-133) in COCO format"

EPILOG = """\
Writes OUT/person_keypoints_SPLIT.json (coco) or OUT/coco_wholebody_SPLIT.json (wholebody), the images in
OUT/SPLIT/ (JPEG/PNG, or 16-bit PNG depth in millimetres) and the silhouettes in OUT/SPLIT_masks/. The same
--seed and settings give byte-identical files whatever --workers is; train and val use separate seed streams.
--preset picks the difficulty: hard (default: small far people, crowds, occluders, truncation, extreme poses,
every heading) or standard (built like COCO: people facing the camera mostly, few occluders, small or hardly
visible people left unlabelled). Single knobs (--occlusion, ...) override the preset.
A split is written whole: rendered into a hidden folder in OUT, then moved in (the JSON last), so a killed run
changes nothing. A split already in OUT with other settings, the other --layout's JSON of the split (both layouts
use OUT/SPLIT/), or files no JSON lists are refused before rendering: --overwrite replaces the split whole
(images, silhouettes and its JSON of either layout); the same command again rewrites it. Other splits are kept.

Examples:
  kdpose synth --out data/synth --images 20000 --layout coco --workers 2
  kdpose synth --out data/synth --images 1000 --split val --seed 0
  kdpose synth --out data/standard --images 500 --split val --preset standard
  kdpose synth --out data/synth_wb --images 5000 --layout wholebody --size 640x480
  kdpose synth --out data/synth_depth --images 5000 --modality depth --size 444x368
  kdpose synth --out data/easy --images 500 --occlusion 0.1 --crowding 0.2 --truncation 0 --extremity 0.2
  kdpose synth --out data/user_bg --images 500 --backgrounds ~/pictures/rooms
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--images", type=int, required=True, help="number of images to render")
    parser.add_argument("--layout", default="coco", help="coco (17 keypoints) or wholebody (133); default coco")
    parser.add_argument("--modality", default="rgb", help="rgb or depth (default rgb)")
    parser.add_argument("--size", default="640x480", help="image size WxH (default 640x480)")
    parser.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    parser.add_argument("--split", default="train", help="train, val or test (default train)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--min-people", type=int, default=1, help="fewest people per image (default 1)")
    parser.add_argument("--max-people", type=int, default=4, help="most people per image (default 4)")
    parser.add_argument("--preset", default="hard", help="named difficulty settings: hard (default) or standard")
    parser.add_argument("--distance", help="person distance range in metres NEAR,FAR (hard: 1.3,24 RGB, "
                                           "1.0,7.0 depth; standard: 1.5,12)")
    parser.add_argument("--occlusion", type=float, help="occlusion knob in [0, 1] (hard 0.5, standard 0.15)")
    parser.add_argument("--crowding", type=float, help="crowding knob in [0, 1] (hard 0.5, standard 0.3)")
    parser.add_argument("--truncation", type=float, help="border truncation probability (hard 0.25, standard 0.1)")
    parser.add_argument("--extremity", type=float, help="pose extremity in [0, 1] (hard 0.5, standard 0.3)")
    parser.add_argument("--heading", type=float,
                        help="share of people facing any direction; the rest face the camera (hard 1, standard 0.3)")
    parser.add_argument("--clutter", type=int, help="most clutter objects per image (hard 6, standard 4)")
    parser.add_argument("--format", default="jpg", choices=["jpg", "png"], help="RGB image format (default jpg)")
    parser.add_argument("--backgrounds", help="folder of background images to use instead of procedural ones")
    parser.add_argument("--dropout", type=float,
                        help="depth: probability of the paper's 20%% silhouette pixel dropout per image (0.5)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the split in OUT whole when it holds another dataset (see below)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _distance(text: str | None) -> tuple[float, float] | None:
    from kdpose.errors import ConfigError

    if text is None:
        return None
    try:
        near, far = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"synth: bad --distance '{text}' (expected NEAR,FAR in metres, e.g. 1.5,20)") from None
    return near, far


def run(args: argparse.Namespace) -> int:
    from kdpose.data.synth import SynthConfig, parse_size, write_coco_dataset
    from kdpose.errors import ConfigError

    if args.images < 1:
        # 0 used to write an empty split (and overwrite an existing one of the same name): never what a user wants
        raise ConfigError(f"synth: --images must be >= 1, got {args.images}")
    width, height = parse_size(args.size)
    knobs = {"distance_range": _distance(args.distance), "occlusion": args.occlusion, "crowding": args.crowding,
             "truncation": args.truncation, "pose_extremity": args.extremity, "heading": args.heading,
             "clutter": args.clutter, "dropout_prob": args.dropout}
    cfg = SynthConfig.from_preset(
        args.preset, width=width, height=height, layout=args.layout, modality=args.modality,
        min_people=args.min_people, max_people=args.max_people, background_dir=args.backgrounds,
        image_format=args.format, **{k: v for k, v in knobs.items() if v is not None})
    start = time.perf_counter()
    path = write_coco_dataset(args.out, cfg, args.images, seed=args.seed, split=args.split, workers=args.workers,
                              progress=not args.no_progress, overwrite=args.overwrite)
    seconds = time.perf_counter() - start
    rate = args.images / seconds if seconds > 0 else 0.0
    # images that failed to render are skipped (reported above, listed in the JSON): count what was written ("wrote
    # 2 images" was printed, exit 0, of a split whose every image failed)
    skipped = len(json.loads(Path(path).read_text())["info"].get("skipped_images", []))
    note = f", {skipped} failed to render (listed in its info.skipped_images)" if skipped else ""
    print(f"wrote {args.images - skipped} images and {path} in {seconds:.1f} s ({rate:.1f} images/s){note}")
    return 1 if skipped and skipped == args.images else 0
