"""Upper bound of the bottom-up pipeline: ground-truth confidence maps and PAFs (what a perfect network would output
at stride 8) go through the same letterbox, decoder and PCK precision/recall evaluation as the trained models.

    python benchmarks/pose_machines/oracle.py --image 640 480 --crop 368 368 --eval-input 488 368

What it measures: the loss of the representation itself (stride-8 maps, merged peaks of close or tiny people,
greedy assembly) on the held-out real-like synthetic domain, i.e. the ceiling of the miniature tables.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402

from kdpose.codecs.paf import PafOutput  # noqa: E402
from kdpose.data.bottomup import BottomUpDepthDataset  # noqa: E402
from kdpose.utils.entry import guarded, require_at_least  # noqa: E402


class GroundTruthMaps(torch.nn.Module):
    """Stands in for a network: returns the encoded targets of ``scenes`` in evaluation order."""

    def __init__(self, scenes, codec, info, eval_input):
        super().__init__()
        self.codec, self.info = codec, info  # the network it stands in for: its codec and model facts
        self.items = BottomUpDepthDataset(scenes, codec, train=False, input_size=eval_input)
        self.next = 0

    def forward(self, x: torch.Tensor) -> PafOutput:
        items = [self.items[self.next + j] for j in range(x.shape[0])]
        self.next += x.shape[0]
        heat = torch.stack([torch.from_numpy(it.target.heatmaps) for it in items])[:, None]
        paf = torch.stack([torch.from_numpy(it.target.pafs) for it in items])[:, None]
        return PafOutput(heat, paf)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", type=int, nargs=2, default=[640, 480])
    p.add_argument("--crop", type=int, nargs=2, default=[368, 368])
    p.add_argument("--eval-input", type=int, nargs=2, default=[488, 368])
    p.add_argument("--scenes", type=int, default=100)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--domain", choices=["real", "synthetic"], default="real")
    args = p.parse_args(argv)
    require_at_least(p, args, image=1, crop=1, eval_input=1, scenes=1)
    torch.set_num_threads(1)
    scale = C.Scale(tuple(args.image), tuple(args.crop), tuple(args.eval_input))
    cfg = C.real_like_cfg(scale) if args.domain == "real" else C.synthetic_cfg(scale)
    scenes = C.materialise(C.SynthDepthScenes(cfg, args.scenes, args.seed, "test"))
    reference = C.build_model("mpm-1s", 8, "coco", scale)
    oracle = GroundTruthMaps(scenes, reference.codec, reference.info, scale.eval_input)
    metrics, _ = C.evaluate(oracle, scenes, scale, etas=[0.1])
    people = sum(len(s.keypoints) for s in scenes)
    print(json.dumps({"scale": vars(args), "people": people, **metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
