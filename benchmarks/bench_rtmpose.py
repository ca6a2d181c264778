"""Per-crop latency of RTMPose-t/s/m (body 17, 256x192) on CPU with PyTorch eager.

    .venv/bin/python benchmarks/bench_rtmpose.py [--models rtmpose-t rtmpose-s rtmpose-m] [--batches 1 32]
                                                 [--threads 1] [--repeats 20] [--json out.json]

For each model and batch size: ``torch.inference_mode`` forward of a (B, 3, 256, 192) float32 tensor (the
network only: no pre-processing or decoding), a few warm-up runs, then ``--repeats`` timed runs; the table gives
the median and the 10th/90th percentiles of (batch time / B) in milliseconds, the median process CPU time per
crop (with one thread: the cost on an unshared core), parameters, MACs
(``torch.utils.flop_counter`` FLOPs / 2) and the achieved MAC rate next to a plain fp32 matmul's rate measured at
the start (the machine's ceiling under its current load). Weights are random (seeded): latency does not depend on them.
onnxruntime rows are produced by the export benchmarks (``kdpose.export``), not here.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from kdpose.models import MODELS, create_model, model_task
from kdpose.utils.entry import guarded, require_at_least

INPUT = (192, 256)  # (w, h)


def measure(model: torch.nn.Module, batch: int, repeats: int, warmup: int = 3) -> tuple[list[float], list[float]]:
    """Per-crop wall-clock and process-CPU times (ms) of ``repeats`` timed forwards of a (batch, 3, H, W) input.
    With one thread the CPU time is what the forward costs when the core is not shared with other jobs."""
    x = torch.randn(batch, 3, INPUT[1], INPUT[0], generator=torch.Generator().manual_seed(0))
    wall, cpu = [], []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            model(x)
            wall.append((time.perf_counter() - t0) * 1000 / batch)
            cpu.append((time.process_time() - c0) * 1000 / batch)
    return wall, cpu


def matmul_peak_gmacs(n: int = 1024, repeats: int = 10) -> float:
    """Multiply-accumulates per second (G) of a plain fp32 n x n matmul right now: the machine's practical ceiling
    under the current load, to read the model numbers against."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return n ** 3 * repeats / (time.perf_counter() - t0) / 1e9


def macs_g(model: torch.nn.Module) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, 3, INPUT[1], INPUT[0]))
    return counter.get_total_flops() / 2e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["rtmpose-t", "rtmpose-s", "rtmpose-m"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per (model, batch)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    require_at_least(parser, args, batches=1, threads=1, repeats=1)
    for name in args.models:  # an unknown name: UnknownNameError with the close names, before the first model's timing
        MODELS.get(name)
        if model_task(name) == "detection":
            parser.error(f"--models: {name} is a person detector; this benchmark times keypoint models")
    if args.json:
        from kdpose.utils.io import check_output_file

        check_output_file(args.json, "--json", "rtmpose.json")
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"threads {args.threads}, load average {load:.1f}, input {INPUT[0]}x{INPUT[1]} (w x h), "
          f"fp32 matmul peak now {matmul_peak_gmacs():.1f} GMAC/s")
    print("| model | params (M) | MACs (G) | FLOPs (G) | batch | wall ms/crop median | p10 | p90 | CPU ms/crop | "
          "GMAC/s (wall) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in args.models:
        model = create_model(name, layout="coco", input_size=INPUT).eval()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        macs = macs_g(model)
        for batch in args.batches:
            wall, cpu = measure(model, batch, max(3, args.repeats if batch == 1 else args.repeats // 4))
            q = statistics.quantiles(wall, n=10) if len(wall) >= 2 else [wall[0]] * 9
            row = {"model": name, "params_m": params, "macs_g": macs, "flops_g": 2 * macs, "batch": batch,
                   "ms_per_crop_median": statistics.median(wall), "p10": q[0], "p90": q[-1],
                   "cpu_ms_per_crop_median": statistics.median(cpu), "threads": args.threads,
                   "backend": "torch-eager-cpu"}
            rows.append(row)
            print(f"| {name} | {params:.2f} | {macs:.3f} | {2 * macs:.3f} | {batch} | "
                  f"{row['ms_per_crop_median']:.2f} | {row['p10']:.2f} | {row['p90']:.2f} | "
                  f"{row['cpu_ms_per_crop_median']:.2f} | {macs / row['ms_per_crop_median'] * 1000:.1f} |", flush=True)
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
