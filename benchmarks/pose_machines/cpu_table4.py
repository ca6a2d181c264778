"""Table IV of the depth-pose-machines paper (synthetic only / finetune / adversarial DA) at CPU scale.

``run_table.py --table 4`` is the GPU-sized reproduction (an RPM-2S trained from scratch, thousands of steps). From
scratch a pose machine needs > 1000 steps before it predicts any peak, so this driver starts every row from a model
that already detects people: the shipped MPM-2S at Nw = 64 of ``kdpose demo --method stagewise``
(src/kdpose/assets/demo_teacher_mpm-2s-w64_depth.safetensors, 3500 steps on synthetic depth only). Every trained row
then gets the same number of extra steps (``--steps``, batch 8 of 184x184 crops, AdamW ``--lr`` with warm-up +
cosine), with the batch order and the domain classifier set by the seed:

- ``shipped``: the synthetic-only model as is (no training: one model, the same for every seed);
- ``synthetic``: ``--steps`` more steps on 800 synthetic scenes (the step-matched synthetic-only row);
- ``finetune``: ``--steps`` steps on 200 labelled scenes of the "real-like" domain (the paper's finetuning);
- ``ada``: adversarial domain adaptation (:class:`kdpose.distill.domain.DomainAdaptationTask`: GRL + domain
  classifier on the extractor features, lambda_p = 2 Lambda / (1 + exp(-10 p)) - Lambda, Lambda = 100 as the
  paper): labelled synthetic batches + the same 200 real-like scenes *without* their labels; snapshots at 5 points,
  selected by minimum pose loss on synthetic validation scenes (the paper's choice) and by maximum domain confusion
  (FP + FN of the classifier on synthetic + real-like validation scenes; CR = confusion / images);
- ``no-fusion`` (a Table II analogue, ``--runs``): ``--steps`` more synthetic steps with background fusion off;
- ``mixed`` (``--runs``): ``--steps`` steps on the 800 synthetic and the 200 labelled real-like scenes together
  (each crop drawn uniformly from the 1000, so about 20 % real-like per batch: ``run_table.py``'s mixed protocol);
- ``inpaint`` (``--runs``, no training: one model): the shipped model on real-like test images whose small sensor
  holes (connected invalid-pixel regions up to ``INPAINT_MAX_AREA`` pixels) are filled by OpenCV's Telea in-painting
  first, the analogue of the paper's in-paint preprocessing; large invalid regions (no surface in range) stay.

Metric: the paper's PCK precision / recall / F (best detection threshold) on 60 real-like test scenes and 60
held-out synthetic scenes (whole images letterboxed to 248x184), upper-body F, and PCK@0.2 (share of the labelled
keypoints within 0.2 x box height of a predicted one, at the best-F threshold). One run per (run, seed), one at a
time, one torch thread; finished runs are read back from ``<work>/<run>/seed<S>_steps<N>.json``.

    python benchmarks/pose_machines/cpu_table4.py --seeds 0 1 2 --steps 250 \
        --runs shipped synthetic finetune ada no-fusion mixed inpaint
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # benchmarks/: the shared driver pieces
from _miniature import REPO, mean_std_cell, read_finished, save_table  # noqa: E402

from kdpose.distill.domain import DomainAdaptationTask, DomainBatch, domain_confusion  # noqa: E402
from kdpose.distill.domain import select_adapted_model  # noqa: E402
from kdpose.evaluation.pck_pr import pck_precision_recall  # noqa: E402
from kdpose.tasks.depth_setting import (REAL_SEED, TRAIN_SEED, VAL_SEED, DepthBatches,  # noqa: E402
                                        evaluate, person_heights, real_like_cfg, render_scenes, synthetic_cfg)
from kdpose.utils.entry import guarded, require_at_least  # noqa: E402

RUNS = ("shipped", "synthetic", "finetune", "ada", "no-fusion", "mixed", "inpaint")
SEED_FREE = {"shipped": "eval", "inpaint": "eval_inpaint"}  # runs without training: one model, one file
# table rows: (label, run, key inside the run's json)
ROWS = (("synthetic only (shipped, 3500 steps)", "shipped", "eval"), ("synthetic only, + N steps", "synthetic", "eval"),
        ("finetune on labelled real-like, N steps", "finetune", "eval"),
        ("ADA, N steps, min pose loss", "ada", "min_loss"), ("ADA, N steps, max confusion", "ada", "max_confusion"),
        ("synthetic w/o background fusion, + N steps", "no-fusion", "eval"),
        ("mixed: synthetic + labelled real-like, N steps", "mixed", "eval"),
        ("in-paint the real-like test images (shipped model)", "inpaint", "eval"))
PAPER = ("paper, Table IV (RPM-2S, DIH real test set, F): only synthetic 0.46, ADA min loss 0.66 (CR 0.20), "
         "ADA max confusion 0.40 (CR 0.50), in-paint 0.65, finetuning 0.91")
COLUMNS = (("F real-like", "f_real"), ("F upper real-like", "f_real_upper"), ("AP % real-like", "ap_real"),
           ("AR % real-like", "ar_real"), ("PCK@0.2 % real-like", "pck_real"), ("F synthetic", "f_syn"),
           ("F upper synthetic", "f_syn_upper"), ("AP % synthetic", "ap_syn"), ("AR % synthetic", "ar_syn"))
PCT = {"ap_real", "ar_real", "pck_real", "ap_syn", "ar_syn"}
N_TRAIN, N_REAL_TRAIN, N_TEST, N_VAL = 800, 200, 60, 24
INPAINT_MAX_AREA = 200  # px at 320x240: 99 % of the real-like test images' invalid regions, 19 % of their pixels


@dataclass
class Data:
    """The scenes every run of the table uses (fixed: the seeds only change batches and the classifier)."""

    synthetic: list
    real_train: list
    real_test: list
    synthetic_test: list
    synthetic_val: list
    real_val: list


def load_data(n_train: int = N_TRAIN, n_real: int = N_REAL_TRAIN, n_test: int = N_TEST, n_val: int = N_VAL) -> Data:
    syn, real = synthetic_cfg(), real_like_cfg()
    return Data(render_scenes(syn, n_train, TRAIN_SEED, "train"), render_scenes(real, n_real, REAL_SEED, "train"),
                render_scenes(real, n_test, REAL_SEED, "test"), render_scenes(syn, n_test, VAL_SEED, "val"),
                render_scenes(syn, n_val, VAL_SEED + 100, "val"), render_scenes(real, n_val, REAL_SEED, "val"))


def no_fusion_scenes(n: int) -> list:
    """The synthetic training scenes (same people and poses) without background fusion (Table II's variant)."""
    sys.path.insert(0, str(HERE))
    from common import SynthDepthScenes, materialise

    return materialise(SynthDepthScenes(synthetic_cfg(), n, TRAIN_SEED, "train", background=False))


def inpaint_holes(depth: np.ndarray, max_area: int = INPAINT_MAX_AREA) -> np.ndarray:
    """(H, W) uint16 depth with its small invalid (0) regions, 8-connected and at most ``max_area`` pixels, filled
    by Telea in-painting (radius 3); larger invalid regions are left at 0."""
    holes = (depth == 0).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] <= max_area
    small[0] = False  # label 0: the valid pixels
    mask = small[labels].astype(np.uint8)
    return cv2.inpaint(depth, mask, 3, cv2.INPAINT_TELEA) if mask.any() else depth.copy()


def inpainted(data: Data) -> Data:
    """The same data with in-painted real-like test images (copies: the originals are not touched)."""
    test = [dataclasses.replace(s, depth=inpaint_holes(s.depth)) for s in data.real_test]
    return dataclasses.replace(data, real_test=test)


class _TrainDomainBatch(DomainBatch):
    @property
    def inputs(self) -> torch.Tensor:  # train_steps logs the largest confidence on the source images
        return self.source.inputs


class DomainBatches:
    """Step ``t``: a labelled synthetic batch and the inputs of a real-like batch (its labels are dropped)."""

    def __init__(self, source: DepthBatches, target: DepthBatches):
        self.source, self.target = source, target
        self.batch_size = source.batch_size

    def batch(self, step: int) -> DomainBatch:
        return _TrainDomainBatch(self.source.batch(step), self.target.batch(step).inputs)


def pck_at(preds: list, scenes: list, kappa: float = 0.2) -> float:
    """Share (%) of labelled keypoints with a predicted keypoint of the same type within kappa x box height."""
    res = pck_precision_recall([p[0] for p in preds], [p[1] for p in preds], [s.keypoints for s in scenes],
                               [s.visible for s in scenes], person_heights(scenes), kappas=(kappa,))
    return 100.0 * float(res.recall)


def score(model, data: Data) -> dict:
    """The table's numbers for one model on the real-like test and the synthetic held-out scenes."""
    r, s = evaluate(model, data.real_test), evaluate(model, data.synthetic_test)
    return {"f_real": r.best["F"], "f_real_upper": r.upper["F"], "ap_real": r.best["AP"], "ar_real": r.best["AR"],
            "pck_real": pck_at(r.people, data.real_test), "eta_real": r.best["eta"], "f_syn": s.best["F"],
            "f_syn_upper": s.upper["F"], "ap_syn": s.best["AP"], "ar_syn": s.best["AR"],
            "pck_syn": pck_at(s.people, data.synthetic_test), "max_conf_real": r.max_confidence}


@torch.no_grad()
def validation_scores(task: DomainAdaptationTask, data: Data) -> dict:
    """Pose loss on the synthetic validation scenes and FP + FN of the domain classifier on synthetic + real-like
    validation scenes (whole images letterboxed to the training crop)."""
    from kdpose.data.bottomup import BottomUpDepthDataset, collate_bottomup

    model = task.model
    model.eval()
    batches = [collate_bottomup([ds[i] for i in range(len(ds))]) for ds in
               (BottomUpDepthDataset(scenes, model.codec, train=False) for scenes in (data.synthetic_val,
                                                                                       data.real_val))]
    pose = float(model.loss_fn(model(batches[0].inputs), batches[0])["loss"])
    logits = torch.cat([task.classifier(model.forward_features(b.inputs)[-1]) for b in batches])
    labels = torch.cat([torch.zeros(len(batches[0])), torch.ones(len(batches[1]))])
    model.train()
    return {"val_pose_loss": pose, "confusion": domain_confusion(logits, labels), "images": len(labels)}


def train_one(run: str, seed: int, steps: int, lr: float, data: Data, out_file: Path) -> dict:
    """Train (unless ``shipped``) and score one (run, seed); writes and returns its numbers."""
    from kdpose.tasks.depth_setting import load_teacher
    from kdpose.tasks.steps import StepSchedule, train_steps
    from kdpose.utils.io import write_json

    start = time.perf_counter()
    model = load_teacher()
    schedule = StepSchedule(steps, lr=lr, warmup=max(1, min(50, steps // 10)))
    result: dict = {"run": run, "seed": seed, "steps": steps, "lr": lr}
    if run == "shipped":
        result["eval"] = score(model, data)
    elif run == "inpaint":
        result["eval"] = score(model, inpainted(data))
    elif run in ("synthetic", "finetune", "no-fusion", "mixed"):
        scenes = {"synthetic": data.synthetic, "finetune": data.real_train,
                  "mixed": data.synthetic + data.real_train}.get(run)
        scenes = scenes if scenes is not None else no_fusion_scenes(len(data.synthetic))
        log = train_steps(model, DepthBatches(scenes, model.codec, 8, seed), schedule, interval=max(1, steps // 10))
        result.update(eval=score(model, data), log=log.rows, train_s=log.seconds)
    elif run == "ada":
        torch.manual_seed(seed)  # the domain classifier's initial weights
        task = DomainAdaptationTask(model, max_lambda=100.0)
        batches = DomainBatches(DepthBatches(data.synthetic, model.codec, 8, seed),
                                DepthBatches(data.real_train, model.codec, 8, seed + 7))
        history, snapshots = [], []

        def on_step(step: int, row: dict) -> None:
            if step > 1:  # the 5 checkpoints after the first step: 0.2, 0.4, ... of the run and its end
                history.append({"step": step, "lambda": row.get("lambda"), **validation_scores(task, data)})
                snapshots.append(copy.deepcopy(model.state_dict()))

        log = train_steps(task, batches, schedule, interval=max(1, steps // 5), on_step=on_step)
        result.update(history=history, log=log.rows, train_s=log.seconds)
        scored: dict[int, dict] = {}  # both criteria may pick the same snapshot
        for criterion, key in (("pose_loss", "min_loss"), ("confusion", "max_confusion")):
            i = select_adapted_model(history, criterion)
            if i not in scored:
                model.load_state_dict(snapshots[i])
                scored[i] = score(model, data)
            h = history[i]
            result[key] = {**scored[i], "selected_step": h["step"], "cr": h["confusion"] / h["images"]}
    else:
        raise ValueError(f"unknown run '{run}' (expected one of {', '.join(RUNS)})")
    result["wall_s"] = time.perf_counter() - start
    write_json(out_file, result, indent=1)
    return result


# ------------------------------------------------------------------------------------------------------ report
def row_values(results: dict[str, dict[int, dict]], run: str, key: str) -> dict[int, dict]:
    """{seed: the row's numbers}; the shipped model is one model whatever the seed."""
    return {seed: r[key] for seed, r in results.get(run, {}).items() if key in r}


def paired(a: dict[int, dict], b: dict[int, dict], metric: str = "f_real") -> str:
    """'k/n': on how many common seeds ``a`` scores higher than ``b`` (b may be the seed-free shipped row)."""
    if not a or not b:
        return "n/a"
    seeds = sorted(a)
    ref = {s: b[s] if s in b else next(iter(b.values())) for s in seeds} if len(b) == 1 else b
    common = [s for s in seeds if s in ref]
    return f"{sum(a[s][metric] > ref[s][metric] for s in common)}/{len(common)}"


def format_table(results: dict[str, dict[int, dict]], seeds: list[int], steps: int, lr: float,
                 command: str = "", scenes: tuple[int, ...] = (N_TRAIN, N_REAL_TRAIN, N_TEST, N_VAL)) -> str:
    head = ["row", "seeds"] + [c for c, _ in COLUMNS] + ["CR / step", "F real > shipped", "F real > syn + N"]
    lines = [f"**Table IV at CPU scale: the shipped MPM-2S Nw=64 (synthetic only) + N = {steps} steps**", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    shipped, synth = row_values(results, "shipped", "eval"), row_values(results, "synthetic", "eval")
    for label, run, key in ROWS:
        vals = row_values(results, run, key)
        if not vals:  # a run not made (or failed) is left out, not shown as zeros
            continue
        cells = [mean_std_cell([v[k] for v in vals.values()], k in PCT) for _, k in COLUMNS]
        extra = "-"
        if run == "ada" and vals:
            extra = (f"{np.mean([v['cr'] for v in vals.values()]):.2f} / "
                     + ",".join(str(v["selected_step"]) for v in vals.values()))
        if run in SEED_FREE:  # one model: compared once with the shipped model
            vals = {min(vals): vals[min(vals)]}
        vs = ["-", "-"] if run == "shipped" else [paired(vals, shipped), "-" if run in ("synthetic", "inpaint") else
                                                  paired(vals, synth)]
        n = "1 model" if run in SEED_FREE else str(len(vals))
        lines.append(f"| {label.replace('N steps', f'{steps} steps')} | {n} | "
                     + " | ".join(cells + [extra] + vs) + " |")
    lines += ["", f"Mean +- std over seeds {seeds} (batch order and domain classifier; every row starts from the same "
              f"shipped weights; AdamW lr {lr:g}, warm-up + cosine, batch 8; {scenes[0]} synthetic and {scenes[1]} "
              "real-like training scenes). F: the paper's PCK precision/recall F at the best detection threshold on "
              f"{scenes[2]} real-like test scenes (the target domain) and {scenes[2]} held-out synthetic scenes; "
              "PCK@0.2: share of labelled keypoints found within 0.2 x box height at that threshold. CR: domain "
              f"confusion rate of the selected ADA snapshot on {scenes[3]} + {scenes[3]} validation scenes; "
              "step: the selected snapshot per seed. Last columns: on how many seeds the row's real-like F beats "
              f"the shipped model / the step-matched synthetic row. Mixed: each crop drawn uniformly from the "
              f"{scenes[0]} synthetic and {scenes[1]} labelled real-like scenes. In-paint: the shipped model on the "
              f"real-like test images with their invalid regions of up to {INPAINT_MAX_AREA} px filled (OpenCV "
              f"Telea) first. {PAPER}.",
              f"Command: `python benchmarks/pose_machines/cpu_table4.py {command}`"]
    return "\n".join(lines)


def check_table_args(parser: argparse.ArgumentParser, args: argparse.Namespace, **minimums: int) -> None:
    """The options the CPU table drivers share (this one, cpu_table1.py, cpu_table2.py), checked before any training:
    seeds, scene counts and ``minimums``, learning rates, the work and results folders, the Markdown file ('-':
    none). A bad one is a usage error or kdpose's one-line error, not a failure after hours of training."""
    from kdpose.utils.io import check_output_dir, check_output_file

    require_at_least(parser, args, seeds=0, scenes=1, **minimums)
    for dest in ("lr", "ft_lr"):
        value = getattr(args, dest, None)
        if value is not None and not value > 0:
            parser.error(f"--{dest.replace('_', '-')} must be > 0, got {value:g}")
    check_output_dir(args.work, "--work")
    check_output_dir(args.results, "--results")
    if str(args.markdown) != "-":
        check_output_file(args.markdown, "--markdown", "BENCHMARKS.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=250, help="extra steps of every trained row")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=["shipped", "synthetic", "finetune", "ada"])
    parser.add_argument("--scenes", type=int, nargs=4, default=[N_TRAIN, N_REAL_TRAIN, N_TEST, N_VAL],
                        metavar=("SYN", "REAL", "TEST", "VAL"), help="scene counts (smaller: smoke tests)")
    parser.add_argument("--work", type=Path, default=REPO / "work_dirs" / "pose_machines_cpu_table4")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--markdown", type=Path, default=REPO / "BENCHMARKS.md", help="'-': do not write it")
    parser.add_argument("--section", default="cpu-table4", help="the BENCHMARKS.md marker key")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    check_table_args(parser, args, steps=1)

    default_scenes = args.scenes == [N_TRAIN, N_REAL_TRAIN, N_TEST, N_VAL]
    scenes = "" if default_scenes else "_scenes" + "-".join(map(str, args.scenes))
    lr_tag = "" if args.lr == 5e-4 else f"_lr{args.lr:g}"
    files = {(run, seed): args.work / run / (f"{SEED_FREE[run]}{scenes}.json" if run in SEED_FREE else
                                             f"seed{seed}_steps{args.steps}{lr_tag}{scenes}.json")
             for seed in args.seeds for run in args.runs}  # seed-major: every run gets a seed first
    todo = [(run, seed) for (run, seed), f in files.items() if not f.is_file()]
    todo = list(dict.fromkeys((r, s if r not in SEED_FREE else args.seeds[0]) for r, s in todo))
    todo.sort(key=lambda rs: rs[0] == "no-fusion")  # the Table II row last: the Table IV rows come first
    if todo and not args.report_only:
        torch.set_num_threads(1)
        data = load_data(*args.scenes)
        for run, seed in todo:
            if files[run, seed].is_file():
                continue
            files[run, seed].parent.mkdir(parents=True, exist_ok=True)
            try:
                r = train_one(run, seed, args.steps, args.lr, data, files[run, seed])
                best = r.get("eval") or r["min_loss"]
                print(f"{run} seed {seed}: F real-like {best['f_real']:.3f}, synthetic {best['f_syn']:.3f}, "
                      f"{r['wall_s']:.0f} s", flush=True)
            except Exception as err:  # one failed run must not lose the others
                print(f"FAILED {run} seed {seed}: {type(err).__name__}: {err}", flush=True)
    results = read_finished(files)
    command = f"--seeds {' '.join(map(str, args.seeds))} --steps {args.steps} --runs {' '.join(args.runs)}"
    command += f" --lr {args.lr:g}" if args.lr != 5e-4 else ""
    command += f" --scenes {' '.join(map(str, args.scenes))}" if scenes else ""
    command += f" --section {args.section}" if args.section != "cpu-table4" else ""
    text = format_table(results, args.seeds, args.steps, args.lr, command, tuple(args.scenes))
    print(text)
    save_table(args.results, args.section.replace("-", "_"), results, text, args.markdown, "pose_machines",
               args.section)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
