"""SDPose (CVPR 2024) Tables 5, 6, 7 and the SDPose-S-V1 vs TokenPose-S-V1 comparison, in miniature on the synthetic
body benchmark.

Every row is one ``kdpose train`` run per seed (a subprocess: exactly what a user gets from the CLI) of
``configs/sdpose_mini_s_v1.yaml`` (the ``tokenpose-mini-s`` network: stemnet 32 planes, 4x3 patches, 4 layers, d 96,
input 96x128) with overrides. Rows shared by several tables (the one-cycle baseline, SDPose 2->1) are trained once.
The report gives AP (val, last epoch) mean +- std over the seeds next to the *deployed* model's parameters,
GFLOPs (MACs, as the paper counts) and CPU latency (batch 1, one thread).

Tables (miniature analogues; the paper's 12 layers are the mini's 4, its "fewer layers" 4 are the mini's 2):
  6     no distillation, the MCT deployed with all its cycles (predict from the last): 4 layers x 1/2/3 cycles,
        2 layers x 2/3 cycles (paper: 12 x 1/2/3 = 69.5/73.3/72.4, 4 x 2/3 = 69.4/70.8 AP).
  7     self-distillation, deployed with one cycle: 1 cycle, 2 cycles (2->1), 3 cycles (3->2, 2->1)
        (paper 69.5 / 72.3 / 71.7).
  5     loss ablation with 2 cycles, deployed with one cycle (presets of kdpose.distill.sdpose.TABLE5_PRESETS;
        paper 55.4 / 70.2 / 69.6 / 71.7 / 58.2 / 72.3).
  1     TokenPose-S-V1 vs SDPose-S-V1 at identical inference cost (same network, same FLOPs), plus SDPose-Reg
        (RLE, 1 vs 2 cycles).

Examples:
    python benchmarks/sdpose/run.py --tables 1 5 6 7 --seeds 0 1 2 --device cuda
    python benchmarks/sdpose/run.py --tables 7 --seeds 0 --quick       # smoke run: tiny data, 1 epoch
    python benchmarks/sdpose/run.py --report-only                       # re-read finished runs

Outputs: ``<work-root>/{full,quick}/<run>/seed<S>/`` (work dirs, default ``work_dirs/sdpose_bench``), the synthetic data
rendered once under ``<work-root>``, ``<out>/results[_quick].json|md``, and (full runs only) the tables between the
``<!-- sdpose:tableN -->`` markers of BENCHMARKS.md.
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
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
RECIPE = "sdpose_mini_s_v1.yaml"
INPUT_SIZE = (96, 128)

# Quick mode shrinks data and schedule so that the whole pipeline runs in minutes on a CPU.
QUICK = ["data.train.synthetic_images=32", "data.val.synthetic_images=8", "data.batch_size=16",
         "data.val_batch_size=16", "data.workers=0", "train.max_epochs=1", "eval.interval=1", "train.epoch_iters=2",
         "schedule.warmup_iters=2", "train.log_interval=1", "train.threads=1"]


@dataclass
class Run:
    """One training configuration: the zoo model + factory kwargs and the SDPose task params (None = plain)."""

    model: str = "sdpose-mini-s-v1"
    model_kwargs: dict = field(default_factory=dict)
    task: dict | None = None
    recipe: str = RECIPE

    def overrides(self) -> list[str]:
        over = [f"model.name={self.model}", f"model.kwargs={_flow(self.model_kwargs)}"]
        if self.task is None:
            over.append("distill.method=")
        else:
            over.append(f"distill.params={_flow(self.task)}")
        return over

    @property
    def key(self) -> str:
        text = f"{self.model}-{_flow(self.model_kwargs)}-{'plain' if self.task is None else _flow(self.task)}"
        return "".join(c if c.isalnum() or c in "-+." else "_" for c in text)


def _flow(mapping: dict) -> str:
    """A YAML flow mapping for --set (e.g. ``{cycles: 2, preset: 'pose+kt'}``)."""
    items = ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}" for k, v in mapping.items())
    return "{" + items + "}"


BASELINE = Run()                                   # one cycle, plain training = TokenPose-S-V1 (mini)
SDPOSE_2 = Run(task={"cycles": 2})                 # SDPose-S-V1: 2 cycles, 2->1, all losses


def table6() -> list[tuple[str, Run]]:
    rows = [("4 layers, 1 cycle", BASELINE)]
    for depth in (4, 2):
        for cycles in (2, 3):
            kwargs = {"cycles": cycles} if depth == 4 else {"depth": depth, "cycles": cycles}
            rows.append((f"{depth} layers, {cycles} cycles", Run(model_kwargs=kwargs,
                                                                  task={"cycles": cycles, "preset": "none"})))
    return rows


def table7() -> list[tuple[str, Run]]:
    return [("1 cycle (TokenPose)", BASELINE), ("2 cycles, 2->1", SDPOSE_2),
            ("3 cycles, 3->2, 2->1", Run(task={"cycles": 3}))]


def table5() -> list[tuple[str, Run]]:
    from kdpose.distill.sdpose import TABLE5_PRESETS

    return [(preset, SDPOSE_2 if preset == "all" else Run(task={"cycles": 2, "preset": preset}))
            for preset in TABLE5_PRESETS]


def table1() -> list[tuple[str, Run]]:
    reg = {"model": "sdpose-mini-reg", "recipe": "sdpose_mini_reg.yaml"}
    return [("TokenPose-S-V1 (mini)", BASELINE), ("SDPose-S-V1 (mini)", SDPOSE_2),
            ("RLE TokenReg, 1 cycle", Run(**reg, task={"cycles": 1})),
            ("SDPose-Reg (mini), 2 cycles", Run(**reg, task={"cycles": 2}))]


TABLES = {"1": table1, "5": table5, "6": table6, "7": table7}


def train(run: Run, work_dir: Path, seed: int, device: str, quick: bool, cache: Path) -> None:
    """One ``kdpose train`` subprocess; skipped when the run already finished (final.safetensors exists)."""
    if (work_dir / "final.safetensors").is_file():
        return
    cmd = [sys.executable, "-m", "kdpose", "train", str(CONFIGS / run.recipe), "--work-dir", str(work_dir)]
    if (work_dir / "last.pt").is_file():
        cmd.append("--resume")
    sets = [f"train.device={device}", f"data.cache_dir={cache}", f"train.seed={seed}"]
    sets += (QUICK if quick else []) + run.overrides()
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


_COSTS: dict[str, dict] = {}


def compute_cost(run: Run) -> dict:
    """Params (M), GFLOPs (MACs) and CPU latency (ms, batch 1, 1 thread) of the deployed model, measured once per
    distinct deployed network (rows that deploy the same network share one measurement)."""
    key = f"{run.model} {_flow(run.model_kwargs)}"
    if key not in _COSTS:
        _COSTS[key] = _measure_cost(run)
    return _COSTS[key]


def _measure_cost(run: Run) -> dict:
    from kdpose.export.bench import bench_torch
    from kdpose.export.flops import count_flops
    from kdpose.models import create_model

    model = create_model(run.model, input_size=INPUT_SIZE, **run.model_kwargs).eval()
    compute = count_flops(model)
    latency = bench_torch(model, batch=1, threads=1, warmup=3, iters=20)
    return {"params_m": compute.params / 1e6, "gflops": compute.gmacs, "cpu_ms": latency.median_ms}


def format_table(table: str, rows: list[dict], seeds: list[int], quick: bool) -> str:
    note = ", QUICK smoke settings: numbers are meaningless" if quick else ""
    lines = [f"**Table {table}** (synthetic body, 96x128, seeds {seeds}{note})", "",
             "| row | model (deployed) | AP (mean +- std) | params (M) | GFLOPs | CPU ms |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ap = "n/a" if r["ap_mean"] is None else f"{100 * r['ap_mean']:.1f} +- {100 * r['ap_std']:.1f}"
        lines.append(f"| {r['row']} | {r['model']} | {ap} | {r['params_m']:.3f} | {r['gflops']:.3f} "
                     f"| {r['cpu_ms']:.1f} |")
    return "\n".join(lines)


def write_section(key: str, text: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between ``<!-- sdpose:KEY -->`` and ``<!-- /sdpose:KEY -->`` in BENCHMARKS.md, atomically."""
    from kdpose.utils.io import atomic_write

    begin, end = f"<!-- sdpose:{key} -->", f"<!-- /sdpose:{key} -->"
    doc = path.read_text() if path.is_file() else "# Benchmarks\n"
    if begin not in doc:
        doc = doc.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    with atomic_write(path, "w") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=["1", "5", "6", "7"], choices=sorted(TABLES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "sdpose",
                        help="where results.json / results.md go")
    parser.add_argument("--work-root", type=Path, default=REPO / "work_dirs" / "sdpose_bench",
                        help="where the training runs and the synthetic data go")
    parser.add_argument("--quick", action="store_true", help="tiny data, 1 epoch of 2 iterations (pipeline smoke test)")
    parser.add_argument("--report-only", action="store_true", help="only read finished runs and write the report")
    parser.add_argument("--no-markdown", action="store_true", help="do not rewrite the sections of BENCHMARKS.md")
    args = parser.parse_args(argv)

    root = args.work_root / ("quick" if args.quick else "full")
    cache = args.work_root / ("synth-quick" if args.quick else "synth")
    tables = {t: TABLES[t]() for t in args.tables}
    results: dict[str, dict] = {}
    for rows in tables.values():
        for _, run in rows:
            if run.key in results:
                continue
            seeds = []
            for seed in args.seeds:
                work = root / run.key / f"seed{seed}"
                if not args.report_only:
                    train(run, work, seed, args.device, args.quick, cache)
                seeds.append({"seed": seed, **read_metrics(work)})
            finals = [s["final_ap"] for s in seeds if s["final_ap"] is not None]
            results[run.key] = {"seeds": seeds, "ap_mean": statistics.mean(finals) if finals else None,
                                "ap_std": statistics.stdev(finals) if len(finals) > 1 else 0.0 if finals else None,
                                **compute_cost(run)}
    report, text = [], []
    for table, rows in tables.items():
        entries = [{"table": table, "row": label, "run": run.key,
                    "model": f"{run.model} {_flow(run.model_kwargs)}".replace(" {}", ""), **results[run.key]}
                   for label, run in rows]
        report += entries
        section = format_table(table, entries, args.seeds, args.quick)
        seeds = " ".join(map(str, args.seeds))
        section += f"\n\nCommand: `python benchmarks/sdpose/run.py --tables {table} --seeds {seeds}`"
        text.append(section)
        if not args.quick and not args.no_markdown:
            write_section(f"table{table}", section)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "results_quick" if args.quick else "results"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (args.out / f"{stem}.md").write_text("\n\n".join(text) + "\n")
    print("\n\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
