"""DistilPose (CVPR 2023) Tables 4, 5 and 6 in miniature on the synthetic body benchmark.

Every row is one ``kdpose train`` run per seed (a subprocess, so each run is exactly what a user gets from the
CLI); teachers are trained once (seed 0) and frozen. The report gives AP mean +- std over the seeds next to the
student's parameters, GFLOPs (MACs, as the paper counts) and CPU latency (batch 1, one thread), as in Table 3.

Examples:
    python benchmarks/distilpose/run.py --tables 4 5 6 --seeds 0 1 2 --device cuda
    python benchmarks/distilpose/run.py --tables 4 --seeds 0 --quick      # smoke run: tiny data, 1 epoch
    python benchmarks/distilpose/run.py --report-only                      # re-read finished runs

Outputs: ``<work-root>/<row>/seed<S>/`` (work dirs, default ``work_dirs/distilpose_bench``, git-ignored; the
synthetic data is rendered once into ``<work-root>/synth``), ``<out>/results.json`` and ``<out>/results.md``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"

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


def train(recipe: str, work_dir: Path, overrides: list[str], device: str, quick: bool, cache: Path) -> None:
    """One ``kdpose train`` subprocess; skipped when the run already finished (final.safetensors exists)."""
    if (work_dir / "final.safetensors").is_file():
        return
    cmd = [sys.executable, "-m", "kdpose", "train", str(CONFIGS / recipe), "--work-dir", str(work_dir)]
    if (work_dir / "last.pt").is_file():
        cmd.append("--resume")
    sets = [f"train.device={device}", f"data.cache_dir={cache}"] + (QUICK if quick else []) + overrides
    for item in sets:
        cmd += ["--set", item]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def read_metrics(work_dir: Path) -> dict:
    """Final and best AP from a run's log.jsonl ``val`` records."""
    log = work_dir / "log.jsonl"
    aps = []
    if log.is_file():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("kind") == "val" and "AP" in rec:
                aps.append(float(rec["AP"]))
    return {"final_ap": aps[-1] if aps else None, "best_ap": max(aps) if aps else None}


def compute_cost(model_name: str, input_size: tuple[int, int]) -> dict:
    """Params (M), GFLOPs (MACs) and CPU latency (ms, batch 1, 1 thread) of a zoo model."""
    from kdpose.export.bench import bench_torch
    from kdpose.export.flops import count_flops
    from kdpose.models import create_model

    model = create_model(model_name, input_size=input_size).eval()
    compute = count_flops(model)
    latency = bench_torch(model, batch=1, threads=1, warmup=3, iters=20)
    return {"params_m": compute.params / 1e6, "gflops": compute.gmacs, "cpu_ms": latency.median_ms}


def model_of(run: Run) -> str:
    import yaml

    name = yaml.safe_load((CONFIGS / run.recipe).read_text())["model"]["name"]
    for item in run.overrides:
        if item.startswith("model.name="):
            name = item.split("=", 1)[1]
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=["4", "5", "6"], choices=["4", "5", "6"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "distilpose",
                        help="where results.json / results.md go")
    parser.add_argument("--work-root", type=Path, default=REPO / "work_dirs" / "distilpose_bench",
                        help="where the training runs and the synthetic data go")
    parser.add_argument("--quick", action="store_true", help="tiny data and one epoch (pipeline smoke test)")
    parser.add_argument("--report-only", action="store_true", help="only read finished runs and write the report")
    args = parser.parse_args(argv)

    runs = [r for t, fn in (("4", table4), ("5", table5), ("6", table6)) if t in args.tables for r in fn()]
    root = args.work_root / ("quick" if args.quick else "full")
    cache = args.work_root / ("synth-quick" if args.quick else "synth")
    teacher_dirs = {name: root / name for name in TEACHERS}
    if not args.report_only:
        for name in sorted({r.teacher for r in runs if r.teacher}):
            train(TEACHERS[name], teacher_dirs[name], ["train.seed=0"], args.device, args.quick, cache)
    results = []
    for run in runs:
        seeds = []
        for seed in args.seeds:
            work = root / slug(f"t{run.table}-{run.row}") / f"seed{seed}"
            over = [f"train.seed={seed}"] + run.overrides
            if run.teacher:
                over.append(f"distill.teacher_weights={teacher_dirs[run.teacher] / 'final.safetensors'}")
            if not args.report_only:
                train(run.recipe, work, over, args.device, args.quick, cache)
            seeds.append({"seed": seed, **read_metrics(work)})
        finals = [s["final_ap"] for s in seeds if s["final_ap"] is not None]
        results.append({"table": run.table, "row": run.row, "model": model_of(run), "seeds": seeds,
                        "ap_mean": statistics.mean(finals) if finals else None,
                        "ap_std": statistics.stdev(finals) if len(finals) > 1 else 0.0 if finals else None})
    for name in sorted({r.teacher for r in runs if r.teacher}):  # teachers: one run (seed 0) each
        final = read_metrics(teacher_dirs[name])["final_ap"]
        results.append({"table": "teacher", "row": name, "model": TEACHER_MODEL[name], "seeds": [{"seed": 0,
                        "final_ap": final}], "ap_mean": final, "ap_std": 0.0 if final is not None else None})
    costs: dict[str, dict] = {}
    for r in results:
        if r["model"] not in costs:
            costs[r["model"]] = compute_cost(r["model"], (96, 128))
        r.update(costs[r["model"]])
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "results_quick" if args.quick else "results"
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    (args.out / f"{stem}.md").write_text(format_report(results, args.seeds, args.quick))
    print(format_report(results, args.seeds, args.quick))
    return 0


def format_report(results: list[dict], seeds: list[int], quick: bool) -> str:
    lines = [f"DistilPose miniature reproduction (synthetic body, 96x128 input, seeds {seeds}"
             + (", QUICK smoke settings: numbers are meaningless" if quick else "") + ")", "",
             "| table | row | student | AP (mean +- std) | params (M) | GFLOPs | CPU ms |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        ap = "n/a" if r["ap_mean"] is None else f"{100 * r['ap_mean']:.1f} +- {100 * r['ap_std']:.1f}"
        lines.append(f"| {r['table']} | {r['row']} | {r['model']} | {ap} | {r['params_m']:.2f} | {r['gflops']:.3f} "
                     f"| {r['cpu_ms']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
