"""Training throughput of the real engine: samples/s and the share of time spent waiting for data.

Runs the Trainer of ``configs/rtmpose-t_synth-body.yaml`` (real synthetic images on disk, RTMPose's strong
augmentation, DataLoader workers, AdamW, EMA) for a few iterations per model and reads the engine's own timing
from ``log.jsonl``: ``data_time`` (waiting for the next batch) and ``step_time`` (forward, backward, optimiser and
EMA). The first ``--warmup`` iterations (worker start-up, allocator warm-up) are not counted.

Example:
    .venv/bin/python benchmarks/bench_train.py --models rtmpose-t rtmpose-m --batch 32 --iters 8 --workers 2
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from kdpose.utils.entry import guarded, require_at_least

REPO = Path(__file__).resolve().parents[1]


def measure(model: str, args: argparse.Namespace, cache_dir: str) -> dict:
    from kdpose.engine.config import load_recipe
    from kdpose.tasks import train

    w, h = args.input
    cfg = load_recipe(REPO / "configs" / "rtmpose-t_synth-body.yaml", [
        f"model.name={model}", f"model.input_size=[{w}, {h}]", f"data.batch_size={args.batch}",
        f"data.workers={args.workers}", f"data.cache_dir={cache_dir}", f"data.train.synthetic_images={args.images}",
        "eval.interval=0", "train.max_epochs=1", f"train.epoch_iters={args.warmup + args.iters}",
        f"train.log_interval={max(1, args.warmup)}", "train.device=cpu", "train.checkpoint_interval_iters=0"])
    with tempfile.TemporaryDirectory() as work:
        t0 = time.perf_counter()
        train(cfg, work)
        wall = time.perf_counter() - t0
        records = [json.loads(line) for line in (Path(work) / "log.jsonl").read_text().splitlines()]
    measured = [r for r in records if r["kind"] == "train" and r["iter"] > args.warmup]
    n = args.iters
    data = sum(r["data_time"] for r in measured) / len(measured)
    step = sum(r["step_time"] for r in measured) / len(measured)
    return {
        "model": model, "input": f"{w}x{h}", "batch": args.batch, "workers": args.workers, "iters": n,
        "samples_per_s": args.batch / (data + step), "step_s": step, "data_wait_s": data,
        "data_share": data / (data + step), "wall_s": wall,
    }


def input_size(text: str) -> tuple[int, int]:
    """``--input``'s WxH (192x256) as (w, h); argparse reports anything else as a usage error."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"must look like WxH (e.g. 192x256), got '{text}'")
    return int(parts[0]), int(parts[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["rtmpose-t", "rtmpose-m"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iters", type=int, default=8, help="measured iterations per model")
    p.add_argument("--warmup", type=int, default=2, help="iterations not counted")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads of the training process")
    p.add_argument("--input", type=input_size, default=(192, 256),
                   help="model input WxH (default 192x256)")
    p.add_argument("--images", type=int, default=200, help="synthetic training images to render (cached)")
    p.add_argument("--cache-dir", default=str(REPO / ".kdpose_cache" / "synth"))
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    require_at_least(p, args, batch=1, iters=1, warmup=0, workers=0, threads=1, images=1)
    from kdpose.models import MODELS

    for name in args.models:  # an unknown name: UnknownNameError with the close names, before the first model trains
        MODELS.get(name)
    if args.out:
        from kdpose.utils.io import check_output_file

        check_output_file(args.out, "--out", "train.json")
    torch.set_num_threads(args.threads)
    rows = [measure(m, args, args.cache_dir) for m in args.models]
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
          f"{args.workers} workers")
    print("| model | input | batch | samples/s | step s | data wait s | data share |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['input']} | {r['batch']} | {r['samples_per_s']:.1f} | {r['step_s']:.2f} | "
              f"{r['data_wait_s']:.2f} | {100 * r['data_share']:.0f}% |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
