"""What the synthetic presets contain, next to the real COCO and CrowdPose fixtures: labelled and unlabelled people
per image, the share of labelled body keypoints marked occluded (v=1), person size, and the share of people
turned away from the camera. Calibration evidence for the ``standard`` preset (issue 22); renders, trains nothing.

    .venv/bin/python benchmarks/synth_presets.py [--images 300] [--fixtures ../shared/fixtures]

Prints a Markdown table (paste it into BENCHMARKS.md "Synthetic presets").
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kdpose.data.jsonfile import load_json, require
from kdpose.data.synth import SynthConfig, render_scene
from kdpose.utils.entry import guarded, require_at_least

DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def preset_stats(cfg: SynthConfig, images: int, seed: int = 11) -> dict:
    labelled = unlabelled = occluded = visible = 0
    heights, away = [], []
    for i in range(images):
        scene = render_scene(cfg, (seed, 1, i))
        for inst in scene.instances:
            flags = inst.flags[:17]
            if (flags > 0).sum() == 0:
                unlabelled += 1
                continue
            labelled += 1
            occluded += int((flags == 1).sum())
            visible += int((flags == 2).sum())
            heights.append(float(inst.bbox[3] - inst.bbox[1]))
            person = scene.layout.people[inst.person_index]
            facing = np.cross(person.keypoints[11] - person.keypoints[12], [0.0, 1.0, 0.0])[[0, 2]]
            to_cam = (scene.camera.position - person.keypoints[11])[[0, 2]]
            away.append(float(facing @ to_cam) < 0)
    return {"images": images, "labelled_per_image": labelled / images, "unlabelled_per_image": unlabelled / images,
            "occluded_share": occluded / max(1, occluded + visible), "median_height_px": float(np.median(heights)),
            "turned_away_share": float(np.mean(away))}


def fixture_stats(path: Path) -> dict:
    data = load_json(path)
    require(data, ("images", "annotations"), str(path), "the annotation file")
    flags = np.concatenate([np.asarray(a["keypoints"]).reshape(-1, 3)[:, 2] for a in data["annotations"]
                            if a.get("num_keypoints", 0) > 0])
    labelled = sum(1 for a in data["annotations"] if a.get("num_keypoints", 0) > 0)
    unlabelled = sum(1 for a in data["annotations"] if a.get("num_keypoints", 0) == 0)
    n = len(data["images"])
    return {"images": n, "labelled_per_image": labelled / n, "unlabelled_per_image": unlabelled / n,
            "occluded_share": float((flags == 1).sum() / max(1, (flags > 0).sum()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--fixtures", help=f"folder with coco/ and crowdpose/ fixtures (default {DEFAULT_FIXTURES}, "
                                           "left out when absent)")
    args = parser.parse_args()
    require_at_least(parser, args, images=1)
    if args.fixtures is not None and not Path(args.fixtures).is_dir():  # named, so not left out without a word
        parser.error(f"--fixtures {args.fixtures}: no such folder")
    args.fixtures = args.fixtures or str(DEFAULT_FIXTURES)
    rows = [("hard", preset_stats(SynthConfig.from_preset("hard"), args.images)),
            ("standard", preset_stats(SynthConfig.from_preset("standard"), args.images)),
            ("standard, occlusion 0", preset_stats(SynthConfig.from_preset("standard", occlusion=0.0), args.images))]
    for name, rel in (("COCO fixture", "coco/test_coco.json"), ("CrowdPose fixture", "crowdpose/test_crowdpose.json")):
        path = Path(args.fixtures) / rel
        if path.is_file():
            rows.append((name, fixture_stats(path)))
    print("| data | images | labelled people / image | unlabelled / image | occluded share (v=1) | "
          "median height (px) | turned away |")
    print("|---|---|---|---|---|---|---|")
    for name, s in rows:
        height = f"{s['median_height_px']:.0f}" if "median_height_px" in s else "-"
        away = f"{100 * s['turned_away_share']:.0f} %" if "turned_away_share" in s else "-"
        print(f"| {name} | {s['images']} | {s['labelled_per_image']:.2f} | {s['unlabelled_per_image']:.2f} | "
              f"{100 * s['occluded_share']:.1f} % | {height} | {away} |")


if __name__ == "__main__":
    raise SystemExit(guarded(main))
