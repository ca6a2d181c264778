"""Reproduce the depth-pose-machines tables in miniature (one command per table, mean +- std over seeds).

    python benchmarks/pose_machines/run_table.py --table 1   # architectures (params, AP/AR/F all + upper body)
    python benchmarks/pose_machines/run_table.py --table 2   # synthetic share, background fusion on/off
    python benchmarks/pose_machines/run_table.py --table 4   # synthetic only vs finetune vs adversarial DA
    python benchmarks/pose_machines/run_table.py --table 5   # none / standard / stagewise / stagewise* / + hints

Protocol (paper Sec. VII, scaled down): train on the synthetic domain, finetune on a small labelled "real-like" set,
test on held-out real-like scenes with the PCK precision / recall metric (best F over the detection threshold eta).
Results go to ``benchmarks/pose_machines/results/table<N>.{json,md}`` and PR curves to ``.../table<N>_pr.png``.
The defaults use the paper's image scale (640x480 synthetic images, 368x368 crops, whole-image evaluation at
488x368) and a GPU-sized number of steps. A CPU smoke run: ``--image 320 240 --crop 184 184 --eval-input 248 184
--iters 300 --ft-iters 100 --synthetic 300 --width 32`` (too short to leave the all-background phase: F = 0).
``oracle.py`` gives the ceiling (ground-truth maps through the same decoder and metric).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402

from kdpose.distill.domain import (DomainAdaptationTask, domain_confusion,  # noqa: E402
                                   select_adapted_model)
from kdpose.distill.stagewise import StagewiseDistiller  # noqa: E402
from kdpose.evaluation.pck_pr import plot_pr_curves  # noqa: E402
from kdpose.models.pose_machines import init_from_fewer_stages  # noqa: E402
from kdpose.models.task import PoseTask  # noqa: E402
from kdpose.utils.entry import guarded, require_at_least  # noqa: E402
from kdpose.utils.io import write_json  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"


class Run:
    """Data and training settings shared by every row of a table, for one seed."""

    def __init__(self, args, seed: int):
        self.args, self.seed = args, seed
        self.scale = C.Scale(image=tuple(args.image), crop=tuple(args.crop), eval_input=tuple(args.eval_input))
        synth, real = C.synthetic_cfg(self.scale), C.real_like_cfg(self.scale)
        self.synth_cfg = synth
        self._synthetic: dict[bool, list] = {}
        self.real_train = C.materialise(C.SynthDepthScenes(real, args.real_train, seed, "train"))
        self.real_unlabelled = C.SynthDepthScenes(real, args.real_train, seed, "train", offset=100_000)
        self.real_test = C.materialise(C.SynthDepthScenes(real, args.test, 1000 + seed, "test"))
        self.synth_val = C.materialise(C.SynthDepthScenes(synth, args.val, 2000 + seed, "val"))
        self.real_val = C.materialise(C.SynthDepthScenes(real, args.val, 2000 + seed, "val"))

    def synthetic(self, share: float = 1.0, background: bool = True):
        """The first ``share`` of the synthetic training scenes, rendered once per seed and kept in memory (every
        row of a table trains on the same scenes; no silhouettes kept)."""
        if background not in self._synthetic:
            scenes = C.SynthDepthScenes(self.synth_cfg, self.args.synthetic, self.seed, "train", background=background)
            self._synthetic[background] = [C.drop_mask(scenes[i]) for i in range(len(scenes))]
        return self._synthetic[background][: int(round(share * self.args.synthetic))]

    def model(self, arch: str, width: int | None = None):
        torch.manual_seed(self.seed)
        return C.build_model(arch, width or self.args.width, self.args.layout, self.scale)

    def fit(self, task, scenes, iters: int, tag: str):
        ds = C.train_dataset(scenes, task.model.codec, self.seed)
        C.train(task, ds, C.collate_bottomup, iters, self.workdir(tag), self.seed, self.args.lr,
                self.args.batch_size, self.args.workers, self.args.device)
        return task.model

    def workdir(self, tag: str) -> Path:
        return Path(self.args.work_dir) / f"seed{self.seed}" / tag

    def test(self, model):
        metrics, curve = C.evaluate(model, self.real_test, self.scale, device=self.args.device)
        return metrics, curve


def row(metrics, params=None, **extra):
    r = {"AP": metrics["all"]["AP"], "AR": metrics["all"]["AR"], "F": metrics["all"]["F"],
         "upper_AP": metrics["upper"]["AP"], "upper_AR": metrics["upper"]["AR"], "upper_F": metrics["upper"]["F"]}
    if params is not None:
        r["params"] = params
    r.update(extra)
    return r


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------------ tables
def table1(run: Run) -> tuple[dict, dict]:
    """Architectures, trained progressively (s stages from s-1) on synthetic data, then finetuned."""
    rows, curves, trained = {}, {}, {}
    for arch in run.args.archs:
        kind, stages = arch.split("-")[0], int(arch.split("-")[1].rstrip("s"))
        model = run.model(arch)
        if run.args.progressive and (kind, stages - 1) in trained:
            init_from_fewer_stages(model, trained[(kind, stages - 1)])
        run.fit(PoseTask(model), run.synthetic(), run.args.iters, f"t1/{arch}/synthetic")
        trained[(kind, stages)] = copy.deepcopy(model)
        run.fit(PoseTask(model), run.real_train, run.args.ft_iters, f"t1/{arch}/finetune")
        metrics, curves[arch] = run.test(model)
        rows[arch] = row(metrics, n_params(model))
    return rows, curves


def table2(run: Run) -> tuple[dict, dict]:
    """RPM-2S: share of the synthetic set (with fusion) and 100 % without background fusion; before / after FT."""
    rows, curves = {}, {}
    variants = [(f"{int(s * 100)}%", s, True) for s in (0.25, 0.5, 0.75, 1.0)] + [("100% no fusion", 1.0, False)]
    for name, share, fusion in variants:
        model = run.model(run.args.arch)
        run.fit(PoseTask(model), run.synthetic(share, fusion), run.args.iters, f"t2/{name}/synthetic")
        before, _ = run.test(model)
        run.fit(PoseTask(model), run.real_train, run.args.ft_iters, f"t2/{name}/finetune")
        after, curves[name] = run.test(model)
        rows[name] = {**{f"synthetic_{k}": v for k, v in row(before).items()}, **row(after)}
    return rows, curves


@torch.no_grad()
def validation_scores(task: DomainAdaptationTask, run: Run) -> dict:
    """Pose loss on labelled synthetic validation scenes and domain confusion on synthetic + real validation."""
    model = task.model.eval()
    codec = model.codec
    ds_s = C.BottomUpDepthDataset(run.synth_val, codec, train=False)
    ds_r = C.BottomUpDepthDataset(run.real_val, codec, train=False)
    bs = C.collate_bottomup([ds_s[i] for i in range(len(ds_s))])
    br = C.collate_bottomup([ds_r[i] for i in range(len(ds_r))])
    pose = float(model.loss_fn(model(bs.inputs), bs)["loss"])
    feats = torch.cat([model.forward_features(bs.inputs)[-1], model.forward_features(br.inputs)[-1]])
    logits = task.classifier(feats)
    labels = torch.cat([torch.zeros(len(bs)), torch.ones(len(br))])
    model.train()
    return {"val_pose_loss": pose, "confusion": domain_confusion(logits, labels)}


def table4(run: Run) -> tuple[dict, dict]:
    """RPM-2S: synthetic only, + finetuning, mixed synthetic + real training, and adversarial DA from the
    synthetic model (checkpoints selected by min synthetic pose validation loss / max domain confusion)."""
    rows, curves = {}, {}
    model = run.model(run.args.arch)
    run.fit(PoseTask(model), run.synthetic(), run.args.iters, "t4/synthetic")
    base = copy.deepcopy(model)
    metrics, curves["synthetic only"] = run.test(model)
    rows["synthetic only"] = row(metrics)
    run.fit(PoseTask(model), run.real_train, run.args.ft_iters, "t4/finetune")
    metrics, curves["finetune"] = run.test(model)
    rows["finetune"] = row(metrics)
    mixed = run.model(run.args.arch)  # the mixed protocol: synthetic and labelled real-like scenes together
    run.fit(PoseTask(mixed), torch.utils.data.ConcatDataset([run.synthetic(), run.real_train]),
            run.args.iters + run.args.ft_iters, "t4/mixed")
    metrics, curves["mixed"] = run.test(mixed)
    rows["mixed"] = row(metrics)

    task = DomainAdaptationTask(copy.deepcopy(base), max_lambda=run.args.max_lambda)
    source = C.train_dataset(run.synthetic(), task.model.codec, run.seed)
    target = C.train_dataset(run.real_unlabelled, task.model.codec, run.seed + 7)
    history, snapshots = [], []
    every = max(1, run.args.da_iters // run.args.da_checkpoints)

    def snapshot(trainer):
        if trainer.iteration % every == 0:
            history.append(validation_scores(task, run))
            snapshots.append(copy.deepcopy(task.model.state_dict()))

    from kdpose.engine.config import DataCfg, EvalCfg, OptimCfg, RecipeCfg, ScheduleCfg, TrainCfg
    from kdpose.engine.trainer import Trainer

    pairs = C.DomainPairs(source, target)
    per_epoch = max(1, len(pairs) // run.args.batch_size)
    cfg = RecipeCfg(data=DataCfg(batch_size=run.args.batch_size, workers=run.args.workers,
                                 persistent_workers=run.args.workers > 0),
                    optim=OptimCfg(lr=run.args.lr * 0.3, weight_decay=1e-4, clip_grad_norm=10.0),
                    schedule=ScheduleCfg(warmup_iters=0, cosine_start_epoch=0),
                    train=TrainCfg(max_epochs=max(1, -(-run.args.da_iters // per_epoch)), stage2_epochs=0,
                                   epoch_iters=min(per_epoch, run.args.da_iters), seed=run.seed,
                                   device=run.args.device, ema=False),
                    eval=EvalCfg(interval=0))
    Trainer(cfg, task, pairs, C.collate_domain, run.workdir("t4/ada"), on_iteration_end=snapshot).fit()
    for criterion, name in (("pose_loss", "ADA (min pose loss)"), ("confusion", "ADA (max confusion)")):
        i = select_adapted_model(history, criterion)
        task.model.load_state_dict(snapshots[i])
        metrics, curves[name] = run.test(task.model)
        rows[name] = row(metrics, selected_step=(i + 1) * every, confusion=history[i]["confusion"])
    return rows, curves


def table5(run: Run) -> tuple[dict, dict]:
    """Teacher (synthetic + finetune), then students distilled on synthetic data and again on real-like data."""
    rows, curves = {}, {}
    teacher = run.model(run.args.teacher, width=run.args.teacher_width)
    run.fit(PoseTask(teacher), run.synthetic(), run.args.iters, "t5/teacher/synthetic")
    run.fit(PoseTask(teacher), run.real_train, run.args.ft_iters, "t5/teacher/finetune")
    metrics, curves[f"teacher {run.args.teacher}"] = run.test(teacher)
    rows[f"{run.args.teacher} (teacher)"] = row(metrics, n_params(teacher))
    methods = {"none": None, "standard (tau=1)": dict(tau=1), "stagewise": dict(tau=2),
               "stagewise* (final, tau=2)": dict(tau=2, mode="final"), "stagewise + hints": dict(tau=2, gamma=1.0)}
    for student_arch in run.args.students:
        for name, params in methods.items():
            if name.startswith("stagewise*") and student_arch.endswith("1s"):
                continue  # the paper runs Stagewise* on 2-stage students only
            student = run.model(student_arch)
            for scenes, iters, phase in ((run.synthetic(), run.args.iters, "synthetic"),
                                         (run.real_train, run.args.ft_iters, "finetune")):
                task = PoseTask(student) if params is None else StagewiseDistiller(student, teacher, **params)
                run.fit(task, scenes, iters, f"t5/{student_arch}/{name}/{phase}")
            metrics, curves[f"{student_arch} {name}"] = run.test(student)
            rows[f"{student_arch} {name}"] = row(metrics, n_params(student))
    return rows, curves


TABLES = {1: table1, 2: table2, 4: table4, 5: table5}


def markdown(table: int, per_seed: list[dict], args) -> str:
    names = list(per_seed[0])
    cols = list(dict.fromkeys(c for rows in per_seed[:1] for r in rows.values() for c in r))
    lines = [f"Table {table} (miniature, {len(per_seed)} seed(s): mean ± std)", "",
             "| row | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for n in names:
        cells = []
        for c in cols:
            vals = [s[n][c] for s in per_seed if c in s[n]]
            if not vals:
                cells.append("")
                continue
            cells.append(f"{vals[0]:.0f}" if c == "params" else f"{vals[0]:.2f}" if c.startswith("fps")
                         else C.mean_std(vals))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a bad value before the first model trains (hours at the paper's scale): counts and sizes, the
    architecture names (KIND-Ns), the layout, the output folders and matplotlib (the PR-curve plot at the end)."""
    from kdpose.cli.main import require_extra
    from kdpose.layouts import get_layout
    from kdpose.utils.io import check_output_dir

    require_at_least(parser, args, seeds=0, iters=1, ft_iters=1, da_iters=1, da_checkpoints=1, synthetic=1,
                     real_train=1, test=1, val=1, image=1, crop=1, eval_input=1, width=1, teacher_width=1,
                     batch_size=1, workers=0, threads=0)
    if not args.lr > 0 or args.max_lambda < 0:
        parser.error(f"--lr must be > 0 and --max-lambda >= 0, got {args.lr:g} and {args.max_lambda:g}")
    for flag, archs in (("--archs", args.archs), ("--arch", [args.arch]), ("--teacher", [args.teacher]),
                        ("--students", args.students)):
        for arch in archs:
            if C.arch_error(arch, flag):
                parser.error(C.arch_error(arch, flag))
    get_layout(args.layout)  # UnknownNameError listing the layouts
    check_output_dir(args.out, "--out")
    check_output_dir(args.work_dir, "--work-dir")
    require_extra("matplotlib", "run_table.py (its PR-curve plot)")
    speed = Path(args.out) / "speed.json"
    if args.table == 1 and speed.is_file():  # read at the end for the FPS column: unreadable, say so now
        from kdpose.data.jsonfile import load_json, require

        require(load_json(speed), ("rows",), str(speed), "speed.py's output")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--table", type=int, choices=sorted(TABLES), required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--iters", type=int, default=6000, help="synthetic training steps per model")
    p.add_argument("--ft-iters", type=int, default=1500, help="finetuning steps on the labelled real-like set")
    p.add_argument("--da-iters", type=int, default=3000)
    p.add_argument("--da-checkpoints", type=int, default=5)
    p.add_argument("--max-lambda", type=float, default=100.0, help="the paper's Lambda")
    p.add_argument("--synthetic", type=int, default=2000, help="synthetic training scenes (100 %%)")
    p.add_argument("--real-train", type=int, default=200, help="labelled real-like finetuning scenes")
    p.add_argument("--test", type=int, default=150)
    p.add_argument("--val", type=int, default=40)
    p.add_argument("--image", type=int, nargs=2, default=[640, 480])
    p.add_argument("--crop", type=int, nargs=2, default=[368, 368])
    p.add_argument("--eval-input", type=int, nargs=2, default=[488, 368])
    p.add_argument("--width", type=int, default=64, help="Nw of the students / architectures")
    p.add_argument("--layout", default="coco")
    p.add_argument("--archs", nargs="+", default=["cpm-2s", "rpm-1s", "rpm-2s", "rpm-3s", "mpm-2s", "mpm-4s",
                                                  "spm-3s"])
    p.add_argument("--arch", default="rpm-2s", help="the model of Tables II and IV")
    p.add_argument("--teacher", default="cpm-2s")
    p.add_argument("--teacher-width", type=int, default=None)
    p.add_argument("--students", nargs="+", default=["mpm-1s", "mpm-2s"])
    p.add_argument("--no-progressive", dest="progressive", action="store_false")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--work-dir", default="work_dirs/pose_machines")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    check_args(p, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.time()
    per_seed, curves = [], {}
    for seed in args.seeds:
        rows, curves = TABLES[args.table](Run(args, seed))
        per_seed.append(rows)
        print(json.dumps({"seed": seed, "rows": rows}, default=float), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"table{args.table}.json", {"args": vars(args), "seeds": per_seed,
                                                 "minutes": (time.time() - t0) / 60}, indent=1)
    if args.table == 1 and (out / "speed.json").is_file():  # FPS column from speed.py (paper's protocol)
        speed = json.loads((out / "speed.json").read_text())["rows"]
        for rows in per_seed:
            for arch, r in rows.items():
                if arch in speed:
                    r["fps_444x368"] = speed[arch]["fps"]
    md = markdown(args.table, per_seed, args)
    (out / f"table{args.table}.md").write_text(md)
    plot_pr_curves(curves, out / f"table{args.table}_pr.png", title=f"Table {args.table} (last seed)")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
