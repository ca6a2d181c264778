"""Forward-pass speed of the pose machines as the paper measures it (Sec. VII-B): batch 1, one depth channel at
444x368, median time over N frames, network only; plus the PAF association (decoding) time, separately.

    python benchmarks/pose_machines/speed.py --frames 20 --threads 1

The association is timed on ground-truth maps of a synthetic 3-person scene (a realistic number of peaks; an
untrained network's maps would be noise). Writes ``results/speed.json`` and prints a Markdown table with the
paper's Table I numbers (GTX 1050) beside ours for reference.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from kdpose.codecs.paf import PafOutput  # noqa: E402
from kdpose.models.pose_machines import create_pose_machine  # noqa: E402
from kdpose.utils.entry import guarded, require_at_least  # noqa: E402
from kdpose.utils.io import write_json  # noqa: E402

# Table I of the paper: architecture -> (params, FPS on a GeForce GTX 1050)
PAPER = {"cpm-1s": ("8.38 M", 18.6), "cpm-2s": ("17.07 M", 11.2), "rpm-1s": ("0.51 M", 56.7),
         "rpm-2s": ("2.84 M", 35.2), "rpm-3s": ("5.17 M", 20.8), "rpm-2s-w128": ("10.5 M", 12.5),
         "mpm-1s": ("99.8 K", 134.4), "mpm-2s": ("168.2 K", 112.3), "mpm-3s": ("236.5 K", 95.8),
         "mpm-4s": ("304.9 K", 84.3), "spm-1s": ("308.8 K", 70.6), "spm-2s": ("455.9 K", 60.6),
         "spm-3s": ("660.0 K", 53.3), "spm-4s": ("921.0 K", 47.2)}


def build(name: str):
    kind, stages = name.split("-")[0], int(name.split("-")[1].rstrip("s"))
    width = 128 if name.endswith("w128") else None
    return create_pose_machine(kind, stages, width=width, layout="dih", input_size=(444, 368)).eval()


def time_forward(model, frames: int, warmup: int, device: str) -> list[float]:
    x = torch.randn(1, 1, 368, 444, generator=torch.Generator().manual_seed(0)).to(device)
    model.to(device)
    times = []
    with torch.inference_mode():
        for i in range(warmup + frames):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            model(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - t)
    return times


def time_association(frames: int) -> float:
    """Median decode time of ground-truth maps of a synthetic depth scene at 444x368 (COCO layout)."""
    from kdpose.data.bottomup import BottomUpDepthDataset, scene_from_synth
    from kdpose.data.synth import SynthConfig, render_scene

    model = create_pose_machine("mpm", 1, input_size=(444, 368))
    codec = model.codec
    scene = None
    for seed in range(50):  # first scene with 3 annotated people
        s = render_scene(SynthConfig(width=640, height=480, modality="depth", min_people=3, max_people=3), seed)
        if len(s.instances) == 3:
            scene = scene_from_synth(s)
            break
    item = BottomUpDepthDataset([scene], codec, train=False)[0]
    out = PafOutput(torch.from_numpy(item.target.heatmaps)[None, None], torch.from_numpy(item.target.pafs)[None, None])
    times = []
    for _ in range(frames):
        t = time.perf_counter()
        codec.decode(out)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a bad value before the first model is timed: counts, names (KIND-Ns, optionally -w128), the device
    and the output file."""
    from kdpose.models.pose_machines import KINDS
    from kdpose.utils.io import check_output_file

    require_at_least(parser, args, frames=1, warmup=0, threads=1)
    for name in args.archs:
        kind, _, rest = name.partition("-")
        stages = rest.removesuffix("-w128").rstrip("s")
        if kind not in KINDS or not stages.isdigit() or int(stages) < 1:
            parser.error(f"--archs: '{name}' is not KIND-Ns[-w128] (KIND one of {', '.join(KINDS)}, N stages >= 1; "
                         "e.g. rpm-2s, rpm-2s-w128)")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        parser.error(f"--device: unknown device '{args.device}' (use cpu, cuda or cuda:N)")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here (use cpu)")
    check_output_file(args.out, "--out", "speed.json")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="+", default=list(PAPER))
    p.add_argument("--frames", type=int, default=20, help="timed frames per model (the paper: 2000)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "speed.json"))
    args = p.parse_args(argv)
    check_args(p, args)
    torch.set_num_threads(args.threads)
    rows = {}
    for name in args.archs:
        model = build(name)
        times = time_forward(model, args.frames, args.warmup, args.device)
        med = statistics.median(times)
        rows[name] = {"params": sum(q.numel() for q in model.parameters()), "median_ms": 1000 * med,
                      "fps": 1.0 / med, "paper_params": PAPER.get(name, ("", 0))[0],
                      "paper_fps_gtx1050": PAPER.get(name, ("", 0))[1]}
        print(name, json.dumps(rows[name]), flush=True)
    assoc = time_association(max(5, args.frames))
    env = {"device": args.device, "threads": args.threads, "torch": torch.__version__,
           "cpu": platform.processor() or platform.machine(), "frames": args.frames, "input": "1x1x368x444",
           "association_ms_gt_maps_3_people": 1000 * assoc}
    write_json(args.out, {"env": env, "rows": rows}, indent=1)
    print(f"\nforward only, batch 1, 1x1x368x444, median of {args.frames} frames, {args.device}, "
          f"{args.threads} thread(s); association (3 people, GT maps) {1000 * assoc:.1f} ms\n")
    print("| model | params | ms | FPS | paper params | paper FPS (GTX 1050) |\n|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['params'] / 1e6:.3f} M | {r['median_ms']:.1f} | {r['fps']:.2f} | {r['paper_params']} "
              f"| {r['paper_fps_gtx1050']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
