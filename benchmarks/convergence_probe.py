"""Convergence probe: does a model learn the synthetic body task on this CPU?

Trains MODEL on synthetic person crops with the evaluation pipeline (no augmentation, no EMA, no schedule beyond a
linear warm-up) and prints, every 100 iterations, the median keypoint error (in 96x128-crop pixels whatever the
input size) and the share of labelled keypoints within 5 px on 128 held-out crops. Used to separate "the model/loss
learns slowly" from "the engine/augmentation is wrong" (BENCHMARKS.md, training engine section). MODEL is a zoo
name or a hybrid (``cspnext-t+heatmap``, ``res18+rtmcc``, ``rtmpose-t-nobias``); ``--pool N`` renders N crops once;
``--save`` / ``--init-backbone`` chain a heatmap pre-training into a SimCC run:

    .venv/bin/python benchmarks/convergence_probe.py rtmpose-t --pool 3000 --iters 600
    .venv/bin/python benchmarks/convergence_probe.py cspnext-t+heatmap --pool 3000 --iters 600 --save /tmp/hm.safetensors
    .venv/bin/python benchmarks/convergence_probe.py rtmpose-t --pool 3000 --iters 600 --init-backbone /tmp/hm.safetensors
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from kdpose.data.synth import SynthConfig, SyntheticPoseDataset
from kdpose.data.topdown import TopDownDataset, collate_topdown
from kdpose.models import create_model
from kdpose.models.task import PoseTask
from kdpose.utils.entry import guarded, require_at_least

HYBRIDS = ("cspnext-t+heatmap", "res18+rtmcc")


def build_probe_model(name: str, input_size: tuple[int, int]):
    """A zoo model, or a backbone/head hybrid that isolates which part learns slowly:
    ``cspnext-t+heatmap`` (RTMPose-t backbone, SimpleBaseline deconv head) and ``res18+rtmcc``."""
    from kdpose.models import rtmpose, simple_baseline
    from kdpose.models.backbones.cspnext import CSPNeXt
    from kdpose.models.backbones.resnet import ResNet
    from kdpose.models.heads.heatmap import HeatmapHead
    from kdpose.models.heads.rtmcc import RTMCCHead

    if name == "cspnext-t+heatmap":
        backbone = CSPNeXt(*rtmpose.RTMPOSE_SIZES["t"])
        head = HeatmapHead(backbone.out_channels, 17)
        return simple_baseline.build_heatmap_model(backbone, head, "coco", input_size, name=name)
    if name == "res18+rtmcc":
        model = create_model("rtmpose-t", layout="coco", input_size=input_size)
        model.backbone = ResNet(18)
        model.head = RTMCCHead(model.backbone.feature_info[-1]["channels"], 17, input_size)
        return model
    model = create_model(name.replace("-nobias", ""), layout="coco", input_size=input_size)
    if name.endswith("-nobias"):  # RTMCC final conv without its bias (tests the mean-pose shortcut)
        model.head.final_layer.bias.data.zero_()
        model.head.final_layer.bias.requires_grad_(False)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--input", default="96x128", help="model input WxH")
    ap.add_argument("--pool", type=int, default=0,
                    help="pre-render this many training crops once and cycle through them (0 = render every crop)")
    ap.add_argument("--save", default="", help="save the trained weights here (.safetensors)")
    ap.add_argument("--init-backbone", default="", help="start the backbone from these weights (backbone.* keys)")
    args = ap.parse_args()
    require_at_least(ap, args, iters=0, warmup=1, batch=1, threads=1, pool=0)
    if not args.lr > 0:
        ap.error(f"--lr must be > 0, got {args.lr}")
    if 0 < args.pool < args.batch:  # drop_last would leave no batch: the loop would never end
        ap.error(f"--pool {args.pool} is smaller than --batch {args.batch}: no full batch to train on")
    from kdpose.errors import CheckpointError
    from kdpose.models import MODELS
    from kdpose.utils.io import check_output_file

    parts = args.input.lower().split("x")
    if len(parts) != 2 or not all(v.strip().isdigit() and int(v) > 0 for v in parts):
        ap.error(f"--input must look like WxH (e.g. 96x128), got '{args.input}'")
    input_size = (int(parts[0]), int(parts[1]))
    if args.model not in HYBRIDS:
        MODELS.get(args.model.replace("-nobias", ""))  # UnknownNameError with the close names
    if args.init_backbone and not Path(args.init_backbone).is_file():
        raise CheckpointError(f"{args.init_backbone}: no such weights file (--init-backbone)")
    if args.save:
        check_output_file(args.save, "--save", "probe.safetensors")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_probe_model(args.model, input_size)
    if args.init_backbone:
        from safetensors.torch import load_file

        try:
            weights = load_file(args.init_backbone)
        except Exception as exc:  # safetensors raises its own error types for other bytes
            raise CheckpointError(f"{args.init_backbone}: not a readable .safetensors file "
                                  f"({type(exc).__name__})") from None
        state = {k[len("backbone."):]: v for k, v in weights.items() if k.startswith("backbone.")}
        try:
            model.backbone.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
            raise CheckpointError(f"{args.init_backbone}: its backbone.* weights do not fit {args.model}'s backbone "
                                  f"({first})") from None
    train = TopDownDataset(SyntheticPoseDataset(SynthConfig(), length=100_000, seed=0, split="train",
                                                reuse_scene=4 if args.pool else 1), model.codec)
    if args.pool:
        t0 = time.time()
        train = [train[i] for i in range(args.pool)]
        print(f"pre-rendered {args.pool} crops in {time.time() - t0:.0f} s", flush=True)
    val = TopDownDataset(SyntheticPoseDataset(SynthConfig(), length=256, seed=0, split="val"), model.codec)
    vb = collate_topdown([val[i] for i in range(128)])
    labelled = vb.visible > 0
    inside = ((vb.keypoints >= 0).all(-1) & (vb.keypoints[..., 0] < input_size[0])
              & (vb.keypoints[..., 1] < input_size[1]))
    mask = labelled & inside
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch, shuffle=True, num_workers=0 if args.pool else 1,
                                         collate_fn=collate_topdown, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    task = PoseTask(model).train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    scale = 128.0 / input_size[1]  # report errors in 96x128-crop pixels whatever the input size
    start, it = time.time(), 0
    while it <= args.iters:
        for batch in loader:
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
                err = (kp - vb.keypoints).norm(dim=-1)[mask] * scale
                print(f"iter {it:5d}  loss {loss.item():.4f}  val median err {err.median():.2f} px  "
                      f"<5px {(err < 5).float().mean():.3f}  {time.time() - start:.0f} s", flush=True)
            it += 1
            if it > args.iters:
                break
    if args.save:
        from safetensors.torch import save_file

        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.save)

if __name__ == "__main__":
    raise SystemExit(guarded(main))
