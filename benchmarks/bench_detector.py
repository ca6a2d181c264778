"""Built-in person detector benchmarks: speed per size and input, and a (short) training curve.

Speed: parameters, PyTorch and onnxruntime latency of one image (letterbox + network + decode + NMS, the whole
``PersonDetector`` call) per size (nano, tiny) and input (320, 416, 640), on ``--threads`` CPU threads.

Eval: COCO bbox AP of trained weights on more synthetic val scenes than a recipe validates on during training
(640x480, generator defaults, up to ``--max-people``), at one or more input sizes.

Curve: train a detector recipe (``kdpose.tasks.train``, the code behind ``kdpose train configs/detector_*.yaml``) with
``--set`` overrides and print its validation curve (COCO bbox AP of the synthetic val scenes) from ``log.jsonl``.

Examples:
    .venv/bin/python benchmarks/bench_detector.py speed --threads 1
    .venv/bin/python benchmarks/bench_detector.py eval work_dirs/det_tiny_pre/final.safetensors --images 300 \\
        --inputs 320 416
    .venv/bin/python benchmarks/bench_detector.py curve configs/detector_tiny.yaml \\
        --work-dir work_dirs/det_tiny_short \\
        --set model.input_size=[320,320] --set data.batch_size=8 --set data.workers=1 --set train.threads=1 \\
        --set train.epoch_iters=30 --set train.max_epochs=4 --set eval.interval=1 --set data.val.synthetic_images=60 \\
        --set schedule.warmup_iters=30 --set train.device=cpu
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


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


def bench_eval(weights: list[str], images: int, inputs: list[int], max_people: int, seed: int) -> None:
    import torch

    from kdpose.data.synth import SynthConfig
    from kdpose.detection.data import render_eval_set
    from kdpose.detection.detector import load_detector_model
    from kdpose.detection.evaluate import DetectionEvaluator

    torch.set_num_threads(1)
    eval_set = render_eval_set(SynthConfig(width=640, height=480, layout="coco", max_people=max_people), images, seed)
    people = len(eval_set.coco_gt["annotations"])
    print(f"{images} synthetic val scenes (seed {seed}, up to {max_people} people), {people} people")
    names = ("AP", "AP50", "AP75", "APS", "APM", "APL", "AR")
    print("| weights | input | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for path in weights:
        for side in inputs:
            model = load_detector_model(path, input_size=(side, side))
            m = DetectionEvaluator(eval_set)(model, torch.device("cpu"))
            print(f"| `{path}` | {side}x{side} | " + " | ".join(f"{m[k]:.3f}" for k in names) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("speed", help="latency per size and input")
    s.add_argument("--sizes", nargs="+", default=["nano", "tiny"])
    s.add_argument("--inputs", nargs="+", type=int, default=[320, 416, 640])
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--repeats", type=int, default=10)
    e = sub.add_parser("eval", help="box AP of trained weights on N synthetic val scenes, per input size")
    e.add_argument("weights", nargs="+")
    e.add_argument("--images", type=int, default=300)
    e.add_argument("--inputs", nargs="+", type=int, default=[320])
    e.add_argument("--max-people", type=int, default=6)
    e.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("curve", help="train a recipe and print its validation curve")
    c.add_argument("recipe")
    c.add_argument("--work-dir", required=True)
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    if args.mode == "speed":
        bench_speed(args.sizes, args.inputs, args.threads, args.repeats)
    elif args.mode == "eval":
        bench_eval(args.weights, args.images, args.inputs, args.max_people, args.seed)
    else:
        bench_curve(args.recipe, args.work_dir, args.overrides)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
