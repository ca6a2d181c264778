"""xtcocotools' numbers on fixed result sets, stored so that the suite checks kdpose against them without
xtcocotools (its wheels need numpy < 2, which kdpose's pinned environment does not have).

The cases are built here from the real fixtures (../shared/fixtures) with numpy's seeded generator, in the suite's
own environment, so the tests rebuild exactly the result sets whose scores are stored in
``xtcocotools_reference.json``. To remake that file (after changing a case), from the repository root:

    python -m venv /tmp/xtc && /tmp/xtc/bin/pip install xtcocotools==1.14.3 "numpy<2" matplotlib
    .venv/bin/python tests/evaluation/xtcocotools_reference.py --xtcocotools-python /tmp/xtc/bin/python

Each case is scored by that interpreter in a subprocess (xtcocotools' ``COCOeval`` with the iou type, sigmas and
``use_area`` of the protocol kdpose implements); the ``.json`` records its version.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "xtcocotools_reference.json"

# whole-body parts: (annotation field, K), and the slices of the 133 sigmas each xtcocotools pass uses
PART_FIELDS = (("keypoints", 17), ("foot_kpts", 6), ("face_kpts", 68), ("lefthand_kpts", 21), ("righthand_kpts", 21))
WHOLEBODY_CUTS = {"body": (0, 17), "foot": (17, 23), "face": (23, 91), "lefthand": (91, 112),
                  "righthand": (112, 133), "wholebody": (0, 133)}
CROWD_STATS = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard")
COCO_STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


def perturbed(gt: dict, rng: np.random.Generator, fields=(("keypoints", 17),), copies: int = 2) -> list[dict]:
    """Two noisy copies of every ground-truth person, with random keypoint scores (15 % of them 0)."""
    out = []
    for a in gt["annotations"]:
        for c in range(copies):
            r = {"image_id": a["image_id"], "category_id": 1, "score": float(rng.uniform(0.2, 1))}
            for f, n in fields:
                arr = np.asarray(a[f], float).reshape(n, 3).copy()
                arr[:, :2] += rng.normal(0, 3 + 8 * c, (n, 2))
                arr[:, 2] = rng.uniform(0, 1, n) * (rng.uniform(0, 1, n) > 0.15)
                r[f] = arr.reshape(-1).tolist()
            out.append(r)
    return out


def crowdpose_cases(fixtures: Path) -> dict[str, list[dict]]:
    gt = json.loads((fixtures / "crowdpose/test_crowdpose.json").read_text())
    noisy = perturbed(gt, np.random.default_rng(0), (("keypoints", 14),))
    # empty results (every keypoint 0, 0 with score 0) ranked first by a high score: xtcocotools leaves them out,
    # pycocotools counts each as a false positive
    zero = [dict(r, score=0.95, keypoints=[0.0] * 42) for r in noisy[::3]]
    return {"crowdpose_noisy": noisy, "crowdpose_zero_scores": noisy + zero}


def wholebody_cases(fixtures: Path) -> dict[str, list[dict]]:
    gt = json.loads((fixtures / "coco/test_coco_wholebody.json").read_text())
    cases = {}
    for seed in (0, 1):
        res = perturbed(gt, np.random.default_rng(seed), PART_FIELDS)
        for r in res[::3]:
            r["foot_score"] = 0.5  # part scores replace the score in their pass
        cases[f"wholebody_seed{seed}"] = res
    return cases


# Runs under the xtcocotools interpreter: argv = gt, results, iou type, sigmas (JSON), use_area; prints the stats.
_SCORE = """
import contextlib, io, json, sys, warnings
import numpy as np
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval
gt, res, iou_type, sigmas, use_area = sys.argv[1:6]
with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a part score falling back to 'score'
    coco = COCO(gt)
    ev = COCOeval(coco, coco.loadRes(res), iou_type, np.array(json.loads(sigmas)), use_area=use_area == "1")
    ev.evaluate(); ev.accumulate(); ev.summarize()
print(json.dumps([float(v) for v in ev.stats]))
"""


def score(python: str, gt: Path, results: list[dict], iou_type: str, sigmas, use_area: bool) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        res = Path(tmp) / "res.json"
        res.write_text(json.dumps(results))
        out = subprocess.run([python, "-c", _SCORE, str(gt), str(res), iou_type, json.dumps(list(map(float, sigmas))),
                              "1" if use_area else "0"], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    sys.path.insert(0, str(HERE.parent))
    from conftest import fixtures_dir
    from kdpose.skeletons import get_skeleton

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--xtcocotools-python", required=True, help="an interpreter with xtcocotools installed")
    args = parser.parse_args()
    fixtures = fixtures_dir()
    if fixtures is None:
        sys.exit("the real fixtures are needed: set KDPOSE_FIXTURES or place shared/fixtures beside the repo")
    version = subprocess.run([args.xtcocotools_python, "-c", "import importlib.metadata as m; "
                              "print(m.version('xtcocotools'), m.version('numpy'))"],
                             check=True, capture_output=True, text=True).stdout.split()
    cases: dict[str, dict] = {}
    crowd_sigmas = get_skeleton("crowdpose").sigmas_array
    for name, res in crowdpose_cases(fixtures).items():
        stats = score(args.xtcocotools_python, fixtures / "crowdpose/test_crowdpose.json", res, "keypoints_crowd",
                      crowd_sigmas, use_area=False)
        cases[name] = dict(zip(CROWD_STATS, stats))
    wb_sigmas = get_skeleton("coco_wholebody").sigmas_array
    for name, res in wholebody_cases(fixtures).items():
        cases[name] = {part: dict(zip(COCO_STATS, score(args.xtcocotools_python,
                                                        fixtures / "coco/test_coco_wholebody.json", res,
                                                        f"keypoints_{part}", wb_sigmas[lo:hi], use_area=True)))
                       for part, (lo, hi) in WHOLEBODY_CUTS.items()}
    REFERENCE.write_text(json.dumps({"xtcocotools": version[0], "numpy": version[1], "cases": cases}, indent=1) + "\n")
    print(f"wrote {REFERENCE} ({len(cases)} cases, xtcocotools {version[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
