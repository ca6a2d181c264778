"""RTMPose's roadmap in miniature (paper Fig. 3, Tables 2-3; issue 23) on the `standard` preset:
``python benchmarks/rtmpose/roadmap.py --seeds 0 1 2``.

Every row is an RTMPose-t-sized network (CSPNeXt-t backbone started from the shipped tag
``cspnext-t-udp.synth-demo-backbone_96x64``, ``model.init_weights`` + ``init_prefix: backbone.``), body 17 (coco
layout), input 96x128, trained for ``--iters`` iterations of batch 32 from configs/rtmpose-t_roadmap_synth-standard.yaml
on the data of configs/rtmpose-m_synth-standard.yaml (20000 `standard` scenes, 500 val images with ground-truth
boxes; same keys, so the renders under .kdpose_cache/synth/ are shared). Rows (``--rows``; the reference row
``rtmpose`` is always trained):

* ``heatmap``: the same backbone under a UDP heatmap head (``cspnext-t-udp``): heatmap vs SimCC (paper Table 1);
* ``rtmpose``: RTMPose-t as released, the reference: 7x7 head conv, 1/tau = 10, separate x/y sigmas;
* ``loss-beta-1``: 1/tau = 1 in the KL loss's two softmaxes (``model.kwargs.loss_beta``; paper eq. 5, Table 3);
* ``shared-sigma``: one sigma on both axes (``model.kwargs.sigma``, the x rule's 3.46 bins; paper eq. 6);
* ``kernel-1x1``: a 1x1 first head conv, SimCC's (``model.kwargs.final_layer_kernel_size``; paper Table 2);
* not by default: ``kernel-3x3``, ``kernel-5x5``, ``kernel-9x9`` (the rest of Table 2) and ``loss-beta-5``,
  ``loss-beta-15`` (the rest of Table 3).

The paper walks the roadmap forwards, each step added to the last; here each row takes one step back from the final
model, as its Tables 2-3 do, so that every row is paired with the same reference on the same seed.

The table gives AP (pycocotools, the trainer's validation) and PCK@0.2 (ground-truth boxes) in %, mean +- std over
the seeds, how many seeds beat the reference row of the same seed, the paper's COCO number for the step, and each
row's params, GMACs (the paper's GFLOPs) and CPU latency (batch 1, one thread) at 96x128.

Budget, ESTIMATED (to be replaced by the measured minutes the table prints): an RTMPose-t training step at 96x128,
batch 32, fp32, on the 2-core AVX2 CPU takes ~0.45 s in the full loop (71 samples/s, BENCHMARKS.md "Training loop
vs bare model step"); the heatmap row's CSPNeXt-t with three 256-channel deconvolutions (0.356 vs 0.095 GMACs) ~1.2 s
(4.2 min per fp32 epoch of 199 iterations, BENCHMARKS.md "The learning rate, not the data"); plus ~1.5 min per run
for start-up, validation and PCK. Default rows and ``--iters 1000``: per seed 4 x 1000 x 0.45 s + 1000 x 1.2 s +
5 x 1.5 min = 58 min, 3 seeds ~2.9 h (``estimate_minutes``). Each extra SimCC row adds ~27 min for 3 seeds.

Outputs: ``<work-root>/full/it<iters>/<row>/seed<S>/`` (default ``work_dirs/rtmpose_roadmap_bench``; a cut budget
never mixes with another), ``<out>/results[_quick].json|md`` (default benchmarks/rtmpose/) and the table between
``<!-- rtmpose:roadmap -->`` markers of BENCHMARKS.md (not with ``--quick`` or ``--no-markdown``).

``--quick``: a pipeline smoke test, tiny 320x240 splits rendered into the work root's own cache, batch 8, 5
iterations per row; its numbers mean nothing.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared driver pieces

from _miniature import (CONFIGS, REPO, add_run_arguments, mean_std, measure_cost, quick_standard_sets,  # noqa: E402
                        read_metrics, train, training_minutes, work_folders, write_results, write_section)

from kdpose.utils.entry import guarded, require_at_least  # noqa: E402

RECIPE = "rtmpose-t_roadmap_synth-standard.yaml"
INPUT_SIZE = (96, 128)
SIMCC_MODEL, HEATMAP_MODEL = "rtmpose-t", "cspnext-t-udp"
SHARED_SIGMA = 3.46  # RTMPose's x rule sqrt(192 bins / 16) on both axes: only y's sigma (4.0) changes
EPOCHS = 5  # the iterations as 5 epochs: cosine from the 3rd, weak augmentation (stage 2) in the last
DEFAULT_ITERS = 1000  # the estimate in the module doc
QUICK_ITERS = 5
# estimate of a train step (s, batch 32, 96x128, fp32, 2 cores) per network, and of each run's start-up + eval + PCK
STEP_SECONDS = {SIMCC_MODEL: 0.45, HEATMAP_MODEL: 1.2}
RUN_OVERHEAD_MIN = 1.5
QUICK = quick_standard_sets()
REFERENCE = "rtmpose"


@dataclass(frozen=True)
class Row:
    """One table row: the reference recipe with ``model`` and ``kwargs`` (``model.kwargs``) changed."""

    name: str
    label: str
    paper: str
    model: str = SIMCC_MODEL
    kwargs: dict[str, Any] = field(default_factory=dict)

    def overrides(self) -> list[str]:
        over = [] if self.model == SIMCC_MODEL else [f"model.name={self.model}"]
        if self.kwargs:
            entries = ", ".join(f"{key}: {value}" for key, value in self.kwargs.items())
            over.append(f"model.kwargs={{{entries}}}")
        return over


ROWS = {r.name: r for r in [
    Row("heatmap", "heatmap head (UDP) on the same backbone", "Table 1 (ResNet-50): heatmap 71.8, SimCC 72.1",
        model=HEATMAP_MODEL),
    Row(REFERENCE, "RTMPose-t: 7x7 conv, 1/tau 10, separate sigmas", "73.3 (CSPNeXt-m, end of section 3.4)"),
    Row("loss-beta-1", "1/tau = 1 (no temperature)", "Table 3: unstable; tau 0.1 took 71.9 to 72.7",
        kwargs={"loss_beta": 1.0}),
    Row("shared-sigma", f"one sigma ({SHARED_SIGMA} bins) on both axes", "72.7 (separate: 72.8)",
        kwargs={"sigma": SHARED_SIGMA}),
    Row("kernel-1x1", "1x1 head conv", "Table 2: 72.8", kwargs={"final_layer_kernel_size": 1}),
    Row("kernel-3x3", "3x3 head conv", "Table 2: 73.2", kwargs={"final_layer_kernel_size": 3}),
    Row("kernel-5x5", "5x5 head conv", "Table 2: 73.2", kwargs={"final_layer_kernel_size": 5}),
    Row("kernel-9x9", "9x9 head conv", "Table 2: 73.0", kwargs={"final_layer_kernel_size": 9}),
    Row("loss-beta-5", "1/tau = 5", "Table 3: 73.1", kwargs={"loss_beta": 5.0}),
    Row("loss-beta-15", "1/tau = 15", "Table 3: 73.0", kwargs={"loss_beta": 15.0}),
]}
DEFAULT_ROWS = ["heatmap", REFERENCE, "loss-beta-1", "shared-sigma", "kernel-1x1"]


def selected(names: list[str]) -> list[Row]:
    """The rows ``names`` in table order, with the reference row added when missing."""
    wanted = set(names) | {REFERENCE}
    return [row for name, row in ROWS.items() if name in wanted]


def schedule_sets(iters: int) -> list[str]:
    """``iters`` iterations (rounded down to a multiple of ``EPOCHS``) as epochs of the trainer: the last one in
    stage 2, warm-up over the first tenth, validation once at the end."""
    return [f"train.max_epochs={EPOCHS}", f"train.epoch_iters={iters // EPOCHS}", "train.stage2_epochs=1",
            f"schedule.warmup_iters={max(1, iters // 10)}", f"eval.interval={EPOCHS}"]


def estimate_minutes(rows: list[Row], seeds: int, iters: int) -> float:
    """The module doc's estimate of the training wall time (2-core CPU, fp32)."""
    per_seed = sum(iters * STEP_SECONDS[row.model] / 60 + RUN_OVERHEAD_MIN for row in rows)
    return seeds * per_seed


def val_split(sets: list[str]) -> Path:
    """The val annotation file the recipe with ``sets`` renders (or reuses) in its synthetic cache."""
    from kdpose.engine.config import load_recipe
    from kdpose.tasks.synthetic import synthetic_split_paths

    cfg = load_recipe(CONFIGS / RECIPE, sets)
    return synthetic_split_paths(cfg.data, cfg.data.val, "val")[0]


def run_pck(work: Path, row: Row, ann: Path) -> float | None:
    """PCK@0.2 of ``work``'s final weights on the val annotations (ground-truth boxes), cached in ``pck.json``. The
    weights file's header rebuilds the row's head (kernel) and codec (sigma)."""
    cached, weights = work / "pck.json", work / "final.safetensors"
    if cached.is_file():
        return json.loads(cached.read_text())["pck"]
    if not (weights.is_file() and ann.is_file()):
        return None
    from kdpose.inference import PoseEstimator
    from kdpose.inference.pck import pck_on_annotations

    estimator = PoseEstimator(row.model, weights=str(weights), layout="coco", input_size=INPUT_SIZE, device="cpu")
    value = pck_on_annotations(estimator, ann, "coco")
    cached.write_text(json.dumps({"pck": value}))
    return value


def summarise(row: Row, dirs: dict[int, Path], ann: Path) -> dict:
    """Per-seed final AP, PCK and training minutes of one row, and their mean +- std."""
    seeds = []
    for seed, work in dirs.items():
        ap = read_metrics(work)["final_ap"]
        seeds.append({"seed": seed, "ap": ap, "pck": run_pck(work, row, ann) if ap is not None else None,
                      "minutes": training_minutes(work)})
    return {"seeds": seeds, **{m: mean_std([s[m] for s in seeds if s[m] is not None]) for m in ("ap", "pck")}}


def higher_on(row: dict, ref: dict, metric: str) -> tuple[int, int]:
    """(seeds where ``row`` beats ``ref`` on ``metric``, seeds where both have it)."""
    ref_by_seed = {s["seed"]: s[metric] for s in ref["seeds"] if s[metric] is not None}
    pairs = [(s[metric], ref_by_seed[s["seed"]]) for s in row["seeds"]
             if s[metric] is not None and s["seed"] in ref_by_seed]
    return sum(a > b for a, b in pairs), len(pairs)


def _cell(stats: tuple[float | None, float | None], runs: int) -> str:
    mean, std = stats
    if mean is None:
        return "not run"
    return f"{100 * mean:.2f} (1 run)" if runs == 1 else f"{100 * mean:.2f} +- {100 * std:.2f}"


def format_table(rows: list[Row], results: dict[str, dict], seeds: list[int], iters: int, quick: bool,
                 command: str) -> str:
    """The markdown table of ``rows`` (``results``: ``summarise`` + ``measure_cost`` per row) and its footnote."""
    note = " (QUICK smoke settings: numbers are meaningless)" if quick else ""
    title = "RTMPose roadmap in miniature (`standard` preset, 96x128, CSPNeXt-t from the shipped backbone)"
    lines = [f"**{title}**{note}", "",
             f"| row | run | network | AP % | PCK@0.2 % | vs `{REFERENCE}`: AP / PCK higher on | params (M) | GMACs "
             "| CPU ms | paper (COCO val AP) |", "|---|---|---|---|---|---|---|---|---|---|"]
    ref = results[REFERENCE]
    for row in rows:
        r = results[row.name]
        runs = len([s for s in r["seeds"] if s["ap"] is not None])
        vs = "reference"
        if row.name != REFERENCE:
            (aw, at), (pw, pt) = higher_on(r, ref, "ap"), higher_on(r, ref, "pck")
            vs = f"{aw}/{at} / {pw}/{pt}"
        lines.append(f"| {row.label} | `{row.name}` | {row.model} | {_cell(r['ap'], runs)} | {_cell(r['pck'], runs)} "
                     f"| {vs} | {r['params_m']:.2f} | {r['gflops']:.3f} | {r['cpu_ms']:.1f} | {row.paper} |")
    minutes = sum(s["minutes"] or 0.0 for r in results.values() for s in r["seeds"])
    batch = 8 if quick else 32
    lines += ["", f"AP and PCK@0.2 in %, mean +- std over seeds {seeds}, {EPOCHS * (iters // EPOCHS)} iterations of "
              f"batch {batch} per run; \"higher on\": seeds where the row beats `{REFERENCE}` of the same seed. "
              "Paper: RTMPose-m's roadmap on COCO val (CSPNeXt-m, 256x192), one run per step.", "",
              f"Command: `{command}` ({minutes:.0f} training minutes in all)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, "rtmpose_roadmap", "tiny data and 5 iterations per row (pipeline smoke test)")
    parser.set_defaults(out=REPO / "benchmarks" / "rtmpose")
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=DEFAULT_ROWS,
                        help=f"rows to train (default: {' '.join(DEFAULT_ROWS)}; {REFERENCE} is always added)")
    parser.add_argument("--iters", type=int, help=f"iterations of every row (default {DEFAULT_ITERS}, quick "
                                                  f"{QUICK_ITERS}; rounded down to a multiple of {EPOCHS})")
    parser.add_argument("--threads", default="auto", help="torch threads of each run (default auto: all cores)")
    parser.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    if args.iters is not None and args.iters < EPOCHS:
        parser.error(f"--iters: at least {EPOCHS} (one iteration per epoch)")
    require_at_least(parser, args, seeds=0)
    if args.threads != "auto" and not (args.threads.isdigit() and int(args.threads) >= 1):
        parser.error(f"--threads must be 'auto' or a count >= 1, got '{args.threads}'")
    from kdpose.utils.io import check_output_dir

    check_output_dir(args.out, "--out")
    check_output_dir(args.work_root, "--work-root")
    iters = args.iters or (QUICK_ITERS if args.quick else DEFAULT_ITERS)
    rows = selected(args.rows)
    root, quick_cache = work_folders(args.work_root, args.quick)
    cache = quick_cache if args.quick else REPO / ".kdpose_cache" / "synth"  # the RTMPose-m recipe's renders
    base = [f"train.device={args.device}", f"train.threads={args.threads}", f"data.cache_dir={cache}"]
    quick = QUICK if args.quick else []
    dirs = {row.name: {seed: root / f"it{iters}" / row.name / f"seed{seed}" for seed in args.seeds} for row in rows}
    if not args.report_only:
        print(f"estimate: {estimate_minutes(rows, len(args.seeds), iters):.0f} minutes of the 2-core CPU "
              "(module doc)", flush=True)
        for seed in args.seeds:  # seed-major: an interrupted session still has every row's first seed
            for row in rows:
                sets = base + schedule_sets(iters) + quick + [f"train.seed={seed}"] + row.overrides()
                train(RECIPE, dirs[row.name][seed], sets)
    ann = val_split(base + quick)
    results = {}
    for row in rows:
        cost = measure_cost(row.model, INPUT_SIZE, **row.kwargs)
        results[row.name] = {"run": row.name, "model": row.model, "kwargs": row.kwargs,
                             **summarise(row, dirs[row.name], ann), **cost}
    command = (f"python benchmarks/rtmpose/roadmap.py --seeds {' '.join(map(str, args.seeds))}"
               + (f" --rows {' '.join(args.rows)}" if args.rows != DEFAULT_ROWS else "")
               + (f" --iters {args.iters}" if args.iters else "") + (" --quick" if args.quick else ""))
    text = format_table(rows, results, args.seeds, iters, args.quick, command)
    if not args.quick and not args.no_markdown:
        write_section("rtmpose", "roadmap", text, REPO / "BENCHMARKS.md")
    write_results(args.out, args.quick, list(results.values()), text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
