r"""Is the synthetic generator's default difficulty hard enough that a tiny model clearly under-performs a large one?

Trains heatmap pose models of different sizes with one recipe (``configs/cspnext-t_udp_synth-body.yaml``: the
generator's default difficulty, 3000 rendered 640x480 train images with 1-4 people, 200 val images, 96x128 input,
3 epochs), only the network changed, and reports per-epoch COCO AP / AR, PCK@0.2 of the final weights (ground-truth
boxes; readable where AP is near 0) and each network's params / GMACs, so the gap between sizes is measured on
the same data, schedule and seed.

Examples:
    python benchmarks/synth_difficulty.py                                   # cspnext-t-udp vs cspnext-m-udp
    python benchmarks/synth_difficulty.py --models cspnext-t-udp cspnext-s-udp cspnext-m-udp --seed 1
    python benchmarks/synth_difficulty.py --report-only                     # re-read finished runs
    python benchmarks/synth_difficulty.py --set train.max_epochs=60 --set optim.lr=5e-4 --device cuda \
        --work-root work_dirs/sd60
    python benchmarks/synth_difficulty.py --models cspnext-t-udp --difficulty easy --work-root work_dirs/sd_easy

The recipe's learning rate (2e-3) suits CSPNeXt-t but stalls CSPNeXt-m from random weights; compare sizes with
``--set optim.lr=5e-4`` (BENCHMARKS.md, "The learning rate, not the data, held CSPNeXt-m back"). The run
that answers the question (CSPNeXt-m AP 17.1 % vs CSPNeXt-t 7.1 % after 40 epochs; 1.7 h of one core for t, 3.4 h
for m):
    python benchmarks/synth_difficulty.py --set train.max_epochs=40 --set train.amp=bf16 --set optim.lr=5e-4 \
        --work-root work_dirs/sd40lr

``--difficulty easy`` renders train and val with the difficulty knobs off (``EASY``: no occluders, no crowding, no
border truncation, no extreme poses, people 1.5-6 m away instead of 1.3-24 m), so the same recipe shows how much
the defaults cost a model. Each (work root, difficulty, seed) writes its own BENCHMARKS.md section.

Runs go to ``<work-root>/<model>[-seed<S>]`` (one ``kdpose train`` subprocess each; finished runs are skipped,
interrupted ones resumed); the table goes to BENCHMARKS.md between ``<!-- synth:difficulty -->`` markers.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the shared driver pieces

from _miniature import CONFIGS, REPO, measure_cost, train, write_section  # noqa: E402

from kdpose.utils.entry import guarded  # noqa: E402

RECIPE = "cspnext-t_udp_synth-body.yaml"
EASY = "{occlusion: 0, crowding: 0, truncation: 0, pose_extremity: 0, distance_range: [1.5, 6]}"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"


def rel(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def run_dir(root: Path, model: str, seed: int) -> Path:
    return root / (model if seed == 0 else f"{model}-seed{seed}")


def val_records(work: Path) -> list[dict]:
    """The ``val`` records of a run's log.jsonl, in order (empty when there is none)."""
    log = work / "log.jsonl"
    if not log.is_file():
        return []
    return [r for r in map(json.loads, log.read_text().splitlines()) if r.get("kind") == "val"]


def val_split(work: Path):
    """(recipe, absolute annotation path) of the synthetic val split a run validated on (not rendered here)."""
    from kdpose.tasks.synthetic import synthetic_split_paths
    from kdpose.engine.config import load_recipe

    recipe = load_recipe(work / "config.yaml")
    if not Path(recipe.data.cache_dir).is_absolute():  # the run rendered its data relative to the repository
        recipe.data.cache_dir = str(REPO / recipe.data.cache_dir)
    return recipe, synthetic_split_paths(recipe.data, recipe.data.val, "val")[0].resolve()


def final_pck(work: Path, model: str) -> float | None:
    """PCK@0.2 of the run's final weights on its own val split (ground-truth boxes), cached in ``pck.json`` with
    the annotation file it was measured on (a cache for another file is not used). None without weights or data."""
    cached, weights = work / "pck.json", work / "final.safetensors"
    if not (weights.is_file() and (work / "config.yaml").is_file()):
        return None
    recipe, ann = val_split(work)
    if cached.is_file() and json.loads(cached.read_text()).get("ann_file") == str(ann):
        return json.loads(cached.read_text())["pck"]
    if not ann.is_file():
        return None
    from kdpose.inference.pck import pck_on_annotations as pck_on_val
    from kdpose.inference import PoseEstimator

    estimator = PoseEstimator(model, weights=str(weights), layout=recipe.model.layout,
                              input_size=tuple(recipe.model.input_size), device="cpu")
    value = pck_on_val(estimator, str(ann), recipe.model.layout)
    cached.write_text(json.dumps({"pck": value, "ann_file": str(ann)}))
    return value


LR_PAIRS = ((5, 6), (11, 12))  # COCO shoulders, hips: wide pairs, rarely both unlabelled


def lr_separation(work: Path) -> float | None:
    """Median over val people of predicted / true distance between the left and right shoulder (and hip).

    Near 0 means the model puts left and right on the same spot: it has not yet learnt which side is which (the
    front/back cue), the state of every from-scratch run in BENCHMARKS.md so far (under flip augmentation), and why AP
    (OKS) can be near 0 while PCK@0.2 is high. Near 1 means the sides are told apart. Each result is matched to the
    ground-truth person of its image with the highest OKS."""
    results_file = work / "val_results.json"
    if not (results_file.is_file() and (work / "config.yaml").is_file()):
        return None
    import numpy as np

    from kdpose.skeletons import get_skeleton

    ann = val_split(work)[1]
    if not ann.is_file():
        return None
    kappa2 = (2 * np.asarray(get_skeleton("coco").sigmas)) ** 2
    people: dict[int, list] = {}
    for a in json.loads(ann.read_text())["annotations"]:
        people.setdefault(a["image_id"], []).append((np.asarray(a["keypoints"], float).reshape(-1, 3), a["area"]))
    ratios = []
    for r in json.loads(results_file.read_text()):
        pred = np.asarray(r["keypoints"], float).reshape(-1, 3)[:17, :2]
        best, best_oks = None, -1.0
        for gt, area in people.get(r["image_id"], []):
            vis = gt[:17, 2] > 0
            if vis.any():
                d2 = ((pred - gt[:17, :2]) ** 2).sum(1)
                oks = float(np.exp(-d2 / (2 * max(area, 1.0) * kappa2))[vis].mean())
                if oks > best_oks:
                    best, best_oks = gt, oks
        for i, j in LR_PAIRS:
            if best is not None and best[i, 2] > 0 and best[j, 2] > 0:
                true = np.linalg.norm(best[i, :2] - best[j, :2])
                if true > 2.0:  # a side view puts the pair on one spot: no evidence either way
                    ratios.append(np.linalg.norm(pred[i] - pred[j]) / true)
    return float(np.median(ratios)) if ratios else None


def shown_epochs(epochs: int, most: int = 12) -> list[int]:
    """1-based epochs whose AP gets a column: all of them up to ``most``, else every k-th and the last."""
    if epochs <= most:
        return list(range(1, epochs + 1))
    step = -(-epochs // (most - 1))
    return sorted({*range(step, epochs + 1, step), 1, epochs})


def format_table(rows: list[dict], seed: int, options: str = "") -> str:
    """Markdown: one row per model with AP per epoch, AR / AP50 / PCK / L-R separation of its last epoch, params,
    GMACs and minutes; a run without final weights is marked unfinished (last columns: its latest epoch)."""
    epochs = shown_epochs(max((len(r["val"]) for r in rows), default=0) or 1)
    head = " | ".join(f"AP ep{e}" for e in epochs)
    what = "the easy settings" if "--difficulty easy" in options else "the default difficulty"
    changed = f"only `model.name` changed{f', options `{options}`' if options else ''}"
    lines = [f"**Model size at {what}** (recipe `configs/{RECIPE}`, {changed}, seed {seed}; AP / AR / PCK in %; "
             "L/R sep.: median predicted / true left-right shoulder and hip distance, 0 = sides not told apart)", "",
             f"| model | params (M) | GMACs | {head} | AP50 | AR | PCK@0.2 | L/R sep. | minutes |",
             "|---|---|---|" + "---|" * len(epochs) + "---|---|---|---|---|"]
    for r in rows:
        aps = " | ".join(f"{100 * r['val'][e - 1]['AP']:.2f}" if e <= len(r["val"]) else "n/a" for e in epochs)
        last = r["val"][-1] if r["val"] else {}
        pck = "n/a" if r["pck"] is None else f"{100 * r['pck']:.1f}"
        sep = "n/a" if r.get("lr_sep") is None else f"{r['lr_sep']:.2f}"
        cells = [f"{100 * last[k]:.2f}" if k in last else "n/a" for k in ("AP50", "AR")]
        minutes = f"{last['elapsed_min']:.0f}" if "elapsed_min" in last else "n/a"
        name = r["model"] if r.get("finished", True) else f"{r['model']} (unfinished, epoch {len(r['val'])})"
        lines.append(f"| {name} | {r['params_m']:.2f} | {r['gflops']:.3f} | {aps} | {cells[0]} | {cells[1]} "
                     f"| {pck} | {sep} | {minutes} |")
    models = " ".join(r["model"] for r in rows)
    lines += ["", f"Command: `python benchmarks/synth_difficulty.py --models {models} --seed {seed}"
                  f"{' ' + options if options else ''}`"]
    return "\n".join(lines)


def section_key(work_root: Path, default_root: bool, difficulty: str, seed: int) -> str:
    """BENCHMARKS.md section of a run set: one per (work root, difficulty, seed), so no run overwrites another's."""
    key = "difficulty" if default_root and difficulty == "default" else f"difficulty-{work_root.name}"
    return key + (f"-seed{seed}" if seed else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["cspnext-t-udp", "cspnext-m-udp"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-root", type=Path, default=REPO / "work_dirs" / "synth_difficulty")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="extra recipe override for every model (e.g. train.max_epochs=60); use a new --work-root")
    parser.add_argument("--difficulty", choices=("default", "easy"), default="default",
                        help="easy: train and val rendered with the difficulty knobs off (EASY)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    if not (CONFIGS / RECIPE).is_file():
        parser.error(f"{CONFIGS / RECIPE}: recipe not found")

    sets = list(args.sets)
    if args.difficulty == "easy":
        sets += [f"data.train.synthetic_settings={EASY}", f"data.val.synthetic_settings={EASY}"]
    from kdpose.engine.config import load_recipe
    from kdpose.utils.io import check_output_dir

    check_output_dir(args.work_root, "--work-root")
    for model in args.models:  # an unknown model, key or value: a ConfigError now, not after the first run trained
        load_recipe(CONFIGS / RECIPE, [f"model.name={model}", f"train.seed={args.seed}", f"train.device={args.device}",
                                       "train.threads=1", *sets])
    default_root = args.work_root == parser.get_default("work_root")
    options = " ".join([*(f"--set {s}" for s in args.sets), *([] if args.difficulty == "default" else
                        ["--difficulty easy"]), *([] if default_root else [f"--work-root {rel(args.work_root)}"])])
    rows = []
    for model in args.models:
        work = run_dir(args.work_root, model, args.seed)
        if not args.report_only:
            train(RECIPE, work, [f"model.name={model}", f"train.seed={args.seed}", f"train.device={args.device}",
                                 "train.threads=1", *sets])
        rows.append({"model": model, "val": val_records(work), "pck": final_pck(work, model),
                     "lr_sep": lr_separation(work), "finished": (work / "final.safetensors").is_file(),
                     **measure_cost(model, (96, 128))})
    table = format_table(rows, args.seed, options)
    print(table)
    if not args.no_write:
        write_section("synth", section_key(args.work_root, default_root, args.difficulty, args.seed), table,
                      BENCHMARKS_MD)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
