"""Quick learning check of one pose machine on synthetic depth scenes (plain loop, no Trainer, one process):
prints the loss and the largest predicted confidence every 50 steps, then the PCK precision/recall metric on held-out
scenes of the same (synthetic) domain.

    python benchmarks/pose_machines/learning_curve.py --arch mpm-2s --width 32 --iters 1500 \
        --image 320 240 --crop 184 184 --eval-input 248 184 --sigma 7

Pose machines first settle on "background everywhere" (largest confidence well below the detection threshold, F = 0)
and only then grow peaks; this shows how many steps a setting needs before running the tables.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402

from kdpose.models.pose_machines import create_pose_machine  # noqa: E402
from kdpose.utils.entry import guarded, require_at_least  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="mpm-2s")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--iters", type=int, default=1500)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--scenes", type=int, default=200)
    p.add_argument("--test", type=int, default=30)
    p.add_argument("--sigma", type=float, default=7.0)
    p.add_argument("--image", type=int, nargs=2, default=[320, 240])
    p.add_argument("--crop", type=int, nargs=2, default=[184, 184])
    p.add_argument("--eval-input", type=int, nargs=2, default=[248, 184])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    require_at_least(p, args, width=1, iters=1, batch_size=1, scenes=1, test=1, image=1, crop=1, eval_input=1,
                     threads=1)
    if not (args.lr > 0 and args.sigma > 0):
        p.error(f"--lr and --sigma must be > 0, got {args.lr:g} and {args.sigma:g}")
    if C.arch_error(args.arch, "--arch"):
        p.error(C.arch_error(args.arch, "--arch"))
    torch.set_num_threads(args.threads)
    scale = C.Scale(tuple(args.image), tuple(args.crop), tuple(args.eval_input))
    scenes = C.materialise(C.SynthDepthScenes(C.synthetic_cfg(scale), args.scenes, args.seed))
    test = C.materialise(C.SynthDepthScenes(C.synthetic_cfg(scale), args.test, args.seed + 5, "val"))
    torch.manual_seed(args.seed)
    kind, stages = args.arch.split("-")
    model = create_pose_machine(kind, int(stages.rstrip("s")), width=args.width, input_size=scale.crop,
                                sigma=args.sigma, nms_radius=6.0)
    data = C.train_dataset(scenes, model.codec, args.seed)
    opt = torch.optim.AdamW(model.parameters(), args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    for it in range(args.iters):
        data.set_epoch(it)
        batch = C.collate_bottomup([data[int(i)] for i in rng.integers(0, len(data), args.batch_size)])
        out = model(batch.inputs)
        losses = model.loss_fn(out, batch)
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
        if it % 50 == 0 or it == args.iters - 1:
            peak = float(out.heatmaps[:, -1, : model.codec.num_keypoints].detach().max())
            print(json.dumps({"step": it, "s": round(time.time() - t0), "max_conf": round(peak, 3),
                              **{k: round(float(v), 1) for k, v in losses.items()}}), flush=True)
    metrics, _ = C.evaluate(model, test, scale)
    print(json.dumps({"arch": args.arch, "width": args.width, "iters": args.iters, **metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
