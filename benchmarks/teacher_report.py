"""A shipped top-down model on fresh synthetic val sets (issue 22's teacher report): AP, AR, AP by person size, PCK@0.2,
the left/right swap rate and the median error, on a 200-image set of its own preset and of the other preset, and on
several small sets of its preset (the spread of AP over sets as small as the any-seed test's,
tests/inference/test_teacher_any_seed.py). One pose per ground-truth box, no NMS: ``kdpose.tasks.accuracy``'s
scorer. Prints one JSON line per set.

    .venv/bin/python benchmarks/teacher_report.py cspnext-m-udp.synth-standard_128x96 --threads 2
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from kdpose.models import PRETRAINED, load_model
from kdpose.models.pretrained import AccuracyCheck
from kdpose.tasks.accuracy import measure
from kdpose.utils.entry import guarded, require_at_least


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tag", help="a shipped top-down tag with an accuracy check (its size, people and preset)")
    parser.add_argument("--small-seeds", type=int, nargs="+", default=[1001, 1002, 1003, 1004, 1005, 1006])
    parser.add_argument("--small-images", type=int, default=20)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    require_at_least(parser, args, small_images=1, images=1, threads=1)
    check = PRETRAINED[args.tag].check  # an unknown tag: UnknownNameError with the close tags
    if check is None or check.modality != "rgb":
        parser.error(f"{args.tag} has no top-down accuracy check (its size, people and preset say what to render)")
    torch.set_num_threads(args.threads)
    model = load_model(args.tag)
    other = "hard" if check.preset == "standard" else "standard"
    sets = [(f"{check.preset}-{args.small_images}-seed{s}", check.preset, args.small_images, s) for s in args.small_seeds]
    sets += [(f"{p}-{args.images}-seed{args.seed}", p, args.images, args.seed) for p in (check.preset, other)]
    for name, preset, images, seed in sets:
        start = time.perf_counter()
        val = AccuracyCheck(metrics=(), images=images, size=check.size, max_people=check.max_people, split="val",
                            seed=seed, preset=preset)
        metrics = measure(model, val)
        print(json.dumps({"set": name, "seconds": round(time.perf_counter() - start),
                          **{k: round(v, 4) for k, v in metrics.items()}}), flush=True)


if __name__ == "__main__":
    raise SystemExit(guarded(main))
