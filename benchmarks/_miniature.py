"""Shared driver pieces of the paper-in-miniature benchmarks (``benchmarks/{distilpose,sdpose,dwpose}/run.py``).

Each driver trains table rows as ``kdpose`` CLI subprocesses (one work dir per seed, finished runs skipped,
interrupted ones resumed), reads the validation AP back from each run's ``log.jsonl``, reports mean +- std over
the seeds, and writes its tables to ``results[_quick].json|md`` and/or between ``<!-- tag:key -->`` markers of
BENCHMARKS.md. The drivers import this module by path (``sys.path`` gets ``benchmarks/``), so they run both as
scripts and when a test loads them from their file.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def quick_standard_sets(batch: int = 8) -> list[str]:
    """``--quick`` overrides of the drivers on the `standard` preset's recipes: a pipeline smoke test on tiny 320x240
    splits (12 train / 4 val images, rendered into the work root's own cache), no loader workers."""
    return ["data.train.synthetic_images=12", "data.val.synthetic_images=4", "data.train.synthetic_size=[320,240]",
            "data.val.synthetic_size=[320,240]", f"data.batch_size={batch}", "data.val_batch_size=16",
            "data.workers=0", "schedule.warmup_iters=2", "train.log_interval=1", "train.tensorboard=false"]


def load_sibling(caller_file: str, stem: str, prefix: str):
    """``<stem>.py`` next to ``caller_file``, loaded by path once as module ``<prefix>_bench_<stem>``. The drivers'
    folders are not packages and several hold a ``cpu.py`` or ``standard.py``, so a plain ``import cpu`` could find
    another driver's; the prefixed name also lets a later sibling import an earlier one (``standard.py``:
    ``from sdpose_bench_cpu import ...``)."""
    name = f"{prefix}_bench_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(caller_file).with_name(f"{stem}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file executes
        spec.loader.exec_module(module)
    return sys.modules[name]


def add_run_arguments(parser: argparse.ArgumentParser, bench: str, quick_help: str) -> None:
    """The options every table driver has: seeds, device, output and work folders, quick and report-only modes."""
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / bench,
                        help="where results.json / results.md go")
    parser.add_argument("--work-root", type=Path, default=REPO / "work_dirs" / f"{bench}_bench",
                        help="where the training runs and the synthetic data go")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--report-only", action="store_true", help="only read finished runs and write the report")


def work_folders(work_root: Path, quick: bool) -> tuple[Path, Path]:
    """(folder of the run work dirs, synthetic-data cache): quick runs never mix with full ones."""
    return (work_root / ("quick" if quick else "full"), work_root / ("synth-quick" if quick else "synth"))


def train_command(recipe: str, work_dir: Path, sets: Sequence[str], cli: str = "train") -> list[str] | None:
    """``python -m kdpose <cli> configs/<recipe> --work-dir <work_dir> [--resume] --set ...``, or None when the run
    already finished (its ``final.safetensors`` exists); ``--resume`` when an interrupted run left ``last.pt``."""
    if (work_dir / "final.safetensors").is_file():
        return None
    cmd = [sys.executable, "-m", "kdpose", cli, str(CONFIGS / recipe), "--work-dir", str(work_dir)]
    if (work_dir / "last.pt").is_file():
        cmd.append("--resume")
    for item in sets:
        cmd += ["--set", item]
    return cmd


def train(recipe: str, work_dir: Path, sets: Sequence[str]) -> None:
    """One ``kdpose train`` subprocess (echoed first); skipped when the run already finished."""
    cmd = train_command(recipe, work_dir, sets)
    if cmd is None:
        return
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def read_metrics(work_dir: Path) -> dict:
    """Final and best AP from a run's log.jsonl ``val`` records (None where there is none)."""
    log = work_dir / "log.jsonl"
    aps = []
    if log.is_file():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("kind") == "val" and "AP" in rec:
                aps.append(float(rec["AP"]))
    return {"final_ap": aps[-1] if aps else None, "best_ap": max(aps) if aps else None}


def training_minutes(work_dir: Path) -> float | None:
    """Wall minutes of a run (the largest ``elapsed_min`` in its log.jsonl; None before it has one)."""
    log = work_dir / "log.jsonl"
    if not log.is_file():
        return None
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return max((r.get("elapsed_min", 0.0) for r in records), default=None)


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample std over seeds; std 0 for one value, (None, None) for none."""
    if not values:
        return None, None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def train_seeds(recipe: str, run_dir: Path, seeds: Sequence[int], sets_of: Callable[[int], list[str]],
                report_only: bool) -> dict:
    """Train one row per seed in ``run_dir/seed<S>`` (unless ``report_only``) and read it back:
    ``{"seeds": [{"seed", "final_ap", "best_ap"}, ...], "ap_mean", "ap_std"}`` over the final APs."""
    per_seed = []
    for seed in seeds:
        work = run_dir / f"seed{seed}"
        if not report_only:
            train(recipe, work, sets_of(seed))
        per_seed.append({"seed": seed, **read_metrics(work)})
    mean, std = mean_std([s["final_ap"] for s in per_seed if s["final_ap"] is not None])
    return {"seeds": per_seed, "ap_mean": mean, "ap_std": std}


def ap_cell(mean: float | None, std: float | None) -> str:
    """A table cell: AP in % as ``mean +- std``, or ``n/a`` when no run finished."""
    return "n/a" if mean is None else f"{100 * mean:.1f} +- {100 * std:.1f}"


def mean_std_cell(values: Sequence[float], pct: bool) -> str:
    """A cell ``mean +- std`` over per-seed values: one decimal for percentages, three otherwise; ``n/a`` if empty."""
    if not values:
        return "n/a"
    mean, std = mean_std(values)
    return f"{mean:.1f} +- {std:.1f}" if pct else f"{mean:.3f} +- {std:.3f}"


def measure_cost(model_name: str, input_size: tuple[int, int], **model_kwargs) -> dict:
    """Params (M), GMACs (the papers' "GFLOPs"; under the key ``gflops``, as in the committed records) and CPU
    latency (ms, batch 1, 1 thread) of a zoo model."""
    from kdpose.export.bench import bench_torch
    from kdpose.export.flops import count_flops
    from kdpose.models import create_model

    model = create_model(model_name, input_size=input_size, **model_kwargs).eval()
    compute = count_flops(model)
    latency = bench_torch(model, batch=1, threads=1, warmup=3, iters=20)
    return {"params_m": compute.params / 1e6, "gflops": compute.gmacs, "cpu_ms": latency.median_ms}


def write_results(out: Path, quick: bool, results: list[dict], markdown: str) -> None:
    """``<out>/results[_quick].json`` (the rows) and ``.md`` (the report)."""
    out.mkdir(parents=True, exist_ok=True)
    stem = "results_quick" if quick else "results"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    (out / f"{stem}.md").write_text(markdown)


def read_finished(files: dict[tuple[str, int], Path]) -> dict[str, dict[int, dict]]:
    """``{run: {seed: result}}`` from the per-(run, seed) JSON files that exist (finished runs only)."""
    results: dict[str, dict[int, dict]] = {}
    for (run, seed), f in files.items():
        if f.is_file():
            results.setdefault(run, {})[seed] = json.loads(f.read_text())
    return results


def save_table(results_dir: Path, stem: str, runs: dict[str, dict[int, dict]], text: str, markdown: Path | None,
               tag: str, section: str, drop: Sequence[str] = ("log",), extra: dict | None = None) -> None:
    """``<results_dir>/<stem>.json`` (``runs`` without the per-run keys in ``drop``, e.g. training logs; under
    ``"runs"`` next to ``extra`` when that is given) and ``.md`` (text), and the text into ``markdown``'s
    ``<!-- tag:section -->`` block unless ``markdown`` is None or "-"."""
    kept = {run: {seed: {k: v for k, v in d.items() if k not in drop} for seed, d in by_seed.items()}
            for run, by_seed in runs.items()}
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{stem}.json").write_text(json.dumps({**extra, "runs": kept} if extra else kept, indent=1))
    (results_dir / f"{stem}.md").write_text(text + "\n")
    if markdown is not None and str(markdown) != "-":
        write_section(tag, section, text, markdown)


def write_section(tag: str, key: str, text: str, path: Path) -> None:
    """Replace the text between ``<!-- TAG:KEY -->`` and ``<!-- /TAG:KEY -->`` in ``path`` (appending the markers
    when absent), atomically."""
    from kdpose.utils.io import atomic_write

    begin, end = f"<!-- {tag}:{key} -->", f"<!-- /{tag}:{key} -->"
    doc = path.read_text() if path.is_file() else "# Benchmarks\n"
    if begin not in doc:
        doc = doc.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    with atomic_write(path, "w") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")
