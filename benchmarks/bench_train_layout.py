"""Model-only train step (forward, backward, AdamW) in the default (NCHW) and channels-last memory formats, optionally
under ``torch.compile``: what ``train.channels_last`` buys on this CPU. Random inputs and a sum-of-squares loss on
the network's outputs (the loss is negligible next to the network); 2 warm-up steps, then the mean of ``--steps``.

    .venv/bin/python benchmarks/bench_train_layout.py --model rtmpose-m --input-size 96x128 --batch 32 --threads 2 \\
        --modes nchw nhwc compile compile-nhwc
"""
from __future__ import annotations

import argparse
import time

import torch

from kdpose.models import load_model
from kdpose.utils.entry import guarded, require_at_least

MODES = ("nchw", "nhwc", "compile", "compile-nhwc")


def step_time(model_name: str, size: tuple[int, int], batch: int, mode: str, steps: int) -> tuple[float, float]:
    """(seconds per step, seconds of the first two steps: warm-up or compilation)."""
    torch.manual_seed(0)
    model = load_model(model_name, layout="coco", input_size=size).train()
    x = torch.randn(batch, 3, size[1], size[0])
    if mode.endswith("nhwc"):
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(model) if mode.startswith("compile") else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        out = forward(x)
        loss = sum((t.float() ** 2).mean() for t in out if torch.is_tensor(t))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    for _ in range(2):
        step()
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="rtmpose-m")
    parser.add_argument("--input-size", default="96x128", help="w x h")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["nchw", "nhwc"])
    args = parser.parse_args()
    require_at_least(parser, args, batch=1, steps=1, threads=1)
    from kdpose.cli.export import parse_size

    size = parse_size(args.input_size)  # ConfigError: "--input-size must look like WxH (e.g. 192x256), got '96'"
    torch.set_num_threads(args.threads)
    base = None
    for mode in args.modes:
        seconds, warm = step_time(args.model, size, args.batch, mode, args.steps)
        base = base or seconds
        print(f"{args.model} {mode}: {seconds:.3f} s/step, {args.batch / seconds:.1f} samples/s, "
              f"{base / seconds:.2f}x (first two steps {warm:.1f} s)", flush=True)


if __name__ == "__main__":
    raise SystemExit(guarded(main))
