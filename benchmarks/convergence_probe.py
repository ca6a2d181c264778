"""Convergence probe: does a model learn the synthetic body task from scratch on this CPU?

Trains MODEL at 96x128 on fresh synthetic person crops with the evaluation pipeline (no augmentation, no EMA, no
schedule beyond a linear warm-up) and prints, every 100 iterations, the median keypoint error (crop pixels) and the
share of labelled keypoints within 5 px on 128 held-out crops. Used to separate "the model/loss learns slowly" from
"the engine/augmentation is wrong" (BENCHMARKS.md, training engine section).

    .venv/bin/python benchmarks/convergence_probe.py rtmpose-t --lr 1e-3 --iters 2000
    .venv/bin/python benchmarks/convergence_probe.py simplebaseline-res18 --lr 1e-3 --iters 2000
"""
from __future__ import annotations

import argparse
import time

import torch

from kdpose.data.synth import SynthConfig, SyntheticPoseDataset
from kdpose.data.topdown import TopDownDataset, collate_topdown
from kdpose.models import create_model
from kdpose.models.task import PoseTask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.model, layout="coco", input_size=(96, 128))
    train = TopDownDataset(SyntheticPoseDataset(SynthConfig(), length=100_000, seed=0, split="train"), model.codec)
    val = TopDownDataset(SyntheticPoseDataset(SynthConfig(), length=256, seed=0, split="val"), model.codec)
    vb = collate_topdown([val[i] for i in range(128)])
    labelled = vb.visible > 0
    inside = (vb.keypoints >= 0).all(-1) & (vb.keypoints[..., 0] < 96) & (vb.keypoints[..., 1] < 128)
    mask = labelled & inside
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch, shuffle=True, num_workers=1,
                                         collate_fn=collate_topdown, generator=torch.Generator().manual_seed(0))
    task = PoseTask(model).train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    start = time.time()
    for it, batch in enumerate(loader):
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, (it + 1) / args.warmup)
        loss = task(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 100 == 0:
            model.eval()
            with torch.no_grad():
                kp, _ = model.codec.decode(model(vb.inputs))
            model.train()
            err = (kp - vb.keypoints).norm(dim=-1)[mask]
            print(f"iter {it:5d}  loss {loss.item():.4f}  val median err {err.median():.2f} px  "
                  f"<5px {(err < 5).float().mean():.3f}  {time.time() - start:.0f} s", flush=True)
        if it >= args.iters:
            break


if __name__ == "__main__":
    main()
