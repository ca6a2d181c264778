"""``kdpose demo`` over several seeds (issue 23): the reference its report shows next to the one-seed verdict.

``python benchmarks/demo_seeds.py --method dwpose [--layout coco] [--minutes 10] --seeds 0 1 2 [--threads N]``

Runs ``kdpose demo --method M --layout L --minutes X --seed S`` for each seed, one after the other, into
``<work-root>/<M>-<L>-<X>min/seed<S>/`` (default ``work_dirs/demo_seeds``; a seed whose ``results.json`` exists is
reused, not rerun, but only when it ran this very demo: the setting its subtitle names and the method, layout, minutes,
seed and data options (:func:`kdpose.demo.reference.run_options`) its command gives must be this run's; any other
``results.json`` (e.g. a ``hard`` seed of a method now on ``standard``) is a one-line error per file naming what
differs, before anything runs or is written, also with ``--report-only``: use another ``--work-root`` or delete the
seed folder), then reads every seed's ``results.json`` and aggregates, mean +- std over the seeds: the AP (the
verdict's metric, ``rows[].ap``) and PCK@0.2 of the teacher, the plain student, the distilled student and, where the
method has one, the stage-1-only student; on how many seeds the distilled student beats the plain one (AP and PCK,
paired by seed); the wall minutes per run; the setting's name and the machine (CPU model, cores).

Writes the entry of (method, layout, setting, minutes) into ``src/kdpose/demo/reference.json`` (other entries
kept; the demo reads it, :mod:`kdpose.demo.reference`) and the tables of every entry of the method and layout
between ``<!-- demo:seeds-<method>-<layout> -->`` markers of BENCHMARKS.md. ``--report-only``: no runs, only
re-aggregate the finished seeds.

Cost: one full demo per seed (``--minutes 10``: 5 to 10 minutes each on the 2-core CPU, BENCHMARKS.md / docs/demo.md).
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the shared driver pieces

from _miniature import REPO, mean_std, write_section  # noqa: E402

from kdpose.demo.config import METHODS, DemoOptions  # noqa: E402
from kdpose.demo.methods import get_method  # noqa: E402
from kdpose.utils.entry import guarded, require_at_least  # noqa: E402
from kdpose.demo.reference import (REFERENCE_FILE, load_references, mean_std_text, run_options,  # noqa: E402
                                   save_reference, seeds_command)
from kdpose.demo.setting import SETTINGS  # noqa: E402

# the demo's report rows that the reference keeps, in table order (the stage-1 row only where the method has one)
ROW_KEYS = ("teacher", "student", "kd_stage1", "kd")
# methods whose demo writes the top-down report (teacher / student / kd rows with AP); stagewise has its own metric
TOPDOWN_METHODS = tuple(m for m in METHODS if get_method(m).pipeline == "topdown")


def run_folder(work_root: Path, method: str, layout: str, minutes: float) -> Path:
    """Where the seeds of one (method, layout, minutes) go."""
    return work_root / f"{method}-{layout}-{minutes:g}min"


def demo_command(method: str, layout: str, minutes: float, seed: int, out: Path, threads: int | None) -> list[str]:
    """The ``kdpose demo`` subprocess of one seed (the venv's interpreter, so the repository's kdpose runs)."""
    cmd = [sys.executable, "-m", "kdpose", "demo", "--method", method, "--layout", layout, "--minutes", f"{minutes:g}",
           "--seed", str(seed), "--out", str(out)]
    return cmd + (["--threads", str(threads)] if threads is not None else [])


# the demo's report subtitle names its setting: "Synthetic multi-person data (`standard` setting: 640x480 scenes), ..."
SUBTITLE_SETTING = re.compile(r"\(`([^`]+)` setting")


def recorded_demo(results: dict) -> dict:
    """What the demo that wrote ``results`` (a ``results.json``) ran: its method, layout, minutes and seed, its
    setting's name and its :func:`~kdpose.demo.reference.run_options`, read from the ``command`` and ``subtitle``
    the demo records; None for what it does not record (or not readably)."""
    from kdpose.cli.demo import add_arguments

    setting = SUBTITLE_SETTING.search(str(results.get("subtitle", "")))
    found = {"setting": setting.group(1) if setting else None}
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    add_arguments(parser)
    try:
        words = shlex.split(results["command"])
        if words[:2] != ["kdpose", "demo"]:
            raise ValueError(words[:2])
        args, _ = parser.parse_known_args(words[2:])
    except (KeyError, TypeError, ValueError, argparse.ArgumentError):
        return {**found, "command": None}  # absent, not a kdpose demo command line, or a flag's value unreadable
    # a run without --train-images trained on its setting's default count (as kdpose.demo.config.DemoOptions.images)
    default_images = SETTINGS[found["setting"]].train_images if found["setting"] in SETTINGS else None
    return {**found, "command": results["command"], "method": args.method, "layout": args.layout,
            "minutes": args.minutes, "seed": args.seed, "train_images": args.train_images or default_images,
            "val_images": args.val_images, "from_scratch": args.from_scratch}


def expected_demo(method: str, layout: str, minutes: float, seed: int) -> dict:
    """What the demo this script launches for ``seed`` runs, in :func:`recorded_demo`'s terms."""
    opts = DemoOptions(method=method, layout=layout, minutes=minutes, seed=seed)
    return {"setting": opts.setting.name, "method": method, "layout": layout, "minutes": minutes, "seed": seed,
            **run_options(opts)}


def seed_problem(path: Path, method: str, layout: str, minutes: float, seed: int) -> str | None:
    """Why ``path`` (a seed's ``results.json``) is not a result of this run's demo, as one line; None when it is."""
    advice = f"use another --work-root or delete {path.parent}"
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return f"{path}: not a readable results.json ({exc}); {advice}"
    if not isinstance(results, dict):
        return f"{path}: not a demo's results.json; {advice}"
    found, want = recorded_demo(results), expected_demo(method, layout, minutes, seed)
    if found["setting"] is None:
        return f"{path}: its subtitle names no setting, so it may not be the '{want['setting']}' one; {advice}"
    if found["command"] is None:
        return f"{path}: records no readable 'kdpose demo' command, so its options are unknown; {advice}"
    diffs = [f"{key} {found[key]!r} (this run: {want[key]!r})" if isinstance(want[key], str) else
             f"{key} {found[key]:g} (this run: {want[key]:g})" if key == "minutes" else
             f"{key} {found[key]} (this run: {want[key]})"
             for key in want if found[key] != want[key]]
    if diffs:
        return f"{path}: another demo's result: {', '.join(diffs)}; not reused nor aggregated: {advice}"
    return None


def seed_problems(folder: Path, method: str, layout: str, minutes: float, seeds: Sequence[int]) -> list[str]:
    """One line per existing ``results.json`` of ``seeds`` under ``folder`` that this run's demo did not write."""
    problems = [seed_problem(folder / f"seed{seed}" / "results.json", method, layout, minutes, seed)
                for seed in seeds if (folder / f"seed{seed}" / "results.json").is_file()]
    return [p for p in problems if p is not None]


def launch(cmd: list[str]) -> None:
    """One demo subprocess, echoed first (the tests replace it)."""
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def run_seeds(folder: Path, method: str, layout: str, minutes: float, seeds: Sequence[int],
              threads: int | None) -> None:
    """One demo per seed, one at a time (each uses every core it is given); finished seeds are skipped."""
    for seed in seeds:
        out = folder / f"seed{seed}"
        if (out / "results.json").is_file():
            print(f"seed {seed}: reusing {out / 'results.json'}", flush=True)
            continue
        launch(demo_command(method, layout, minutes, seed, out, threads))


def read_seeds(folder: Path, seeds: Sequence[int]) -> dict[int, dict]:
    """``{seed: results.json}`` of the seeds that finished."""
    files = {seed: folder / f"seed{seed}" / "results.json" for seed in seeds}
    return {seed: json.loads(f.read_text()) for seed, f in files.items() if f.is_file()}


def _stats(values: list[float], name: str) -> dict:
    mean, std = mean_std(values)
    return {name: values, f"{name}_mean": mean, f"{name}_std": std}


def _paired(per_seed: dict[int, dict], name: str) -> dict:
    """On how many seeds the distilled student's ``name`` (ap / pck) beats the plain one's, of the seeds with both."""
    pairs = [(rows["kd"].get(name), rows["student"].get(name)) for rows in per_seed.values()]
    pairs = [(kd, plain) for kd, plain in pairs if kd is not None and plain is not None]
    return {"better": sum(kd > plain for kd, plain in pairs), "of": len(pairs)}


def machine(threads: int | None) -> dict:
    """The CPU model, the cores this process may use, and the demo's ``--threads`` (None: all)."""
    from kdpose.engine.precision import available_cores
    from kdpose.export.peaks import cpu_report

    return {"cpu": cpu_report()["cpu"], "cores": available_cores(), "threads": threads}


def aggregate(results: dict[int, dict], method: str, layout: str, minutes: float, threads: int | None) -> dict:
    """The reference entry (:mod:`kdpose.demo.reference`) of the seeds' ``results.json`` dicts."""
    opts = DemoOptions(method=method, layout=layout, minutes=minutes)
    per_seed = {seed: {row["key"]: row for row in res["rows"]} for seed, res in sorted(results.items())}
    rows = {}
    for key in ROW_KEYS:
        found = [by_key[key] for by_key in per_seed.values() if key in by_key]
        if not found:
            continue
        aps = [r["ap"] for r in found if r.get("ap") is not None]
        pcks = [r["pck"] for r in found if r.get("pck") is not None]
        rows[key] = {"label": found[0]["label"], **_stats(aps, "ap"), **_stats(pcks, "pck")}
    walls = [results[seed]["wall_s"] / 60 for seed in sorted(results)]
    command = seeds_command(method, layout, minutes, sorted(results))
    command += f" --threads {threads}" if threads is not None else ""
    return {
        "method": method, "layout": layout, "setting": opts.setting.name, "minutes": minutes,
        "options": run_options(opts), "metric": next(iter(results.values()))["metric"], "seeds": sorted(results),
        "date": time.strftime("%Y-%m-%d"), "command": command,
        "rows": rows, "paired": {"ap": _paired(per_seed, "ap"), "pck": _paired(per_seed, "pck")},
        "wall_min": {"per_seed": walls, **dict(zip(("mean", "std"), mean_std(walls)))},
        "machine": machine(threads),
    }


def entry_table(entry: dict) -> str:
    """One reference entry as a Markdown paragraph and table (a row per model, the per-seed APs in a column)."""
    machine_info, paired, wall = entry["machine"], entry["paired"], entry["wall_min"]
    metric = entry["metric"]
    lines = [f"`{entry['setting']}` setting, `--minutes {entry['minutes']:g}`, seeds "
             f"{' '.join(map(str, entry['seeds']))} ({entry['date']}; {machine_info['cpu']}, "
             f"{machine_info['cores']} cores, `--threads` {machine_info['threads'] or 'all'}; "
             f"{wall['mean']:.1f} +- {wall['std']:.1f} wall minutes per run): the distilled student beats the plain "
             f"one on {paired['ap']['better']} of {paired['ap']['of']} seeds by {metric}, "
             f"{paired['pck']['better']} of {paired['pck']['of']} by PCK@0.2.", "",
             f"| model | {metric} | PCK@0.2 | {metric} per seed |", "|---|---|---|---|"]
    lines += [f"| {row['label']} | {mean_std_text(row, 'ap')} | {mean_std_text(row, 'pck')} | "
              f"{' '.join(f'{v:.3f}' for v in row['ap']) or 'n/a'} |" for row in entry["rows"].values()]
    return "\n".join(lines)


def section_text(entries: dict[str, dict], method: str, layout: str) -> str:
    """Every entry of ``method`` and ``layout`` (settings, minutes), each with its command."""
    mine = [e for e in entries.values() if e["method"] == method and e["layout"] == layout]
    mine.sort(key=lambda e: (e["setting"], e["minutes"]))
    return "\n\n".join(f"{entry_table(e)}\n\n```bash\n{e['command']}\n```" for e in mine)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", required=True, choices=TOPDOWN_METHODS)
    parser.add_argument("--layout", default="coco", choices=("coco", "wholebody"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="the demo's --threads (default: its own, every core)")
    parser.add_argument("--report-only", action="store_true", help="no runs: only re-aggregate the finished seeds")
    parser.add_argument("--work-root", type=Path, default=REPO / "work_dirs" / "demo_seeds")
    parser.add_argument("--reference", type=Path, default=REFERENCE_FILE, help="the reference file to update")
    parser.add_argument("--markdown", type=Path, default=REPO / "BENCHMARKS.md", help="'-': no Markdown section")
    args = parser.parse_args(argv)
    require_at_least(parser, args, threads=1, seeds=0)
    if not args.minutes > 0:
        parser.error(f"--minutes must be > 0, got {args.minutes}")
    from kdpose.utils.io import check_output_file

    check_output_file(args.reference, "--reference", "reference.json")
    load_references(args.reference)  # unreadable: a DataError now, not after the runs
    if str(args.markdown) != "-":
        check_output_file(args.markdown, "--markdown", "BENCHMARKS.md")

    folder = run_folder(args.work_root, args.method, args.layout, args.minutes)
    # the folder's name says neither the setting nor the data options; each seed's results.json does: checked before
    # any run (a stale seed stops the script at once) and again before aggregating (the seeds just run)
    problems = seed_problems(folder, args.method, args.layout, args.minutes, args.seeds)
    if not problems and not args.report_only:
        run_seeds(folder, args.method, args.layout, args.minutes, args.seeds, args.threads)
        problems = seed_problems(folder, args.method, args.layout, args.minutes, args.seeds)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    results = read_seeds(folder, args.seeds)
    if not results:
        print(f"no finished seed under {folder}: nothing to aggregate", file=sys.stderr)
        return 1
    missing = sorted(set(args.seeds) - set(results))
    if missing:
        print(f"seeds {' '.join(map(str, missing))} have no results.json yet: aggregating the others", file=sys.stderr)
    entry = aggregate(results, args.method, args.layout, args.minutes, args.threads)
    key = save_reference(entry, args.reference)
    print(f"{args.reference}: {key}\n\n{entry_table(entry)}")
    if str(args.markdown) != "-":
        write_section("demo", f"seeds-{args.method}-{args.layout}",
                      section_text(load_references(args.reference), args.method, args.layout), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
