"""Synthetic data generator throughput: images/s written to disk (render + encode + atomic writes + JSON) for
640x480 RGB and depth scenes with 1-4 people, with 1 and 2 worker processes.

    .venv/bin/python benchmarks/bench_synth.py [--images 200] [--workers 1,2] [--json benchmarks/results/synth.json]
    .venv/bin/python benchmarks/bench_synth.py --quick        # smoke run: 20 images per setting

It runs ``write_coco_dataset`` (the code behind ``kdpose synth``) into a temporary folder, once per
(modality, layout, workers), after one warm-up image, and reports wall-clock images/s and the CPU time per
image of the parent process plus its workers. Target (issue 3): >= 50 images/s with 2 workers on a 2-core
machine, i.e. a 20k-image training set in under 7 minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2

from kdpose.data.synth import GENERATOR_VERSION, SynthConfig, write_coco_dataset
from kdpose.utils.entry import guarded, require_at_least

SETTINGS = [  # (modality, layout)
    ("rgb", "coco"),
    ("rgb", "wholebody"),
    ("depth", "coco"),
]


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_one(modality: str, layout: str, workers: int, images: int, seed: int) -> dict:
    cfg = SynthConfig(width=640, height=480, layout=layout, modality=modality, min_people=1, max_people=4)
    with tempfile.TemporaryDirectory(prefix="kdpose_bench_synth_") as tmp:
        write_coco_dataset(Path(tmp) / "warmup", cfg, 1, seed=seed + 1)
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        path = write_coco_dataset(Path(tmp) / "out", cfg, images, seed=seed, workers=workers)
        wall = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
        data = json.loads(path.read_text())
        size = sum(p.stat().st_size for p in (Path(tmp) / "out").rglob("*") if p.is_file())
    return {
        "modality": modality, "layout": layout, "workers": workers, "images": images,
        "images_per_s": images / wall, "wall_s": wall, "cpu_ms_per_image": 1000 * cpu / images,
        "people_per_image": len(data["annotations"]) / max(images, 1), "mb_per_image": size / images / 2**20,
    }


def dataset_stats(modality: str, layout: str, scenes: int, seed: int) -> dict:
    """How hard the default data is: label shares, person sizes, whole-body part validity."""
    import numpy as np

    from kdpose.data.synth import render_scene

    cfg = SynthConfig(layout=layout, modality=modality)
    flags, heights, people, valid = [], [], [], {"face": 0, "lefthand": 0, "righthand": 0, "foot": 0}
    labelled_people = 0
    for i in range(scenes):
        scene = render_scene(cfg, (seed, 0, i))
        people.append(len(scene.instances))
        for inst in scene.instances:
            if inst.num_keypoints == 0:
                continue
            labelled_people += 1
            flags.append(inst.flags[:17])
            heights.append(float(inst.bbox[3] - inst.bbox[1]))
            for part in valid:
                valid[part] += int(inst.part_valid.get(part, False))
    f = np.concatenate(flags)
    return {
        "modality": modality, "layout": layout, "scenes": scenes,
        "annotated_people_per_image": float(np.mean(people)),
        "labelled_people_per_image": labelled_people / scenes,
        "body_visible": float((f == 2).mean()), "body_occluded": float((f == 1).mean()),
        "body_unlabelled": float((f == 0).mean()),
        "box_height_px_p10_p50_p90": [float(v) for v in np.percentile(heights, [10, 50, 90])],
        "part_valid_share": {k: v / max(labelled_people, 1) for k, v in valid.items()} if layout != "coco" else {},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200, help="images per setting (default 200)")
    parser.add_argument("--workers", default="1,2", help="comma list of worker counts (default 1,2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="20 images per setting")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--stats", type=int, default=0, metavar="N",
                        help="also print label statistics of N default scenes per setting (no timing)")
    args = parser.parse_args(argv)
    require_at_least(parser, args, images=1, stats=0)
    words = [w.strip() for w in args.workers.split(",")]
    if not all(w.isdigit() and int(w) >= 1 for w in words):
        parser.error(f"--workers must be a comma list of worker counts >= 1, got '{args.workers}'")
    if args.json:
        from kdpose.utils.io import check_output_file

        check_output_file(args.json, "--json", "synth.json")
    cv2.setNumThreads(1)
    images = 20 if args.quick else args.images
    workers = [int(w) for w in words]
    print(f"kdpose synth benchmark: {GENERATOR_VERSION}, 640x480, 1-4 people, {images} images per row, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    rows = []
    print("| modality | layout | workers | images/s | CPU ms/image | people/image | MB/image |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for modality, layout in SETTINGS:
        for w in workers:
            row = run_one(modality, layout, w, images, args.seed)
            rows.append(row)
            print(f"| {modality} | {layout} | {w} | {row['images_per_s']:.1f} | {row['cpu_ms_per_image']:.1f} | "
                  f"{row['people_per_image']:.2f} | {row['mb_per_image']:.3f} |", flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    stats = []
    if args.stats:
        print("\n| modality | layout | people/image (labelled) | body kpts visible / occluded / unlabelled | "
              "box height p10/p50/p90 px | face / left hand / right hand / feet labelled |")
        print("|---|---|---|---|---|---|")
        for modality, layout in SETTINGS:
            st = dataset_stats(modality, layout, args.stats, args.seed)
            stats.append(st)
            parts = st["part_valid_share"]
            part_text = " / ".join(f"{100 * parts[k]:.0f} %" for k in ("face", "lefthand", "righthand", "foot")) \
                if parts else "-"
            h10, h50, h90 = st["box_height_px_p10_p50_p90"]
            print(f"| {modality} | {layout} | {st['annotated_people_per_image']:.2f} "
                  f"({st['labelled_people_per_image']:.2f}) | {100 * st['body_visible']:.0f} / "
                  f"{100 * st['body_occluded']:.0f} / {100 * st['body_unlabelled']:.0f} % | "
                  f"{h10:.0f} / {h50:.0f} / {h90:.0f} | {part_text} |", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"version": GENERATOR_VERSION, "rows": rows, "stats": stats},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
