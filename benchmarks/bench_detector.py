"""Built-in person detector benchmarks: speed per size and input, and a (short) training curve.

Speed: parameters, PyTorch and onnxruntime latency of one image (letterbox + network + decode + NMS, the whole
``PersonDetector`` call) per size (nano, tiny) and input (320, 416, 640), on ``--threads`` CPU threads.

Eval: COCO bbox AP of trained weights on a detector recipe's val split, exactly as its trainer validates and as
``python -m kdpose.tasks.accuracy TAG --recipe RECIPE`` measures (the recipe's scenes: preset, size, seed, people,
``cache_scenes`` folder; its ``ignore_unlabelled`` rule: people without labelled keypoints are crowd regions; the
detector validation's scorer), so its numbers are the trainer's. ``--images`` / ``--seed`` / ``--max-people`` /
``--set`` change that split (more scenes than training validates on: with ``cache_scenes`` they are rendered once
into the recipe's ``data.cache_dir``), ``--inputs`` the input sizes (default the recipe's).

Curve: train a detector recipe (``kdpose.tasks.train``, the code behind ``kdpose train configs/detector_*.yaml``) with
``--set`` overrides and print its validation curve (COCO bbox AP of the synthetic val scenes) from ``log.jsonl``.

Examples:
    .venv/bin/python benchmarks/bench_detector.py speed --threads 1
    .venv/bin/python benchmarks/bench_detector.py eval work_dirs/det_tiny_pre/final.safetensors \\
        --recipe configs/detector_tiny.yaml --images 300 --inputs 320 416
    .venv/bin/python benchmarks/bench_detector.py curve configs/detector_tiny.yaml \\
        --work-dir work_dirs/det_tiny_short \\
        --set model.input_size=[320,320] --set data.batch_size=8 --set data.workers=1 --set train.threads=1 \\
        --set train.epoch_iters=30 --set train.max_epochs=4 --set eval.interval=1 --set data.val.synthetic_images=60 \\
        --set schedule.warmup_iters=30 --set train.device=cpu
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kdpose.utils.entry import guarded, require_at_least


def bench_speed(sizes: list[str], inputs: list[int], threads: int, repeats: int) -> None:
    import torch

    from kdpose.detection import PersonDetector
    from kdpose.models.person_detector import PersonDetectorModel
    from kdpose.export import export_onnx

    torch.set_num_threads(threads)
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    print(f"| size | input | params (M) | torch ms | onnxruntime ms |   ({threads} thread(s), 640x480 image, "
          f"median of {repeats})")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for side in inputs:
                torch.manual_seed(0)
                model = PersonDetectorModel(size, (side, side)).eval()
                params = sum(p.numel() for p in model.parameters()) / 1e6
                path = export_onnx(model, Path(tmp) / f"{size}_{side}.onnx")
                row = []
                for det in (PersonDetector(model), PersonDetector(str(path), threads=threads)):
                    det(image)  # warm-up
                    times = []
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        det(image)
                        times.append((time.perf_counter() - t0) * 1000)
                    row.append(statistics.median(times))
                print(f"| {size} | {side}x{side} | {params:.2f} | {row[0]:.1f} | {row[1]:.1f} |")


def bench_curve(recipe: str, work_dir: str, overrides: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from learning_curve import read_curve

    from kdpose.engine.config import load_recipe
    from kdpose.tasks import train

    cfg = load_recipe(recipe, overrides)
    cfg.work_dir = work_dir
    t0 = time.perf_counter()
    train(cfg, work_dir)
    minutes = (time.perf_counter() - t0) / 60
    val, train = read_curve(Path(work_dir), "AP")
    print(f"recipe {recipe} {' '.join('--set ' + o for o in overrides)}: {minutes:.1f} min")
    print("| epoch | iteration | minutes | train loss | AP | AP50 | AR |")
    print("|---|---|---|---|---|---|---|")
    for r in val:
        before = [t["loss"] for t in train if t["iter"] <= r["iter"]]
        loss = before[-1] if before else float("nan")
        print(f"| {r['epoch']} | {r['iter']} | {r['elapsed_min']:.1f} | {loss:.3f} | {r['AP']:.3f} | "
              f"{r['AP50']:.3f} | {r['AR']:.3f} |")


def val_overrides(images: int | None, seed: int | None, max_people: int | None) -> list[str]:
    """``--set`` overrides of the recipe's val split for the options given (None: the recipe's own value)."""
    values = {"synthetic_images": images, "synthetic_seed": seed, "synthetic_max_people": max_people}
    return [f"data.val.{key}={value}" for key, value in values.items() if value is not None]


def recipe_eval_set(recipe: str, overrides: list[str]):
    """(recipe, its task settings, its val split as the trainer's detector validation builds it):
    ``DetectionKind.eval_set``, the call the trainer and ``kdpose.tasks.accuracy --recipe`` make, so the scenes and
    the ignore rule cannot drift apart from theirs (an earlier version rendered its own scenes, without the rule)."""
    from kdpose.engine.config import load_recipe
    from kdpose.errors import ConfigError
    from kdpose.tasks.base import get_task

    cfg = load_recipe(recipe, overrides)
    kind = get_task(cfg)
    if kind.name != "detection":
        raise ConfigError(f"{recipe}: a {kind.name} recipe; bench_detector.py eval needs a person-detector recipe")
    return cfg, kind.settings(cfg), kind.eval_set(cfg)


def bench_eval(weights: list[str], recipe: str, overrides: list[str], inputs: list[int] | None) -> list[dict]:
    """Box AP of each weights file at each input size on the recipe's val split; the rows, also printed."""
    import torch

    from kdpose.detection.detector import load_detector_model
    from kdpose.tasks.accuracy import DETECTION_METRICS, measure_detection

    torch.set_num_threads(1)
    cfg, settings, eval_set = recipe_eval_set(recipe, overrides)
    val, ignore = cfg.data.val, bool(settings["ignore_unlabelled"])
    sizes = [(side, side) for side in inputs] if inputs else [tuple(cfg.model.input_size)]
    people = sum(1 for a in eval_set.coco_gt["annotations"] if not a.get("iscrowd", 0))
    print(f"val split of {recipe}: {val.synthetic_images} scenes ({val.synthetic_preset or 'hard'} preset, seed "
          f"{val.synthetic_seed}, up to {val.synthetic_max_people} people), {people} people to find"
          + (", people without labelled keypoints ignored" if ignore else ""))
    print("| weights | input | " + " | ".join(DETECTION_METRICS) + " |")
    print("|---|---|" + "---|" * len(DETECTION_METRICS))
    rows = []
    for path in weights:
        for size in sizes:
            model = load_detector_model(path, input_size=size)
            with torch.no_grad():
                m = measure_detection(model, eval_set)
            rows.append({"weights": path, "input": list(size), **m})
            print(f"| `{path}` | {size[0]}x{size[1]} | " + " | ".join(f"{m[k]:.3f}" for k in DETECTION_METRICS)
                  + " |", flush=True)
    return rows


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a bad value before any work: usage errors through ``parser.error``, unknown names and missing files as
    kdpose's one-line errors (the speed and eval loops would meet them only after timing the earlier values)."""
    from kdpose.errors import CheckpointError, UnknownNameError
    from kdpose.utils.io import check_output_file

    if args.mode in ("speed", "eval"):
        sides = [s for s in args.inputs or [] if s <= 0 or s % 32]
        if sides:
            parser.error(f"--inputs must be positive multiples of 32 (the detector's largest stride), got {sides[0]}")
    if args.mode == "speed":
        from kdpose.models.person_detector import SIZES

        require_at_least(parser, args, threads=1, repeats=1)
        unknown = [s for s in args.sizes if s not in SIZES]
        if unknown:
            raise UnknownNameError(f"--sizes: unknown detector size '{unknown[0]}' (available: {', '.join(SIZES)})")
    elif args.mode == "eval":
        require_at_least(parser, args, images=1, max_people=1)
        for path in map(Path, args.weights):  # as load_detector_model says it, before the first file is scored
            if not path.is_file():
                raise CheckpointError(f"{path}: " + ("a directory, not a weights file" if path.is_dir()
                                                     else "no such weights file"))
        if args.out:
            check_output_file(args.out, "--out", "rows.json")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("speed", help="latency per size and input")
    s.add_argument("--sizes", nargs="+", default=["nano", "tiny"])
    s.add_argument("--inputs", nargs="+", type=int, default=[320, 416, 640])
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--repeats", type=int, default=10)
    e = sub.add_parser("eval", help="box AP of trained weights on a detector recipe's val split, per input size")
    e.add_argument("weights", nargs="+")
    e.add_argument("--recipe", required=True, help="the detector recipe whose val split and ignore rule score it "
                                                   "(e.g. configs/kdpose-det-tiny_synth-standard.yaml)")
    e.add_argument("--images", type=int, help="val scenes (default: the recipe's data.val.synthetic_images)")
    e.add_argument("--seed", type=int, help="val seed (default: the recipe's)")
    e.add_argument("--max-people", type=int, help="people per scene at most (default: the recipe's)")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="any other recipe override (e.g. data.cache_dir=/tmp/cache)")
    e.add_argument("--inputs", nargs="+", type=int, help="square input sides (default: the recipe's input size)")
    e.add_argument("--out", help="also write the rows as JSON here")
    c = sub.add_parser("curve", help="train a recipe and print its validation curve")
    c.add_argument("recipe")
    c.add_argument("--work-dir", required=True)
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    check_args(sub.choices[args.mode], args)
    if args.mode == "speed":
        bench_speed(args.sizes, args.inputs, args.threads, args.repeats)
    elif args.mode == "eval":
        overrides = args.overrides + val_overrides(args.images, args.seed, args.max_people)
        rows = bench_eval(args.weights, args.recipe, overrides, args.inputs)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    else:
        bench_curve(args.recipe, args.work_dir, args.overrides)
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
