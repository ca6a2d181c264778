"""DistilPose (CVPR 2023) Tables 4, 5 and 6 in miniature on the synthetic body benchmark.

Every row is one ``kdpose train`` run per seed (a subprocess, so each run is exactly what a user gets from the
CLI); teachers are trained once (seed 0) and frozen. The report gives AP mean +- std over the seeds next to the
student's parameters, GMACs (the paper's GFLOPs) and CPU latency (batch 1, one thread), as in Table 3.

Examples:
    python benchmarks/distilpose/run.py --tables 4 5 6 --seeds 0 1 2 --device cuda
    python benchmarks/distilpose/run.py --tables 4 --seeds 0 --quick      # smoke run: tiny data, 1 epoch
    python benchmarks/distilpose/run.py --report-only                      # re-read finished runs
    python benchmarks/distilpose/run.py --scale cpu --seeds 0 1 2          # CPU scale (about an hour of one core)
    python benchmarks/distilpose/run.py --scale standard --seeds 0 1 2     # strong teacher (about 2 h of 2 cores)

``--scale cpu`` runs the tables in the setting of ``kdpose demo --method distilpose`` (CSPNeXt UDP heatmap teachers,
DeepPose-CSPNeXt-t students from the shipped backbones, 64x96, 12 epochs): see benchmarks/distilpose/cpu.py.
``--scale standard`` runs them on the `standard` preset against the trained CSPNeXt-m UDP teacher (tag
cspnext-m-udp.synth-standard_128x96), DeepPose-CSPNeXt-t students at 96x128 for ``--iters`` iterations: see
benchmarks/distilpose/standard.py.

Outputs: ``<work-root>/<row>/seed<S>/`` (work dirs, default ``work_dirs/distilpose_bench``, git-ignored; the
synthetic data is rendered once into ``<work-root>/synth``), ``<out>/results.json`` and ``<out>/results.md``.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared driver pieces

from _miniature import (CONFIGS, add_run_arguments, ap_cell, load_sibling, measure_cost, read_metrics,  # noqa: E402
                        train, train_seeds, work_folders, write_results)

from kdpose.utils.entry import guarded, require_at_least  # noqa: E402

# Quick mode shrinks data and schedule so that the whole pipeline runs in minutes on a CPU.
QUICK = ["data.train.synthetic_images=64", "data.val.synthetic_images=16", "data.batch_size=16",
         "data.val_batch_size=16", "data.workers=0", "train.max_epochs=1", "eval.interval=1",
         "schedule.warmup_iters=5", "train.log_interval=1"]


@dataclass
class Run:
    """One table row: a recipe plus overrides; ``teacher`` names the teacher run it needs (or None)."""

    table: str
    row: str
    recipe: str
    overrides: list[str] = field(default_factory=list)
    teacher: str | None = None


TEACHERS = {  # teacher run name -> recipe
    "teacher-hr": "distilpose_mini_teacher_hr.yaml",
    "teacher-s": "distilpose_mini_teacher_s.yaml",
    "teacher-simplebaseline": "distilpose_mini_teacher_simplebaseline.yaml",
}
TEACHER_MODEL = {"teacher-hr": "tokenpose-mini-hr", "teacher-s": "tokenpose-mini-s",
                 "teacher-simplebaseline": "simplebaseline-res18"}
NO_CONFIDENCE = "model.kwargs={use_confidence: false}"  # rows without L_CS decode score 1 (s_k untrained)


def table4() -> list[Run]:
    rows = []
    for preset in ("baseline", "cs", "sh", "cs+sh", "kt", "vt", "tde", "all"):
        over = [f"distill.params={{preset: '{preset}'}}"]
        if preset == "baseline":
            over = ["distill.method="]
        if "cs" not in preset and preset != "all":
            over.append(NO_CONFIDENCE)
        rows.append(Run("4", preset, "distilpose_mini_s.yaml", over, None if preset == "baseline" else "teacher-hr"))
    return rows


def table5() -> list[Run]:
    rows = []
    for student in ("distilpose-mini-s", "distilpose-mini-l"):
        base = [f"model.name={student}"]
        rows.append(Run("5", f"{student} / none", "distilpose_mini_s.yaml",
                        base + ["distill.method=", NO_CONFIDENCE]))
        for teacher in ("teacher-s", "teacher-hr"):
            over = base + [f"distill.teacher={TEACHER_MODEL[teacher]}"]
            if student == "distilpose-mini-l" and teacher == "teacher-hr":
                # as DistilPose-L: the HRNet stage-3 student starts from the teacher's HRNet stages 1-3
                over.append("distill.params={preset: all, init_from_teacher: true}")
            rows.append(Run("5", f"{student} / {TEACHER_MODEL[teacher]}", "distilpose_mini_s.yaml", over, teacher))
    return rows


def table6() -> list[Run]:
    return [Run("6", "simplebaseline-res18 (teacher)", TEACHERS["teacher-simplebaseline"], []),
            Run("6", "deeppose-res18", "distilpose_mini_deeppose.yaml", ["distill.method="]),
            Run("6", "deeppose-res18 + SH", "distilpose_mini_deeppose.yaml", [], "teacher-simplebaseline")]


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-+." else "_" for c in text)


def seed_overrides(run: Run, seed: int, teacher_dirs: dict[str, Path]) -> list[str]:
    """The seed, the row's overrides and the trained teacher's weights (for a distilled row)."""
    over = [f"train.seed={seed}"] + run.overrides
    if run.teacher:
        over.append(f"distill.teacher_weights={teacher_dirs[run.teacher] / 'final.safetensors'}")
    return over


def model_of(run: Run) -> str:
    import yaml

    name = yaml.safe_load((CONFIGS / run.recipe).read_text())["model"]["name"]
    for item in run.overrides:
        if item.startswith("model.name="):
            name = item.split("=", 1)[1]
    return name


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad counts and output folders before the first run trains."""
    from kdpose.utils.io import check_output_dir

    require_at_least(parser, args, seeds=0, epochs=1)
    if args.threads != "auto" and not (args.threads.isdigit() and int(args.threads) >= 1):
        parser.error(f"--threads must be 'auto' or a count >= 1, got '{args.threads}'")
    check_output_dir(args.out, "--out")
    check_output_dir(args.work_root, "--work-root")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=["4", "5", "6"], choices=["4", "4t", "5", "6"],
                        help="4t: Table 4 on the CPU-scale token pair (--scale cpu only)")
    add_run_arguments(parser, "distilpose", "tiny data and one epoch (pipeline smoke test)")
    parser.add_argument("--scale", choices=["gpu", "cpu", "standard"], default="gpu",
                        help="cpu: the demo's setting, DeepPose-CSPNeXt-t students (minutes per run); standard: the "
                             "`standard` preset against the trained CSPNeXt-m teacher")
    parser.add_argument("--epochs", type=int, default=12, help="--scale cpu: epochs of every student row")
    parser.add_argument("--no-markdown", action="store_true", help="--scale cpu/standard: leave BENCHMARKS.md alone")
    parser.add_argument("--iters", type=int, help="--scale standard: iterations of every student row (default 600, "
                                                  "quick 5; rounded down to a multiple of 5)")
    parser.add_argument("--teacher-weights", metavar="TAG|FILE",
                        help="--scale standard: the teacher (default: tag "
                             "cspnext-m-udp.synth-standard-teacher_128x96)")
    parser.add_argument("--weak-teacher", metavar="TAG|FILE|none",
                        help="--scale standard: Table 5's weaker 96x128 heatmap teacher (default: tag "
                             "cspnext-m-udp.synth-standard_128x96; none: n/a rows)")
    parser.add_argument("--threads", default="auto",
                        help="--scale standard: torch threads of each run (default auto: all cores; 1 when shared)")
    args = parser.parse_args(argv)
    check_args(parser, args)
    if args.scale == "cpu":
        return cpu_module().run_cpu(args)
    if "4t" in args.tables:
        parser.error("--tables 4t (the CSPNeXt token pair) is a --scale cpu table")
    if args.scale == "standard":
        if args.iters is not None and args.iters < 5:
            parser.error("--iters: at least 5 (one iteration per epoch)")
        return standard_module().run_standard(args)

    runs = [r for t, fn in (("4", table4), ("5", table5), ("6", table6)) if t in args.tables for r in fn()]
    root, cache = work_folders(args.work_root, args.quick)
    teacher_dirs = {name: root / name for name in TEACHERS}
    base = [f"train.device={args.device}", f"data.cache_dir={cache}"] + (QUICK if args.quick else [])
    if not args.report_only:
        for name in sorted({r.teacher for r in runs if r.teacher}):
            train(TEACHERS[name], teacher_dirs[name], base + ["train.seed=0"])
    results = []
    for run in runs:
        row = train_seeds(run.recipe, root / slug(f"t{run.table}-{run.row}"), args.seeds,
                          lambda seed: base + seed_overrides(run, seed, teacher_dirs), args.report_only)
        results.append({"table": run.table, "row": run.row, "model": model_of(run), **row})
    for name in sorted({r.teacher for r in runs if r.teacher}):  # teachers: one run (seed 0) each
        final = read_metrics(teacher_dirs[name])["final_ap"]
        results.append({"table": "teacher", "row": name, "model": TEACHER_MODEL[name], "seeds": [{"seed": 0,
                        "final_ap": final}], "ap_mean": final, "ap_std": 0.0 if final is not None else None})
    costs: dict[str, dict] = {}
    for r in results:
        if r["model"] not in costs:
            costs[r["model"]] = measure_cost(r["model"], (96, 128))
        r.update(costs[r["model"]])
    write_results(args.out, args.quick, results, format_report(results, args.seeds, args.quick))
    print(format_report(results, args.seeds, args.quick))
    return 0


def cpu_module():
    """benchmarks/distilpose/cpu.py (this driver also runs when a test loads it from its file)."""
    return load_sibling(__file__, "cpu", "distilpose")


def standard_module():
    """benchmarks/distilpose/standard.py, which imports cpu.py's table helpers (so cpu.py is loaded first)."""
    cpu_module()
    return load_sibling(__file__, "standard", "distilpose")


def format_report(results: list[dict], seeds: list[int], quick: bool) -> str:
    lines = [f"DistilPose miniature reproduction (synthetic body, 96x128 input, seeds {seeds}"
             + (", QUICK smoke settings: numbers are meaningless" if quick else "") + ")", "",
             "| table | row | student | AP (mean +- std) | params (M) | GMACs | CPU ms |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['table']} | {r['row']} | {r['model']} | {ap_cell(r['ap_mean'], r['ap_std'])} "
                     f"| {r['params_m']:.2f} | {r['gflops']:.3f} | {r['cpu_ms']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(guarded(main))
