"""Fresh scenes every epoch vs a cached split, for the same core-hours (issue 22):
``python benchmarks/fresh_vs_cached.py --minutes 30 --seeds 0 1 2``.

Issue 22 asks for enough distinct training scenes that long runs do not over-fit: >= 20k rendered once, or fresh
scenes every epoch, whichever gives more accuracy per core-hour. Every arm trains the same network from the same
initial weights for the same wall-clock budget on the whole machine (``--minutes`` each, one run after the other,
never two side by side), and differs only in its training scenes:

* ``cached-<N>`` (``--scenes``, default 2000 and 20000): the `standard` split of N scenes rendered once into
  ``.kdpose_cache/synth`` (the 20000 are the RTMPose-m teacher recipe's, already rendered: same keys) and read from
  disk every epoch (2000 scenes = 4044 person crops: 30 minutes at ~0.45 s an iteration of 32 are ~30 passes over
  them, over the 20000 scenes' 40444 ~3);
* ``fresh``: ``data.train.synthetic_fresh: true``, new scenes every epoch, rendered by the two loader workers on the
  same two cores as the training (``kdpose.data.synth.FreshPeople``): no scene is seen twice, and the rendering is
  paid out of the budget: ~0.46 core-s more per batch of 32 than reading the cached JPEGs (measured), so at an
  RTMPose-t step's ~0.9 core-s the arm is expected to get ~2/3 of the cached arms' iterations. The people of one
  scene share a batch (~16.6 scenes a batch instead of ~32).

Network and data: configs/rtmpose-t_roadmap_synth-standard.yaml (RTMPose-t, body 17, 96x128, from the shipped
CSPNeXt-t backbone, `light` augmentation, batch 32, 2 loader workers; val: the 500 `standard` images of the teacher
recipe, ground-truth boxes). ``train.seed`` = the seed (the head's initial weights, the sampler, the augmentation);
the scenes are the same for every seed (``synthetic_seed`` 0).

Budget: each arm's seconds per iteration are measured first (a ``kdpose train`` probe of ``CALIBRATE_ITERS``
iterations, mean of the windows after the first; kept in ``<work-root>/full/calibrate/<arm>/calibration.json``), and the
arm trains ``--minutes`` x 60 / that many iterations as whole epochs of at most ``EPOCH_ITERS`` (one pass over the
2000-scene split): warm-up over the first tenth, flat then cosine from the middle epoch, the last tenth of the epochs
in stage 2, validation at the end. The plan is written next to the runs (``plan.json``) and reused, so an
interrupted session resumes the same schedule. The table reports the training minutes each run really took.

Metrics: AP and AR (pycocotools, the trainer's validation) and PCK@0.2 (ground-truth boxes) in %, mean +- std over
the seeds; per seed, on how many seeds ``fresh`` beats each cached arm. The one-off render of a cached split is not
in the training budget; its cost is shown next to it (scenes x ``RENDER_CORE_S``, the measured cost of writing one
640x480 `standard` scene). ``--scenes`` below ~2000 gives epochs shorter than the plan's (the trainer stops an epoch
at the end of the data): the table reports the iterations each run really made.

Cost, ESTIMATED: arms x seeds x (``--minutes`` + ~1.5 min start-up, validation and PCK) + ~1 min per calibration +
the 2000-scene render (~1 min); defaults (3 arms, 30 min, seeds 0 1 2): ~4.8 h of the 2-core CPU, one seed ~1.6 h
(``estimate_minutes``).

Outputs: ``<work-root>/full/<minutes>min/<arm>/seed<S>/`` (default ``work_dirs/fresh_vs_cached_bench``),
``<out>/results[_quick].json|md`` (default benchmarks/results/fresh_vs_cached/) and the table between
``<!-- fresh_vs_cached:table -->`` markers of BENCHMARKS.md (not with ``--quick`` or ``--no-markdown``).

Run records: the plan of each arm and every finished run's numbers (the row of ``read_seed`` and the CPU it trained on)
are also kept as small JSON files under ``<out>/records/<minutes>min/<arm>/`` (``plan.json``, ``seed<S>.json``), meant
to be committed: the table needs hours spread over sessions, and a session may get a new machine without the work dirs.
A seed with a record is not trained again, and a recorded plan is reused (the same iterations on every machine: the
arms stay comparable, their minutes are the machine's). The table names the CPUs its runs were trained on.

``--quick``: a pipeline smoke test, tiny 320x240 splits (12 and 24 cached scenes), batch 8, no loader workers, a
budget of seconds; its numbers mean nothing.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: the shared driver pieces

from _miniature import (REPO, add_run_arguments, mean_std, quick_standard_sets, train_command,  # noqa: E402
                        write_section)

from kdpose.utils.entry import guarded, require_at_least  # noqa: E402
from kdpose.utils.io import write_json  # noqa: E402

RECIPE = "rtmpose-t_roadmap_synth-standard.yaml"
INPUT_SIZE = (96, 128)
BATCH, QUICK_BATCH = 32, 8
EPOCH_ITERS = 125  # one pass over the 2000-scene split (4044 crops / 32): every arm's epochs are at most this long
QUICK_EPOCH_ITERS = 2
CALIBRATE_ITERS, QUICK_CALIBRATE_ITERS = 60, 3
LOG_INTERVAL = 10
DEFAULT_SCENES, QUICK_SCENES = [2000, 20000], [12, 24]
DEFAULT_MINUTES, QUICK_MINUTES = 30.0, 0.1
MIN_EPOCHS = 2  # stage 1 and stage 2 at least
# core-seconds to write one 640x480 `standard` scene of a cached split (write_coco_dataset: render, JPEG, silhouette
# PNG, annotation; 60 scenes, one process, niced next to a training job on the 2-core AVX2 EPYC, 2026-12-05)
RENDER_CORE_S = 0.038
RUN_OVERHEAD_MIN, CALIBRATE_MIN, RENDER_2000_MIN = 1.5, 1.0, 1.0
FRESH = "fresh"


@dataclass(frozen=True)
class Arm:
    """One training-data arm: ``scenes`` cached scenes, or fresh scenes every epoch (``scenes`` 0)."""

    name: str
    scenes: int = 0

    @property
    def fresh(self) -> bool:
        return self.scenes == 0

    @property
    def label(self) -> str:
        return "fresh scenes every epoch" if self.fresh else f"{self.scenes} scenes rendered once"

    def overrides(self, epoch_crops: int) -> list[str]:
        """The data keys of this arm (``epoch_crops``: the person crops of a fresh epoch)."""
        if self.fresh:
            return ["data.train.synthetic_fresh=true", f"data.train.synthetic_images={epoch_crops}"]
        return [f"data.train.synthetic_images={self.scenes}"]


def arms_of(scenes: list[int]) -> list[Arm]:
    return [Arm(f"cached-{n}", n) for n in scenes] + [Arm(FRESH)]


def estimate_minutes(arms: int, seeds: int, minutes: float) -> float:
    """The module doc's estimate of the whole command's wall time on the 2-core CPU."""
    return arms * seeds * (minutes + RUN_OVERHEAD_MIN) + arms * CALIBRATE_MIN + RENDER_2000_MIN


def plan(seconds_per_iter: float, minutes: float, max_epoch_iters: int) -> dict:
    """Whole epochs of at most ``max_epoch_iters`` iterations that fill ``minutes`` at ``seconds_per_iter``."""
    iters = max(MIN_EPOCHS, int(minutes * 60 / seconds_per_iter))
    epochs = max(MIN_EPOCHS, math.ceil(iters / max_epoch_iters))
    epoch_iters = max(1, iters // epochs)
    return {"seconds_per_iter": seconds_per_iter, "minutes": minutes, "epochs": epochs, "epoch_iters": epoch_iters,
            "iterations": epochs * epoch_iters}


def schedule_sets(p: dict) -> list[str]:
    """A plan as recipe overrides: warm-up over the first tenth, the last tenth of the epochs in stage 2 (at least
    one), cosine from the middle epoch (the recipe's), validation once at the end."""
    return [f"train.max_epochs={p['epochs']}", f"train.epoch_iters={p['epoch_iters']}",
            f"train.stage2_epochs={max(1, round(p['epochs'] / 10))}",
            f"schedule.warmup_iters={max(1, p['iterations'] // 10)}", f"eval.interval={p['epochs']}"]


def launch(cmd: list[str] | None) -> None:
    """One ``kdpose train`` subprocess, echoed first (the tests replace it); None: the run had finished."""
    if cmd is None:
        return
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def read_log(work: Path) -> list[dict]:
    log = work / "log.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def seconds_per_iter(records: list[dict]) -> float:
    """Mean wall seconds per iteration (loader wait + step) over the ``train`` windows after the first one (data
    workers starting, warm-up); the only window when there is one."""
    windows = [r for r in records if r.get("kind") == "train"]
    windows = windows[1:] or windows
    if not windows:
        raise RuntimeError("calibration: the probe run logged no training window")
    return sum(r["data_time"] + r["step_time"] for r in windows) / len(windows)


def calibrate(arm: Arm, folder: Path, sets: list[str], iters: int) -> float:
    """Seconds per iteration of ``arm`` (cached in ``folder/calibration.json``)."""
    cached = folder / "calibration.json"
    if cached.is_file():
        return json.loads(cached.read_text())["seconds_per_iter"]
    probe = ["train.max_epochs=1", f"train.epoch_iters={iters}", "train.stage2_epochs=0", "eval.interval=0",
             f"schedule.warmup_iters={iters}"]
    launch(train_command(RECIPE, folder / "probe", sets + probe))
    value = seconds_per_iter(read_log(folder / "probe"))
    cached.write_text(json.dumps({"arm": arm.name, "iterations": iters, "seconds_per_iter": value}))
    return value


def run_pck(work: Path, ann: Path) -> float | None:
    """PCK@0.2 of ``work``'s final weights on the val annotations (ground-truth boxes), cached in ``pck.json``."""
    cached, weights = work / "pck.json", work / "final.safetensors"
    if cached.is_file():
        return json.loads(cached.read_text())["pck"]
    if not (weights.is_file() and ann.is_file()):
        return None
    from kdpose.inference import PoseEstimator
    from kdpose.inference.pck import pck_on_annotations

    estimator = PoseEstimator("rtmpose-t", weights=str(weights), layout="coco", input_size=INPUT_SIZE, device="cpu")
    value = pck_on_annotations(estimator, ann, "coco")
    cached.write_text(json.dumps({"pck": value}))
    return value


def read_seed(work: Path, seed: int, ann: Path) -> dict:
    """One finished run: final AP / AR (fractions), PCK@0.2, training minutes and iterations (None when missing)."""
    records = read_log(work)
    val = [r for r in records if r.get("kind") == "val" and "AP" in r]
    train = [r for r in records if r.get("kind") == "train"]
    return {"seed": seed, "ap": float(val[-1]["AP"]) if val else None, "ar": float(val[-1]["AR"]) if val else None,
            "pck": run_pck(work, ann) if val else None,
            "train_minutes": train[-1]["elapsed_min"] if train else None,
            "iterations": train[-1]["iter"] if train else None}


def summarise(arm: Arm, p: dict, seeds: list[dict], batch: int) -> dict:
    """A result row: the arm, its plan, the seeds and mean +- std of AP, AR, PCK@0.2."""
    done = [s["iterations"] for s in seeds if s["iterations"] is not None]
    row = {"arm": arm.name, "label": arm.label, "fresh": arm.fresh, "scenes": arm.scenes, "plan": p, "batch": batch,
           "crops_trained": round(sum(done) / len(done)) * batch if done else None,
           "render_core_min": round(arm.scenes * RENDER_CORE_S / 60, 1), "seeds": seeds}
    for metric in ("ap", "ar", "pck"):
        row[metric] = list(mean_std([s[metric] for s in seeds if s[metric] is not None]))
    return row


def fresh_wins(fresh: dict, other: dict) -> tuple[int, int]:
    """(seeds where ``fresh`` has the higher AP, seeds where both have one)."""
    theirs = {s["seed"]: s["ap"] for s in other["seeds"] if s["ap"] is not None}
    pairs = [(s["ap"], theirs[s["seed"]]) for s in fresh["seeds"] if s["ap"] is not None and s["seed"] in theirs]
    return sum(a > b for a, b in pairs), len(pairs)


def _cell(stats: list, runs: int) -> str:
    mean, std = stats
    if mean is None:
        return "not run"
    return f"{100 * mean:.1f} (1 run)" if runs == 1 else f"{100 * mean:.1f} +- {100 * std:.1f}"


def format_table(rows: list[dict], seeds: list[int], minutes: float, quick: bool, command: str) -> str:
    note = " (QUICK smoke settings: numbers are meaningless)" if quick else ""
    lines = [f"**Fresh scenes every epoch vs a cached split, {minutes:g} training minutes each** (RTMPose-t 96x128, "
             f"`standard`){note}", "",
             "| training scenes | arm | s / iter | iterations | crops trained | train min | AP % | AR % | PCK@0.2 % "
             "| fresh higher AP on | one-off render (core-min) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    fresh = next((r for r in rows if r["fresh"]), None)
    for r in rows:
        runs = len([s for s in r["seeds"] if s["ap"] is not None])
        minutes_run = [s["train_minutes"] for s in r["seeds"] if s["train_minutes"] is not None]
        spent = f"{sum(minutes_run) / len(minutes_run):.1f}" if minutes_run else "-"
        done = [s["iterations"] for s in r["seeds"] if s["iterations"] is not None]
        iters = round(sum(done) / len(done)) if done else r["plan"]["iterations"]
        vs = "-" if r["fresh"] or fresh is None else "{}/{}".format(*fresh_wins(fresh, r))
        render = "0 (in the budget)" if r["fresh"] else f"{r['render_core_min']:.1f}"
        lines.append(f"| {r['label']} | `{r['arm']}` | {r['plan']['seconds_per_iter']:.2f} | {iters} "
                     f"| {iters * r['batch']} | {spent} | {_cell(r['ap'], runs)} | {_cell(r['ar'], runs)} "
                     f"| {_cell(r['pck'], runs)} | {vs} | {render} |")
    lines += ["", f"Mean +- std over seeds {seeds}; s / iter: the arm's calibration probe; iterations (mean over the "
              "seeds) and train min (the trainer's clock): what the runs really did; crops: iterations x batch. Same "
              "network, initial weights and schedule shape; one run at a time on the whole machine. One-off render: "
              f"scenes x {RENDER_CORE_S} core-s (estimated, not in the budget).", "", f"Command: `{command}`."]
    return "\n".join(lines)


def val_split(sets: list[str]) -> Path:
    """The val annotation file of the recipe with ``sets`` (rendered, or reused, by the first run)."""
    from kdpose.engine.config import load_recipe
    from kdpose.tasks.synthetic import synthetic_split_paths

    cfg = load_recipe(REPO / "configs" / RECIPE, sets)
    return synthetic_split_paths(cfg.data, cfg.data.val, "val")[0]


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def trained_on(rows: list[dict]) -> str:
    """"Trained on: <cpu> (N runs), ..." over the seeds' recorded CPUs ("" when none is known)."""
    cpus: dict[str, int] = {}
    for row in rows:
        for s in row["seeds"]:
            if s.get("cpu"):
                cpus[s["cpu"]] = cpus.get(s["cpu"], 0) + 1
    return ("Trained on: " + ", ".join(f"{cpu} ({n} run{'s' * (n > 1)})" for cpu, n in cpus.items()) + "."
            if cpus else "")


def machine() -> dict:
    from kdpose.engine.precision import available_cores
    from kdpose.export.peaks import cpu_report

    return {"cpu": cpu_report()["cpu"], "cores": available_cores()}


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a bad value before the first (long) training run."""
    from kdpose.utils.io import check_output_dir

    require_at_least(parser, args, seeds=0, scenes=1)
    if args.minutes is not None and not args.minutes > 0:
        parser.error(f"--minutes must be > 0, got {args.minutes}")
    if args.threads != "auto" and not (args.threads.isdigit() and int(args.threads) >= 1):
        parser.error(f"--threads must be 'auto' or a count >= 1, got '{args.threads}'")
    check_output_dir(args.out, "--out")
    check_output_dir(args.work_root, "--work-root")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, "fresh_vs_cached", "tiny data and a budget of seconds (pipeline smoke test)")
    parser.set_defaults(out=REPO / "benchmarks" / "results" / "fresh_vs_cached")
    parser.add_argument("--minutes", type=float, help=f"training minutes per run (default {DEFAULT_MINUTES:g}; "
                                                      f"quick {QUICK_MINUTES:g})")
    parser.add_argument("--scenes", nargs="+", type=int, help=f"cached split sizes (default {DEFAULT_SCENES})")
    parser.add_argument("--threads", default="auto", help="torch threads of each run (default auto: all cores)")
    parser.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    check_args(parser, args)
    quick = args.quick
    minutes = args.minutes or (QUICK_MINUTES if quick else DEFAULT_MINUTES)
    arms = arms_of(args.scenes or (QUICK_SCENES if quick else DEFAULT_SCENES))
    batch, max_epoch_iters = (QUICK_BATCH, QUICK_EPOCH_ITERS) if quick else (BATCH, EPOCH_ITERS)
    root = args.work_root / ("quick" if quick else "full")
    cache = root / "synth" if quick else REPO / ".kdpose_cache" / "synth"  # the teacher recipe's renders
    base = [f"train.device={args.device}", f"train.threads={args.threads}", f"data.cache_dir={cache}",
            f"train.log_interval={LOG_INTERVAL}", "train.tensorboard=false"]
    if quick:
        base += quick_standard_sets(batch)  # log every iteration, no loader workers
    epoch_crops = max_epoch_iters * batch
    if not args.report_only:
        print(f"estimate: {estimate_minutes(len(arms), len(args.seeds), minutes):.0f} minutes of the 2-core CPU "
              "(module doc)", flush=True)
    records = args.out / ("records_quick" if quick else "records") / f"{minutes:g}min"
    plans = {}
    for arm in arms:
        folder = root / f"{minutes:g}min" / arm.name
        folder.mkdir(parents=True, exist_ok=True)
        saved = read_json(records / arm.name / "plan.json") or read_json(folder / "plan.json")
        if saved is not None:
            plans[arm.name] = saved
        elif not args.report_only:
            iters = QUICK_CALIBRATE_ITERS if quick else CALIBRATE_ITERS
            s = calibrate(arm, root / "calibrate" / arm.name, base + arm.overrides(epoch_crops), iters)
            plans[arm.name] = plan(s, minutes, max_epoch_iters)
        if arm.name in plans:
            write_json(folder / "plan.json", plans[arm.name], indent=1)
            write_json(records / arm.name / "plan.json", plans[arm.name], indent=1)
    ann = val_split(base)

    def seed_row(arm: Arm, seed: int) -> dict:
        """The seed's record; else, once its run has finished, the record made now from its work dir."""
        record = read_json(records / arm.name / f"seed{seed}.json")
        work = root / f"{minutes:g}min" / arm.name / f"seed{seed}"
        if record is None and (work / "final.safetensors").is_file():
            record = {**read_seed(work, seed, ann), "cpu": machine()["cpu"]}
            write_json(records / arm.name / f"seed{seed}.json", record, indent=1)
        return record or read_seed(work, seed, ann)

    for seed in args.seeds:  # seed-major: an interrupted session still has every arm's first seed
        for arm in arms:
            if arm.name not in plans or (records / arm.name / f"seed{seed}.json").is_file():
                continue
            if not args.report_only:
                sets = base + arm.overrides(epoch_crops) + schedule_sets(plans[arm.name]) + [f"train.seed={seed}"]
                launch(train_command(RECIPE, root / f"{minutes:g}min" / arm.name / f"seed{seed}", sets))
            seed_row(arm, seed)
    rows = [summarise(arm, plans[arm.name], [seed_row(arm, s) for s in args.seeds], batch)
            for arm in arms if arm.name in plans]
    command = (f"python benchmarks/fresh_vs_cached.py --minutes {minutes:g} --seeds {' '.join(map(str, args.seeds))}"
               + (f" --scenes {' '.join(map(str, args.scenes))}" if args.scenes else "")
               + (" --quick" if quick else ""))
    text = format_table(rows, args.seeds, minutes, quick, command)
    text += f" {trained_on(rows)}" if trained_on(rows) else ""
    payload = {"command": command, "budget_minutes": minutes, "seeds": args.seeds, "batch": batch,
               "machine": machine(), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "results_quick" if quick else "results"
    (args.out / f"{stem}.json").write_text(json.dumps(payload, indent=1))
    (args.out / f"{stem}.md").write_text(text + "\n")
    if not quick and not args.no_markdown:
        write_section("fresh_vs_cached", "table", text, REPO / "BENCHMARKS.md")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
