"""Table V of the depth-pose-machines paper (none / standard / stagewise / stagewise* / + hints) at CPU scale.

``run_table.py --table 5`` is the GPU-sized reproduction (a CPM-2S teacher trained first, thousands of steps). This
driver is what a 2-core CPU session can run: the setting of ``kdpose demo --method stagewise``
(kdpose.tasks.depth_setting):

- teacher: the shipped MPM-2S at Nw = 64 (src/kdpose/assets/demo_teacher_mpm-2s-w64_depth.safetensors, 3500 steps,
  ``python -m kdpose.demo.depth_assets``), frozen, eval mode;
- student: MPM-2S at Nw = 32, ``--steps`` (600) AdamW steps of batch 8 on 184x184 crops of 800 synthetic depth scenes
  (320x240, seed 1); the same initial weights and batches for every row of a seed;
- rows (both cascades have 2 stages): none (L_PM only); standard (tau = 1: the last stage distils the teacher's last
  stage); stagewise (tau = 2, stage i from teacher stage i); stagewise* (tau = 2, every student stage from the
  teacher's final maps); stagewise + hints (tau = 2 and gamma = 1 x the feature hint). alpha = 0.5 (the paper's);
- metric: the paper's PCK precision / recall / F (best detection threshold) on 60 held-out synthetic scenes
  (seed 2) and 30 held-out "real-like" scenes (seed 3), whole images letterboxed to 248x184.

One process per (row, seed), ``--jobs`` at a time, one torch thread each; finished ones are read back from
``<work>/<row>/seed<S>.json``. The table (mean +- std over the seeds) goes to BENCHMARKS.md between the
``<!-- pose_machines:cpu-table5 -->`` markers and to ``results/cpu_table5.{json,md}``.

    python benchmarks/pose_machines/cpu_table5.py --seeds 0 1 2 --jobs 2
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # benchmarks/: the shared driver pieces
from _miniature import REPO, mean_std_cell, write_section  # noqa: E402

from kdpose.utils.entry import guarded, require_at_least  # noqa: E402

ROWS: dict[str, dict | None] = {
    "none": None,
    "standard": {"tau": 1, "alpha": 0.5, "gamma": 0.0, "mode": "stagewise"},
    "stagewise": {"tau": 2, "alpha": 0.5, "gamma": 0.0, "mode": "stagewise"},
    "stagewise*": {"tau": 2, "alpha": 0.5, "gamma": 0.0, "mode": "final"},
    "stagewise + hints": {"tau": 2, "alpha": 0.5, "gamma": 1.0, "mode": "stagewise"},
}
PAPER = ("paper, Table V (CPM-2S teacher -> MPM-2S student, DIH real test set, F): none 0.85, standard 0.85, "
         "stagewise 0.88, stagewise* 0.87, stagewise + hints 0.85 (hints helped only the 1-stage MPM: 0.79 -> 0.83)")
COLUMNS = (("F", "f"), ("AP %", "ap"), ("AR %", "ar"), ("F upper body", "f_upper"), ("F real-like", "f_real"),
           ("max conf", "max_conf"))


def _slug(row: str) -> str:
    return row.replace(" + ", "+").replace("*", "-star").replace(" ", "_")


def train_one(row: str, seed: int, steps: int, train_scenes: int, out_file: str) -> dict:
    """Train and evaluate one (row, seed); writes and returns its numbers."""
    import torch

    from kdpose.distill.stagewise import StagewiseDistiller
    from kdpose.tasks.depth_setting import (MAX_REAL_SCENES, MAX_VAL_SCENES, REAL_SEED, STUDENT, TRAIN_SEED,
                                            VAL_SEED, DepthBatches, build_pose_machine, evaluate, load_teacher,
                                            real_like_cfg, render_scenes, synthetic_cfg)
    from kdpose.tasks.steps import StepSchedule, train_steps
    from kdpose.utils.io import write_json

    if Path(out_file).is_file():  # finished meanwhile (another driver)
        return json.loads(Path(out_file).read_text())
    torch.set_num_threads(1)
    start = time.perf_counter()
    train = render_scenes(synthetic_cfg(), train_scenes, TRAIN_SEED, "train")
    val = render_scenes(synthetic_cfg(), MAX_VAL_SCENES, VAL_SEED, "val")
    real = render_scenes(real_like_cfg(), MAX_REAL_SCENES, REAL_SEED, "test")
    student = build_pose_machine(STUDENT, seed=seed)
    task = student if ROWS[row] is None else StagewiseDistiller(student, load_teacher(), **ROWS[row])
    log = train_steps(task, DepthBatches(train, student.codec, 8, seed), StepSchedule(steps),
                      interval=max(1, steps // 20))
    v, r = evaluate(student, val), evaluate(student, real)
    result = {"row": row, "seed": seed, "steps": steps, "f": v.best["F"], "ap": v.best["AP"], "ar": v.best["AR"],
              "eta": v.best["eta"], "f_upper": v.upper["F"], "f_real": r.best["F"], "max_conf": v.max_confidence,
              "train_s": log.seconds, "wall_s": time.perf_counter() - start, "log": log.rows}
    write_json(out_file, result, indent=1)
    return result


def format_table(results: dict[str, list[dict]], seeds: list[int], steps: int) -> str:
    lines = [f"**Table V at CPU scale: MPM-2S Nw=64 teacher (shipped) -> MPM-2S Nw=32 student, {steps} steps**", "",
             "| distillation | seeds | " + " | ".join(c for c, _ in COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 2)]
    for row in ROWS:
        done = results.get(row, [])
        cells = [mean_std_cell([d[key] for d in done], key in ("ap", "ar")) for _, key in COLUMNS]
        lines.append(f"| {row} | {len(done)} | " + " | ".join(cells) + " |")
    lines += ["", f"Mean +- std over seeds {seeds} (student initialisation and batch order; the data are fixed). "
              "F: the paper's PCK precision/recall F at the best detection threshold on 60 held-out synthetic "
              "scenes; real-like: 30 scenes of the other noise/clutter model. A student that finds nobody has F 0 "
              "and AP 0 (a labelled landmark type without predictions counts as precision 0; tables measured "
              f"before 2026-12-05 counted it as precision 1, so such a student read AP 100 there). {PAPER}.",
              "Command: `python benchmarks/pose_machines/cpu_table5.py --seeds 0 1 2 --jobs 2`"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--train-scenes", type=int, default=800)
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--work", type=Path, default=REPO / "work_dirs" / "pose_machines_cpu_table5")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--markdown", type=Path, default=REPO / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    from kdpose.utils.io import check_output_dir, check_output_file

    require_at_least(parser, args, seeds=0, steps=1, train_scenes=1, jobs=1)
    check_output_dir(args.work, "--work")
    check_output_file(args.markdown, "--markdown", "BENCHMARKS.md")

    files = {(row, seed): args.work / _slug(row) / f"seed{seed}_steps{args.steps}.json"
             for seed in args.seeds for row in args.rows}  # seed-major: every row gets a seed first
    todo = [(row, seed) for (row, seed), f in files.items() if not f.is_file()]
    if todo and not args.report_only:
        for f in files.values():
            f.parent.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(train_one, row, seed, args.steps, args.train_scenes, str(files[row, seed])):
                       (row, seed) for row, seed in todo}
            for future, (row, seed) in futures.items():
                try:
                    r = future.result()
                    print(f"{row} seed {seed}: F {r['f']:.3f} (real-like {r['f_real']:.3f}), {r['wall_s']:.0f} s",
                          flush=True)
                except Exception as err:  # one failed run must not lose the others
                    print(f"FAILED {row} seed {seed}: {type(err).__name__}: {err}", flush=True)
    results: dict[str, list[dict]] = {}
    for (row, _), f in files.items():
        if f.is_file():
            results.setdefault(row, []).append(json.loads(f.read_text()))
    text = format_table(results, args.seeds, args.steps)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "cpu_table5.json").write_text(json.dumps(
        {row: [{k: v for k, v in d.items() if k != "log"} for d in ds] for row, ds in results.items()}, indent=1))
    (out / "cpu_table5.md").write_text(text + "\n")
    write_section("pose_machines", "cpu-table5", text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
