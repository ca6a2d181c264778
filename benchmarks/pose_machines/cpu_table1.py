"""Table I of the depth-pose-machines paper (architectures: accuracy next to parameters and forward time) at CPU
scale.

The paper trains CPM / RPM / SPM / MPM cascades (1-4 stages, Nw = 64) to convergence on a GPU and reports AP / AR / F
on all landmarks and on the upper body, the parameter count and the FPS. ``speed.py`` measures the efficiency
columns at the paper's widths and input size; ``run_table.py --table 1`` is the GPU-sized accuracy run. A pose
machine trained from scratch needs > 1000 steps before it predicts peaks, and on one CPU core an RPM step costs
about 8x and a CPM step about 30x an MPM step (measured below), so equal *steps* for all does not fit an hour of one
core. This driver compares the architectures at an **equal wall-clock training budget** instead (the budget of the
MPM-2S's 1200 steps, about 4 minutes on one core): an accuracy-vs-cost comparison on this machine, not a comparison
of what each architecture reaches when converged.

- every architecture: 2 stages, Nw = ``--width`` (32), trained **from scratch** on the 800 fused synthetic scenes
  of ``cpu_table4.py`` with ``cpu_table2.py``'s recipe (batch 8 of 184x184 crops, AdamW ``--lr`` 2e-3, warm-up
  min(50, steps / 10) + cosine); only the number of steps differs (``--steps KIND=N``, sized from the measured
  seconds per step so that each run trains about as long as the MPM's; the measured seconds are reported);
- the MPM-2S row is exactly ``cpu_table2.py``'s 100 % pretraining (same seeds, scenes, batches and schedule): when
  that network is on disk (``<table2 work>/share100/seed<S>_w32_steps1200_lr0.002_pretrain.safetensors``) it is
  loaded and scored instead of trained again (its training seconds read from cpu_table2's run file);
- ``--max-seeds KIND=N`` caps the seeds of an architecture (CPM: 1, its few steps say little anyway);
- ``--extra KIND=N`` adds a row: that architecture at N steps (e.g. the MPM's 1200: equal steps instead of equal
  time), for the first ``--extra-seeds`` seeds, run after all the others;
- metric (``cpu_table4.score``): the paper's PCK precision / recall / F at the best detection threshold, all
  landmarks and upper body, on 60 real-like test scenes and 60 held-out synthetic scenes, plus AP / AR and PCK@0.2;
- cost: parameters and the median CPU forward time (batch 1, one thread) at the evaluation input 248x184.

One run per (architecture, seed), one at a time, one torch thread, seed-major (every architecture gets seed 0
first); a finished run is read back from ``<work>/<kind>/seed<S>_<tag>.json``.

    python benchmarks/pose_machines/cpu_table1.py --seeds 0 1 2 --archs mpm spm rpm cpm \
        --steps mpm=1200 spm=500 rpm=150 cpm=40 --max-seeds cpm=1
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import cpu_table4 as T4  # noqa: E402  (also puts benchmarks/ on sys.path for _miniature)
from _miniature import REPO, mean_std_cell, read_finished, save_table  # noqa: E402

from kdpose.data.jsonfile import load_json  # noqa: E402
from kdpose.tasks.depth_setting import EVAL_SIZE, DepthBatches, PoseMachineSpec, build_pose_machine  # noqa: E402
from kdpose.utils.entry import guarded  # noqa: E402

KINDS = ("mpm", "spm", "rpm", "cpm")
LABELS = {"mpm": "MPM-2S", "spm": "SPM-2S", "rpm": "RPM-2S", "cpm": "CPM-2S (baseline)"}
DEFAULT_STEPS = {"mpm": 1200, "spm": 500, "rpm": 150, "cpm": 40}
PAPER = ("paper, Table I (DIH real test set, Nw = 64, trained to convergence; AP % / AR % / F all landmarks, F upper "
         "body, params, FPS on a GTX 1050): CPM-2S 94.0 / 89.0 / 0.91, 0.96, 17.07 M, 11.2 FPS; RPM-2S 94.8 / 86.4 / "
         "0.90, 0.95, 2.84 M, 35.2 FPS; SPM-2S 91.8 / 81.7 / 0.86, 0.94, 455.9 K, 60.6 FPS; MPM-2S 92.6 / 78.6 / 0.85, "
         "0.92, 168.2 K, 112.3 FPS")
COLUMNS = (("F real-like", "f_real"), ("F upper real-like", "f_real_upper"), ("AP % real-like", "ap_real"),
           ("AR % real-like", "ar_real"), ("PCK@0.2 % real-like", "pck_real"), ("F synthetic", "f_syn"),
           ("F upper synthetic", "f_syn_upper"), ("max conf real-like", "max_conf_real"))
PCT = {"ap_real", "ar_real", "pck_real"}
TABLE2_WORK = REPO / "work_dirs" / "pose_machines_cpu_table2"


def parse_kind_values(items: list[str], what: str) -> dict[str, int]:
    """``["mpm=1200", "rpm=150"]`` -> {"mpm": 1200, "rpm": 150}; a clear error for an unknown kind or a bad value."""
    out = {}
    for item in items:
        kind, sep, value = item.partition("=")
        if not sep or kind not in KINDS or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"cpu_table1.py: error: bad {what} '{item}' (expected KIND=N with KIND in "
                             f"{', '.join(KINDS)} and N >= 1)")
        out[kind] = int(value)
    return out


def run_tag(steps: int, args: argparse.Namespace) -> str:
    """The run file's tag: width, steps, lr and (when not the default) the scene counts."""
    tag = f"w{args.width}_steps{steps}_lr{args.lr:g}"
    if args.scenes != [T4.N_TRAIN, T4.N_TEST]:
        tag += "_scenes" + "-".join(map(str, args.scenes))
    return tag


def table2_pretraining(kind: str, seed: int, steps: int, args: argparse.Namespace, root: Path = TABLE2_WORK
                       ) -> tuple[Path, Path] | None:
    """(weights, run file) of cpu_table2's 100 % pretraining when it is this exact run (MPM, same width, steps, lr
    and synthetic scenes) and is on disk, else None."""
    if kind != "mpm" or args.scenes[0] != T4.N_TRAIN:
        return None
    tag = f"w{args.width}_steps{steps}_lr{args.lr:g}"
    weights = root / "share100" / f"seed{seed}_{tag}_pretrain.safetensors"
    if not weights.is_file():
        return None
    runs = sorted(weights.parent.glob(f"seed{seed}_{tag}_ft*.json"))
    return weights, (runs[0] if runs else weights.with_suffix(".json"))


def forward_ms(kind: str, width: int, frames: int = 10) -> float:
    """Median CPU forward time (ms; batch 1, one thread) at the evaluation input size."""
    from kdpose.export.bench import bench_torch

    model = build_pose_machine(PoseMachineSpec(kind, 2, width), seed=0, input_size=EVAL_SIZE)
    return float(bench_torch(model, batch=1, threads=1, warmup=2, iters=frames).median_ms)


def train_one(kind: str, seed: int, steps: int, args: argparse.Namespace, data: T4.Data, out_file: Path) -> dict:
    """Train from scratch (or load cpu_table2's identical MPM pretraining) and score; writes and returns it."""
    from safetensors.torch import load_file

    from kdpose.tasks.steps import StepSchedule, train_steps
    from kdpose.utils.io import write_json

    start = time.perf_counter()
    model = build_pose_machine(PoseMachineSpec(kind, 2, args.width), seed=seed)
    result: dict = {"kind": kind, "seed": seed, "steps": steps, "lr": args.lr, "width": args.width,
                    "params": sum(p.numel() for p in model.parameters())}
    reuse = table2_pretraining(kind, seed, steps, args, args.table2_work)
    if reuse is not None:
        model.load_state_dict(load_file(str(reuse[0])))
        result["reused_from"] = str(reuse[0].relative_to(REPO) if reuse[0].is_relative_to(REPO) else reuse[0])
        if reuse[1].is_file():
            result["train_s"] = json.loads(reuse[1].read_text()).get("train_s")
    else:
        log = train_steps(model, DepthBatches(data.synthetic, model.codec, 8, seed),
                          StepSchedule(steps, lr=args.lr, warmup=min(50, max(1, steps // 10))),
                          interval=max(1, steps // 10))
        result.update(log=log.rows, train_s=log.seconds)
    result["eval"] = T4.score(model, data)
    result["wall_s"] = time.perf_counter() - start
    write_json(out_file, result, indent=1)
    return result


# ------------------------------------------------------------------------------------------------------ report
def paired(a: dict[int, dict], b: dict[int, dict], metric: str) -> str:
    """'k/n': on how many common seeds ``a[seed]["eval"][metric]`` is higher than ``b``'s."""
    common = sorted(set(a) & set(b))
    if not common:
        return "n/a"
    return f"{sum(a[s]['eval'][metric] > b[s]['eval'][metric] for s in common)}/{len(common)}"


def format_table(results: dict[str, dict[int, dict]], costs: dict[str, dict], args: argparse.Namespace,
                 command: str) -> str:
    head = (["architecture", "params", f"CPU forward ms ({EVAL_SIZE[0]}x{EVAL_SIZE[1]})", "steps", "train s / run",
             "seeds"] + [c for c, _ in COLUMNS] + ["F real > MPM", "F syn > MPM"])
    lines = [f"**Table I at CPU scale: 2-stage pose machines, Nw={args.width}, from scratch, an equal wall-clock "
             "training budget per architecture**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    mpm = results.get("mpm", {})
    for row in row_names(args):
        vals = results.get(row, {})
        if not vals:  # an architecture not run (or failed) is left out, not shown as zeros
            continue
        kind, _, extra = row.partition("@")
        cost = costs.get(kind, {})
        train_s = [v["train_s"] for v in vals.values() if v.get("train_s") is not None]
        cells = [f"{cost['params'] / 1e3:.0f} K" if "params" in cost else "n/a",
                 f"{cost['forward_ms']:.0f}" if "forward_ms" in cost else "n/a",
                 ",".join(map(str, sorted({v["steps"] for v in vals.values()}))),
                 f"{np.mean(train_s):.0f}" if train_s else "n/a", str(len(vals))]
        cells += [mean_std_cell([v["eval"][k] for v in vals.values()], k in PCT) for _, k in COLUMNS]
        cells += ["-", "-"] if row == "mpm" else [paired(vals, mpm, "f_real"), paired(vals, mpm, "f_syn")]
        label = LABELS[kind] + (f", {extra} steps (extra row)" if extra else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    n_syn, n_test = args.scenes
    lines += ["", f"Mean +- std over seeds {args.seeds} (initial weights and batch order; fewer where capped: "
              f"{', '.join(f'{k} {v}' for k, v in args.max_seeds.items()) or 'none'}). Every network: 2 stages, "
              f"Nw={args.width}, trained from scratch on {n_syn} fused synthetic scenes, batch 8 of 184x184 crops, "
              f"AdamW lr {args.lr:g}, warm-up + cosine; the steps per architecture were sized from the measured "
              "seconds per step on one core so that each run trains about as long as the MPM-2S's steps (train s: "
              "the measured training seconds, mean over seeds, on a machine shared with other jobs). The MPM-2S "
              "networks are cpu_table2.py's 100 % pretraining (the identical run, loaded, not trained again). F: "
              f"the paper's PCK precision/recall F at the best detection threshold (all landmarks; upper body: "
              f"COCO ids 0-10: head, shoulders, elbows, wrists) on {n_test} real-like test scenes and {n_test} "
              "held-out synthetic scenes; AP / AR / PCK@0.2 at that threshold (a network that outputs no keypoint "
              "scores AP 0, AR 0, F 0: a labelled landmark type without predictions counts as precision 0; tables "
              "measured before 2026-12-05 counted it as precision 1, so such a network read AP 100 there); "
              "max conf: the largest keypoint "
              "confidence on the real-like scenes (whether the network has left the all-background phase). Params "
              "and CPU forward time (median of 10 frames, batch 1, one thread) of the same networks; speed.py has the "
              "paper-width numbers. Last columns: on how many common seeds the row beats the MPM-2S. "
              + (f"Extra rows: that architecture trained for the given number of steps instead (equal steps rather "
                 f"than equal time), seeds {args.seeds[: args.extra_seeds]}. " if args.extra else "") + PAPER + ".",
              f"Command: `python benchmarks/pose_machines/cpu_table1.py {command}`"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--archs", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--steps", nargs="+", default=[f"{k}={v}" for k, v in DEFAULT_STEPS.items()],
                        metavar="KIND=N", help="training steps per architecture (from scratch)")
    parser.add_argument("--max-seeds", nargs="*", default=["cpm=1"], metavar="KIND=N",
                        help="at most N of --seeds for that architecture")
    parser.add_argument("--extra", nargs="*", default=[], metavar="KIND=N",
                        help="extra rows: KIND trained for N steps (e.g. the MPM's step count: equal steps)")
    parser.add_argument("--extra-seeds", type=int, default=1, help="seeds of the extra rows (the first of --seeds)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--width", type=int, default=32, help="Nw of every cascade")
    parser.add_argument("--scenes", type=int, nargs=2, default=[T4.N_TRAIN, T4.N_TEST], metavar=("SYN", "TEST"),
                        help="synthetic training and test scene counts (smaller: smoke tests)")
    parser.add_argument("--work", type=Path, default=REPO / "work_dirs" / "pose_machines_cpu_table1")
    parser.add_argument("--table2-work", type=Path, default=TABLE2_WORK,
                        help="cpu_table2.py's work folder (its identical MPM pretraining is reused)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--markdown", type=Path, default=REPO / "BENCHMARKS.md", help="'-': do not write it")
    parser.add_argument("--section", default="cpu-table1", help="the BENCHMARKS.md marker key")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    T4.check_table_args(parser, args, extra_seeds=0, width=1)
    steps = {**DEFAULT_STEPS, **parse_kind_values(args.steps, "--steps")}
    args.steps = {k: steps[k] for k in KINDS}
    args.max_seeds = parse_kind_values(args.max_seeds, "--max-seeds")
    args.extra = parse_kind_values(args.extra, "--extra")
    return args


def row_names(args: argparse.Namespace) -> list[str]:
    """The table's rows: one per architecture (``kind``), then the extra rows (``kind@steps``)."""
    return list(args.archs) + [f"{kind}@{steps}" for kind, steps in args.extra.items()]


def planned_runs(args: argparse.Namespace) -> list[tuple[str, str, int, int]]:
    """(row, kind, steps, seed), seed-major (every architecture gets its first seed before any gets a second),
    the extra rows (first ``--extra-seeds`` seeds) after all the others."""
    main = [(kind, kind, args.steps[kind], seed) for i, seed in enumerate(args.seeds) for kind in args.archs
            if i < args.max_seeds.get(kind, len(args.seeds))]
    extra = [(f"{kind}@{steps}", kind, steps, seed) for seed in args.seeds[: args.extra_seeds]
             for kind, steps in args.extra.items()]
    return main + extra


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = {(row, seed): (kind, steps) for row, kind, steps, seed in planned_runs(args)}
    files = {(row, seed): args.work / kind / f"seed{seed}_{run_tag(steps, args)}.json"
             for (row, seed), (kind, steps) in plan.items()}
    todo = [key for key, f in files.items() if not f.is_file()]
    costs_file = args.work / f"costs_w{args.width}.json"
    costs = load_json(costs_file) if costs_file.is_file() else {}
    if not args.report_only:
        torch.set_num_threads(1)
        from kdpose.utils.io import write_json

        # cheap (seconds): params and forward time, measured once per width
        for kind in dict.fromkeys(list(args.archs) + list(args.extra)):
            if kind not in costs:
                model = build_pose_machine(PoseMachineSpec(kind, 2, args.width))
                costs[kind] = {"params": sum(p.numel() for p in model.parameters()),
                               "forward_ms": forward_ms(kind, args.width)}
                args.work.mkdir(parents=True, exist_ok=True)
                write_json(costs_file, costs, indent=1)
        if todo:
            data = T4.load_data(args.scenes[0], 0, args.scenes[1], 0)
            for row, seed in todo:
                kind, steps = plan[row, seed]
                files[row, seed].parent.mkdir(parents=True, exist_ok=True)
                try:
                    r = train_one(kind, seed, steps, args, data, files[row, seed])
                    print(f"{row} seed {seed}: F real-like {r['eval']['f_real']:.3f}, synthetic "
                          f"{r['eval']['f_syn']:.3f}, max conf {r['eval']['max_conf_real']:.2f}, "
                          f"{r['wall_s']:.0f} s", flush=True)
                except Exception as err:  # one failed run must not lose the others
                    print(f"FAILED {row} seed {seed}: {type(err).__name__}: {err}", flush=True)
    results = read_finished(files)
    command = (f"--seeds {' '.join(map(str, args.seeds))} --archs {' '.join(args.archs)} --steps "
               + " ".join(f"{k}={args.steps[k]}" for k in args.archs)
               + " --max-seeds " + " ".join(f"{k}={v}" for k, v in args.max_seeds.items())
               + f" --lr {args.lr:g} --width {args.width}")
    if args.extra:
        command += (" --extra " + " ".join(f"{k}={v}" for k, v in args.extra.items())
                    + f" --extra-seeds {args.extra_seeds}")
    if args.scenes != [T4.N_TRAIN, T4.N_TEST]:
        command += f" --scenes {' '.join(map(str, args.scenes))}"
    command += f" --section {args.section}" if args.section != "cpu-table1" else ""
    text = format_table(results, costs, args, command)
    print(text)
    save_table(args.results, args.section.replace("-", "_"), results, text, args.markdown, "pose_machines",
               args.section, extra={"costs": costs})
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
