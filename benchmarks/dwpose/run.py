"""DWPose (Yang et al. 2023) Tables 4, 5, 6 and 7 in miniature on kdpose's synthetic whole-body benchmark.

One command per table; each trains the runs its rows need (skipping finished ones, resuming interrupted ones) and
writes the table, with per-part AP mean +- std over the seeds, into BENCHMARKS.md between its markers:

    python benchmarks/dwpose/run.py table4     # stage 1 / stage 2 / both vs the student baseline
    python benchmarks/dwpose/run.py table5     # stage 2 alone on trained models (student t and teacher m)
    python benchmarks/dwpose/run.py table6     # GT / feature / logit / decay ablation of stage 1
    python benchmarks/dwpose/run.py table7     # logit KD with and without the visibility mask
    python benchmarks/dwpose/run.py teacher-mode   # frozen teacher in eval mode (default) vs train mode (code)
    python benchmarks/dwpose/run.py all --jobs 2   # everything, two runs at a time (one thread each)
    python benchmarks/dwpose/run.py table6 --quick --seeds 0   # pipeline smoke test: numbers are meaningless
    python benchmarks/dwpose/run.py table6 --dry-run           # print the training commands only

Setting (recorded in the tables): teacher RTMPose-m trained once (configs/dwpose_synth_teacher_m.yaml, seed 0),
student RTMPose-t (configs/dwpose_synth_s1_m-t.yaml, 15 epochs; stage 2 configs/dwpose_synth_s2_t.yaml, 3 epochs =
20%), 133 keypoints, input 96x128, synthetic whole-body data (2000 train / 200 val images of 320x240 with 1-2
people, generator seeds 10 / 11), GT boxes, no flip test; seeds 0 1 2 vary the student's initialisation and data
order. The paper's UBody mixture is not used in miniature (one synthetic source).
Work dirs go to ``--work-root`` (default work_dirs/dwpose_bench, git-ignored); results.json beside this file.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared driver pieces

from _miniature import REPO, ap_cell, mean_std, train_command, work_folders  # noqa: E402
from _miniature import write_section as write_marked_section  # noqa: E402

BENCHMARKS_MD = REPO / "BENCHMARKS.md"
PARTS = ("body", "foot", "face", "hand", "wholebody")
TEACHER_RECIPE = "dwpose_synth_teacher_m.yaml"
S1_RECIPE = "dwpose_synth_s1_m-t.yaml"
S2_RECIPE = "dwpose_synth_s2_t.yaml"

# shrinks data and schedule so that the whole chain runs in minutes (smoke test of the pipeline only)
QUICK = ["train.max_epochs=1", "eval.interval=1", "data.train.synthetic_images=24", "data.val.synthetic_images=8",
         "data.batch_size=8", "data.val_batch_size=16",
         "data.workers=0", "data.persistent_workers=false", "train.epoch_iters=3", "schedule.warmup_iters=2",
         "train.log_interval=1"]


def params(**switches) -> str:
    """``distill.params`` override with the stage-1 defaults of the recipe and ``switches`` applied."""
    values = {"alpha": 7.0e-5, "beta": 0.1, "use_gt": True, "use_feature": True, "use_logit": True, "decay": True,
              "logit_mask": False, "formulation": "code", "teacher_mode": "eval"} | switches
    def fmt(v) -> str:  # YAML 1.1 needs the dot in 7.0e-05
        return str(v).lower() if isinstance(v, bool) else f"{v:.3e}" if isinstance(v, float) else str(v)

    text = ", ".join(f"{k}: {fmt(v)}" for k, v in values.items())
    return f"distill.params={{{text}}}"


@dataclass(frozen=True)
class Run:
    """One training run per seed: a recipe, overrides, and which earlier run provides its teacher weights."""

    name: str
    recipe: str
    overrides: tuple[str, ...] = ()
    teacher_run: str | None = None  # run whose final.safetensors is distill.teacher_weights
    seeded: bool = True  # False: trained once (seed 0) and shared by all seeds
    cli: str = "distill"


RUNS: dict[str, Run] = {r.name: r for r in [
    Run("teacher-m", TEACHER_RECIPE, ("train.seed=0",), seeded=False, cli="train"),
    Run("baseline", S1_RECIPE, ("distill.method=",), cli="train"),
    Run("gt+fea", S1_RECIPE, (params(use_logit=False, decay=False),), "teacher-m"),
    Run("logit", S1_RECIPE, (params(use_gt=False, use_feature=False, decay=False),), "teacher-m"),
    Run("logit+mask", S1_RECIPE, (params(use_gt=False, use_feature=False, decay=False, logit_mask=True),),
        "teacher-m"),
    Run("fea+logit", S1_RECIPE, (params(use_gt=False, decay=False),), "teacher-m"),
    Run("gt+fea+logit", S1_RECIPE, (params(decay=False),), "teacher-m"),
    Run("s1", S1_RECIPE, (params(),), "teacher-m"),
    Run("s1-teacher-train", S1_RECIPE, (params(teacher_mode="train"),), "teacher-m"),
    Run("s1+s2", S2_RECIPE, (), "s1"),
    Run("baseline+s2", S2_RECIPE, (), "baseline"),
    Run("teacher-m+s2", S2_RECIPE, ("model.name=rtmpose-m", "distill.teacher=rtmpose-m"), "teacher-m"),
]}


@dataclass
class Table:
    """A paper table: rows of (label, run name, paper's whole-body AP or None)."""

    key: str
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    paper: str = ""


TABLES: dict[str, Table] = {t.key: t for t in [
    Table("table4", "Table 4: the two distillation stages (teacher RTMPose-m -> student RTMPose-t)",
          [("teacher RTMPose-m", "teacher-m"), ("student RTMPose-t", "baseline"), ("+ first stage", "s1"),
           ("+ second stage", "baseline+s2"), ("+ first + second stage", "s1+s2")],
          "paper (x -> l, COCO + UBody): whole-body 62.1 / 62.9 / 62.2 / 63.1, student above the 63.0 teacher"),
    Table("table5", "Table 5: second stage (S2) alone on trained models",
          [("RTMPose-t", "baseline"), ("RTMPose-t + S2", "baseline+s2"), ("RTMPose-m", "teacher-m"),
           ("RTMPose-m + S2", "teacher-m+s2")],
          "paper: +0.1 to +0.4 whole-body AP for m / l / x, mostly from foot and hand"),
    Table("table6", "Table 6: components of the first stage (GT / Fea / Logit / Decay)",
          [("GT", "baseline"), ("GT + Fea", "gt+fea"), ("Logit", "logit"), ("Fea + Logit", "fea+logit"),
           ("GT + Fea + Logit", "gt+fea+logit"), ("GT + Fea + Logit + Decay", "s1")],
          "paper (l -> m, COCO): 60.4 / 61.8 / 60.9 / 61.4 / 62.0 / 62.3"),
    Table("table7", "Table 7: visibility mask in logit distillation (logit only, no GT)",
          [("Logit, no mask (DWPose)", "logit"), ("Logit + mask", "logit+mask")],
          "paper: 60.9 without the mask, 59.8 with it"),
    Table("teacher-mode", "Frozen teacher's BatchNorm mode in stage 1 (not in the paper)",
          [("teacher in eval mode (kdpose default)", "s1"), ("teacher in train mode (released code)",
                                                              "s1-teacher-train")],
          "the released distiller never calls teacher.eval(): batch statistics"),
]}


def run_dir(root: Path, run: Run, seed: int) -> Path:
    return root / run.name / (f"seed{seed}" if run.seeded else "seed0")


def command(run: Run, seed: int, root: Path, cache: Path, device: str, quick: bool, threads: int) -> list[str] | None:
    """The CLI command of one run, or None when it already finished."""
    sets = [f"train.device={device}", f"data.cache_dir={cache}", f"train.threads={threads}"]
    sets += (QUICK if quick else []) + list(run.overrides)
    if run.seeded:
        sets.append(f"train.seed={seed}")
    if run.teacher_run:
        sets.append(f"distill.teacher_weights={run_dir(root, RUNS[run.teacher_run], seed) / 'final.safetensors'}")
    return train_command(run.recipe, run_dir(root, run, seed), sets, cli=run.cli)


def needed_runs(tables: list[str]) -> list[Run]:
    """The runs of ``tables`` plus the runs they take teachers from, in dependency order."""
    names: list[str] = []

    def add(name: str) -> None:
        run = RUNS[name]
        if run.teacher_run:
            add(run.teacher_run)
        if name not in names:
            names.append(name)

    for key in tables:
        for _, name in TABLES[key].rows:
            add(name)
    return [RUNS[n] for n in names]


def depth(run: Run) -> int:
    return 0 if run.teacher_run is None else 1 + depth(RUNS[run.teacher_run])


def train_all(runs: list[Run], seeds: list[int], args, root: Path, cache: Path) -> None:
    """Train by dependency level; runs of one level go ``--jobs`` at a time (one torch thread each when parallel)."""
    threads = 1 if args.jobs > 1 else args.threads
    by_level: dict[int, list[list[str]]] = {}
    for run in runs:
        for seed in (seeds if run.seeded else [0]):
            cmd = command(run, seed, root, cache, args.device, args.quick, threads)
            if cmd is not None and cmd not in by_level.get(depth(run), []):
                by_level.setdefault(depth(run), []).append(cmd)
    for level in sorted(by_level):
        cmds = by_level[level]
        for cmd in cmds:
            print("+", " ".join(cmd), flush=True)
        if args.dry_run:
            continue
        if level == 0 and cmds:  # the first run renders the synthetic data: never two renderers at once
            _run(cmds[0])
            cmds = cmds[1:]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(_run, cmds))


def _run(cmd: list[str]) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    subprocess.run(cmd, check=True, cwd=REPO, env=env)


# ---------------------------------------------------------------------------------------------- results


def read_metrics(work: Path) -> dict[str, float] | None:
    """Per-part AP of the last validation in ``log.jsonl`` (nested ``{"body": {"AP": ..}}`` or flat keys)."""
    log = work / "log.jsonl"
    if not log.is_file():
        return None
    last = None
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "val":
            last = rec
    if last is None:
        return None
    out = {}
    for part in PARTS:
        value = last.get(part, {}).get("AP") if isinstance(last.get(part), dict) else last.get(f"{part}.AP")
        if value is not None:
            out[part] = float(value)
    out["minutes"] = float(last.get("elapsed_min", 0.0))
    return out


def summarise(run: Run, seeds: list[int], root: Path) -> dict:
    per_seed = {s: read_metrics(run_dir(root, run, s)) for s in (seeds if run.seeded else [0])}
    done = [m for m in per_seed.values() if m]
    stats = {}
    for part in PARTS:
        values = [m[part] for m in done if part in m]
        if values:
            stats[part] = mean_std(values)
    return {"run": run.name, "seeds": {str(k): v for k, v in per_seed.items()}, "n": len(done), "stats": stats,
            "wall_minutes": sum(m.get("minutes", 0.0) for m in done)}


def format_table(table: Table, summaries: dict[str, dict], seeds: list[int], quick: bool) -> str:
    head = "| row | run | " + " | ".join(PARTS) + " |"
    lines = [f"**{table.title}**" + (" (QUICK smoke settings: numbers are meaningless)" if quick else ""), "",
             head, "|" + "---|" * (len(PARTS) + 2)]
    for label, name in table.rows:
        s = summaries[name]
        cells = [ap_cell(*s["stats"].get(part, (None, None))) for part in PARTS]
        seeds_note = "" if RUNS[name].seeded else " (1 run)"
        lines.append(f"| {label} | `{name}`{seeds_note} | " + " | ".join(cells) + " |")
    lines += ["", f"AP in %, mean +- std over seeds {seeds} (teacher: one run, seed 0). {table.paper}.",
              f"Command: `python benchmarks/dwpose/run.py {table.key}`"]
    return "\n".join(lines)


def write_section(key: str, text: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between ``<!-- dwpose:KEY -->`` and ``<!-- /dwpose:KEY -->`` in BENCHMARKS.md, atomically."""
    write_marked_section("dwpose", key, text, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", choices=[*TABLES, "all"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at the same time")
    parser.add_argument("--threads", type=int, default=0, help="torch threads of a lone run (0: torch default)")
    parser.add_argument("--work-root", type=Path, default=REPO / "work_dirs" / "dwpose_bench")
    parser.add_argument("--quick", action="store_true", help="tiny data and 3 iterations per run (smoke test)")
    parser.add_argument("--dry-run", action="store_true", help="print the training commands, train nothing")
    parser.add_argument("--report-only", action="store_true", help="only read finished runs and write the tables")
    parser.add_argument("--markdown", type=Path, default=BENCHMARKS_MD, help="file whose dwpose sections are rewritten")
    parser.add_argument("--results", type=Path, default=None,
                        help="per-run numbers as JSON (default: results.json beside this script)")
    args = parser.parse_args(argv)

    keys = list(TABLES) if args.table == "all" else [args.table]
    root, cache = work_folders(args.work_root, args.quick)
    runs = needed_runs(keys)
    if not args.report_only:
        train_all(runs, args.seeds, args, root, cache)
    if args.dry_run:
        return 0
    summaries = {run.name: summarise(run, args.seeds, root) for run in runs}
    results_file = args.results or Path(__file__).with_name("results_quick.json" if args.quick else "results.json")
    old = json.loads(results_file.read_text()) if results_file.is_file() else {}
    results_file.write_text(json.dumps(old | summaries, indent=2) + "\n")
    for key in keys:
        text = format_table(TABLES[key], summaries, args.seeds, args.quick)
        print(text + "\n")
        if not args.quick:
            write_section(key, text, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
