"""Table II of the depth-pose-machines paper (synthetic data share, background fusion on / off; before and after
finetuning on labelled real data) at CPU scale.

The paper trains RPM-2S on 25 / 50 / 75 / 100 % of its synthetic set (and on 100 % without background fusion), then
finetunes every model on the same 1750 labelled real images, and reports AP / AR / F on real data before and after.
``run_table.py --table 2`` is the GPU-sized version. Here, so that 3 seeds fit about an hour of one CPU core:

- the network is the demo's student size, an MPM-2S at Nw = 32 (53 K parameters), trained **from scratch** (a
  model that already saw the synthetic set, like the shipped one, cannot measure how much of it is needed);
- a share is a number of distinct synthetic scenes: the seed draws a random order of the 800 synthetic training
  scenes of ``cpu_table4.py`` and share p takes its first round(p x 800) (nested: the 25 % scenes are inside the
  50 % ones). Every row gets the same number of steps (``--steps``, batch 8 of 184x184 crops, AdamW ``--lr``,
  warm-up + cosine), so a smaller share sees each scene more often, not fewer images;
- ``no-fusion``: all 800 scenes (the same people and poses) without background fusion, silhouette dropout kept;
- "after finetuning": ``--ft-steps`` more steps (AdamW ``--ft-lr``, warm-up + cosine) on the same 200 labelled
  "real-like" scenes for every row and seed;
- ``control`` (not in the paper): the 100 % row's pretrained network given the same ``--ft-steps`` steps and
  schedule on its own synthetic scenes instead, which separates "finetuning on real-like data" from "a second
  short schedule".

The seed sets the network's initial weights, the share's scenes and the batch order. Metric: the paper's PCK
precision / recall / F (best detection threshold) on 60 real-like test scenes (the "real" data) and 60 held-out
synthetic scenes, plus PCK@0.2, before and after finetuning (``cpu_table4.score``). One run per (row, seed), one
at a time, one torch thread; a finished run is read back from ``<work>/<row>/seed<S>_<tag>.json``, a pretrained
network from ``seed<S>_<pretraining tag>_pretrain.safetensors`` (so a changed finetuning reuses the pretraining).

    python benchmarks/pose_machines/cpu_table2.py --seeds 0 1 2 --runs share25 share50 share100 no-fusion
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import cpu_table4 as T4  # noqa: E402  (also puts benchmarks/ on sys.path for _miniature)
from _miniature import REPO, mean_std_cell, read_finished, save_table  # noqa: E402

from kdpose.tasks.depth_setting import DepthBatches, PoseMachineSpec, build_pose_machine  # noqa: E402
from kdpose.utils.entry import guarded  # noqa: E402

SHARES = {"share25": 0.25, "share50": 0.5, "share75": 0.75, "share100": 1.0, "no-fusion": 1.0, "control": 1.0}
RUNS = tuple(SHARES)
PRETRAIN_OF = {"control": "share100"}  # the control continues the 100 % row's pretrained network
LABELS = {"share25": "25 %", "share50": "50 %", "share75": "75 %", "share100": "100 %", "control":
          "100 %, then the same steps on its synthetic scenes (control)",
          "no-fusion": "100 % w/o background fusion"}
PAPER = ("paper, Table II (RPM-2S, DIH real data, F before / after finetuning): 25 % 0.41 / 0.86, 50 % 0.45 / 0.87, "
         "75 % 0.45 / 0.88, 100 % 0.46 / 0.91, 100 % without background fusion 0.06 / 0.82")
COLUMNS = (("F real-like", "f_real"), ("AP %", "ap_real"), ("AR %", "ar_real"), ("PCK@0.2 %", "pck_real"),
           ("F synthetic", "f_syn"))
PCT = {"ap_real", "ar_real", "pck_real"}
FT_SEED = 101  # the finetuning batches' seed offset (another stream than the pretraining batches)


def share_indices(n: int, share: float, seed: int) -> np.ndarray:
    """The synthetic scenes (indices into ``range(n)``, ascending) of a ``share`` for ``seed``: the first
    round(share x n) of a random order drawn from the seed, so the shares of one seed are nested."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    order = np.random.default_rng((int(seed), 2)).permutation(int(n))
    return np.sort(order[: max(1, round(share * n))])


def run_tags(args: argparse.Namespace) -> tuple[str, str]:
    """File-name tags: (pretraining: width, steps, lr and synthetic scene count; the whole run: also the finetuning
    and the real-like scene counts). A file is reused only with exactly the same setting."""
    pretrain = f"w{args.width}_steps{args.steps}_lr{args.lr:g}"
    run = f"{pretrain}_ft{args.ft_steps}_ftlr{args.ft_lr:g}"
    if args.scenes != [T4.N_TRAIN, T4.N_REAL_TRAIN, T4.N_TEST]:
        pretrain += f"_syn{args.scenes[0]}"
        run += "_scenes" + "-".join(map(str, args.scenes))
    return pretrain, run


def training_scenes(run: str, seed: int, data: T4.Data, cache: dict) -> list:
    """The pretraining scenes of a row: a share of the fused synthetic scenes, or all of them without fusion."""
    if run == "no-fusion":
        if "no-fusion" not in cache:
            cache["no-fusion"] = T4.no_fusion_scenes(len(data.synthetic))
        return cache["no-fusion"]
    return [data.synthetic[i] for i in share_indices(len(data.synthetic), SHARES[run], seed)]


def train_one(run: str, seed: int, args: argparse.Namespace, data: T4.Data, out_file: Path, weights: Path,
              cache: dict) -> dict:
    """Pretrain from scratch (or load the saved pretraining), score, finetune, score; writes and returns it."""
    from safetensors.torch import load_file, save_file

    from kdpose.tasks.steps import StepSchedule, train_steps
    from kdpose.utils.io import write_json

    start = time.perf_counter()
    model = build_pose_machine(PoseMachineSpec("mpm", 2, args.width), seed=seed)
    scenes = training_scenes(run, seed, data, cache)
    result: dict = {"run": run, "seed": seed, "scenes": len(scenes), "steps": args.steps, "ft_steps": args.ft_steps,
                    "lr": args.lr, "ft_lr": args.ft_lr, "width": args.width}
    if weights.is_file():
        model.load_state_dict(load_file(str(weights)))
        result["pretrain_reused"] = True
    else:
        log = train_steps(model, DepthBatches(scenes, model.codec, 8, seed),
                          StepSchedule(args.steps, lr=args.lr, warmup=min(50, max(1, args.steps // 10))),
                          interval=max(1, args.steps // 10))
        result.update(log=log.rows, train_s=log.seconds)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    result["before"] = T4.score(model, data)
    ft_scenes = scenes if run == "control" else data.real_train
    log = train_steps(model, DepthBatches(ft_scenes, model.codec, 8, seed + FT_SEED),
                      StepSchedule(args.ft_steps, lr=args.ft_lr, warmup=min(50, max(1, args.ft_steps // 10))),
                      interval=max(1, args.ft_steps // 5))
    result.update(ft_log=log.rows, ft_s=log.seconds, after=T4.score(model, data))
    result["wall_s"] = time.perf_counter() - start
    write_json(out_file, result, indent=1)
    return result


# ------------------------------------------------------------------------------------------------------ report
def paired(a: dict[int, dict], b: dict[int, dict], key_a: str, key_b: str, metric: str = "f_real") -> str:
    """'k/n': on how many common seeds ``a[key_a][metric]`` is higher than ``b[key_b][metric]``."""
    common = sorted(set(a) & set(b))
    if not common:
        return "n/a"
    return f"{sum(a[s][key_a][metric] > b[s][key_b][metric] for s in common)}/{len(common)}"


def format_table(results: dict[str, dict[int, dict]], args: argparse.Namespace, command: str) -> str:
    head = (["synthetic data", "scenes", "seeds"] + [f"{c} before" for c, _ in COLUMNS] + ["max conf before"]
            + [f"{c} after" for c, _ in COLUMNS] + ["F after > before", "F before > 100 %", "F after > 100 %"])
    lines = [f"**Table II at CPU scale: MPM-2S Nw={args.width} from scratch, {args.steps} synthetic steps, then "
             f"{args.ft_steps} finetuning steps on labelled real-like scenes**", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    full = results.get("share100", {})
    for run in RUNS:
        vals = results.get(run, {})
        if not vals:  # a row not run (or failed) is left out, not shown as zeros
            continue
        cells = [mean_std_cell([v["before"][k] for v in vals.values()], k in PCT) for _, k in COLUMNS]
        cells.append(mean_std_cell([v["before"]["max_conf_real"] for v in vals.values()], False))
        cells += [mean_std_cell([v["after"][k] for v in vals.values()], k in PCT) for _, k in COLUMNS]
        cells.append(paired(vals, vals, "after", "before"))
        cells += [("-" if run in ("share100", "control") else paired(vals, full, "before", "before")),
                  "-" if run == "share100" else paired(vals, full, "after", "after")]  # control: the same network
        n_scenes = sorted({v["scenes"] for v in vals.values()})
        lines.append(f"| {LABELS[run]} | {','.join(map(str, n_scenes))} | {len(vals)} | " + " | ".join(cells) + " |")
    n_syn, n_real, n_test = args.scenes
    lines += ["", f"Mean +- std over seeds {args.seeds} (initial weights, the share's scenes and the batch order). "
              f"Pretraining: {args.steps} steps from scratch on the row's synthetic scenes (a random share of "
              f"{n_syn}, nested per seed), AdamW lr {args.lr:g}, warm-up + cosine, batch 8 of 184x184 crops; "
              f"finetuning: {args.ft_steps} steps on the same {n_real} labelled real-like scenes, lr {args.ft_lr:g}. "
              f"F: the paper's PCK precision/recall F at the best detection threshold on {n_test} real-like test "
              f"scenes (AP / AR / PCK@0.2 on them too) and {n_test} held-out synthetic scenes; max conf: the "
              "largest keypoint confidence on the real-like test scenes before finetuning (whether the network has "
              "left the all-background phase). Control: the 100 % row's network given the finetuning steps on its "
              "own synthetic scenes instead of the real-like ones. Last columns: on how many seeds finetuning raised "
              "real-like F, "
              f"and the row's real-like F beats the 100 % row of the same seed. {PAPER}.",
              f"Command: `python benchmarks/pose_machines/cpu_table2.py {command}`"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=["share25", "share50", "share100", "no-fusion"])
    parser.add_argument("--steps", type=int, default=1200, help="pretraining steps of every row (from scratch)")
    parser.add_argument("--ft-steps", type=int, default=200, help="finetuning steps on the labelled real-like scenes")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--ft-lr", type=float, default=5e-4)
    parser.add_argument("--width", type=int, default=32, help="Nw of the MPM-2S")
    parser.add_argument("--scenes", type=int, nargs=3, default=[T4.N_TRAIN, T4.N_REAL_TRAIN, T4.N_TEST],
                        metavar=("SYN", "REAL", "TEST"), help="scene counts (smaller: smoke tests)")
    parser.add_argument("--work", type=Path, default=REPO / "work_dirs" / "pose_machines_cpu_table2")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--markdown", type=Path, default=REPO / "BENCHMARKS.md", help="'-': do not write it")
    parser.add_argument("--section", default="cpu-table2", help="the BENCHMARKS.md marker key")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    T4.check_table_args(parser, args, steps=1, ft_steps=1, width=1)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pretrain_tag, tag = run_tags(args)
    files = {(run, seed): args.work / run / f"seed{seed}_{tag}.json" for seed in args.seeds for run in args.runs}
    todo = [key for key, f in files.items() if not f.is_file()]  # seed-major: every row gets a seed first
    if todo and not args.report_only:
        torch.set_num_threads(1)
        data = T4.load_data(*args.scenes, n_val=0)
        cache: dict = {}
        for run, seed in todo:
            files[run, seed].parent.mkdir(parents=True, exist_ok=True)
            try:
                weights = args.work / PRETRAIN_OF.get(run, run) / f"seed{seed}_{pretrain_tag}_pretrain.safetensors"
                weights.parent.mkdir(parents=True, exist_ok=True)
                r = train_one(run, seed, args, data, files[run, seed], weights, cache)
                print(f"{run} seed {seed}: real-like F {r['before']['f_real']:.3f} -> {r['after']['f_real']:.3f}, "
                      f"max conf {r['before']['max_conf_real']:.2f}, {r['wall_s']:.0f} s", flush=True)
            except Exception as err:  # one failed run must not lose the others
                print(f"FAILED {run} seed {seed}: {type(err).__name__}: {err}", flush=True)
    results = read_finished(files)
    command = (f"--seeds {' '.join(map(str, args.seeds))} --runs {' '.join(args.runs)} --steps {args.steps} "
               f"--ft-steps {args.ft_steps} --lr {args.lr:g} --ft-lr {args.ft_lr:g} --width {args.width}")
    if args.scenes != [T4.N_TRAIN, T4.N_REAL_TRAIN, T4.N_TEST]:
        command += f" --scenes {' '.join(map(str, args.scenes))}"
    command += f" --section {args.section}" if args.section != "cpu-table2" else ""
    text = format_table(results, args, command)
    print(text)
    save_table(args.results, args.section.replace("-", "_"), results, text, args.markdown, "pose_machines",
               args.section, drop=("log", "ft_log"))
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
