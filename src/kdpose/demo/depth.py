"""``kdpose demo --method stagewise``: stagewise distillation of bottom-up depth pose machines, end to end.

Phases (:func:`run_depth_demo`): synthetic depth scenes (training, held-out synthetic val, held-out "real-like");
the teacher (the shipped MPM-2S Nw=64, or trained here with ``--from-scratch``); a small student (MPM-2S, Nw=32)
trained plain and with stagewise distillation + hints (paper Sec. VI: L = (1 - alpha) L_teacher + alpha L_PM over
the last tau stages, plus gamma L_hints) for the same steps, seed and batches; the paper's PCK precision / recall
(AP / AR / F, PR curves) on both held-out sets; parameters, GFLOPs and latency; depth images with the decoded
skeletons; ``report.html`` / ``report.md``. Data, networks and the metric: :mod:`kdpose.tasks.depth_setting`; the
fixed-step training: :mod:`kdpose.tasks.steps`.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from ..utils.io import write_json
from . import depth_assets
from .config import DemoOptions
from .methods import DemoMethod
from .phases import Clock, demo_command
from ..tasks.depth_setting import (ETAS, EVAL_SIZE, MAX_REAL_SCENES, MAX_VAL_SCENES, REAL_SEED, STUDENT, TEACHER,
                                   TRAIN_SEED, VAL_SEED, DepthBatches, DepthEval, PoseMachineSpec, build_pose_machine,
                                   evaluate, real_like_cfg, render_scenes, synthetic_cfg)
from ..tasks.steps import StepSchedule, TrainLog, train_steps

# Student steps per --minutes, from steps measured on the shared 2-core CPU with one torch thread (batch 8 of
# 184x184): plain MPM-2S Nw=32 0.3-0.5 s, distilled (teacher forward + hints) 0.5-1.0 s, the high ends under load
# average ~12. 10 minutes -> 600 steps per student (8-14 minutes for both, whole demo 10-17 minutes).
STEPS_PER_MINUTE = 60
TEACHER_STEPS_PER_MINUTE = 150  # --from-scratch: teacher steps per --minutes (MPM-2S Nw=64, ~0.5 s a step)
KD_PARAMS = {"tau": 2, "alpha": 0.5, "gamma": 1.0, "mode": "stagewise"}  # the paper's stagewise + hints run
COLUMNS = [("model", "label", "{}"), ("network", "model", "{}"), ("how it was made", "how", "{}"),
           ("F", "f", "{:.3f}"), ("AP %", "ap", "{:.1f}"), ("AR %", "ar", "{:.1f}"), ("F upper", "f_upper", "{:.3f}"),
           ("F real-like", "f_real", "{:.3f}"), ("max conf", "max_conf", "{:.2f}"), ("params (M)", "params_m", "{:.3f}"),
           ("GFLOPs", "gflops", "{:.3f}"), ("PyTorch ms", "torch_ms", "{:.1f}"), ("onnxruntime ms", "onnx_ms", "{:.1f}"),
           ("train steps", "iterations", "{}"),
           ("train s", "train_s", "{:.0f}")]


@dataclass(frozen=True)
class DepthPlan:
    """Steps and scene counts of a depth demo run (``teacher_steps`` 0: the shipped teacher is loaded)."""

    student_steps: int
    teacher_steps: int
    train_scenes: int
    val_scenes: int
    real_scenes: int


def plan_depth(opts: DemoOptions, teacher_shipped: bool) -> DepthPlan:
    """Steps from ``--minutes`` (``opts.epoch_iters`` > 0 caps them: quick test runs)."""
    steps = max(1, round(STEPS_PER_MINUTE * opts.minutes))
    teacher = 0 if teacher_shipped else max(1, round(TEACHER_STEPS_PER_MINUTE * opts.minutes))
    if opts.epoch_iters > 0:
        steps, teacher = min(steps, opts.epoch_iters), min(teacher, opts.epoch_iters)
    val = min(opts.val_images, MAX_VAL_SCENES)
    return DepthPlan(steps, teacher, opts.images, val, max(1, min(MAX_REAL_SCENES, val // 2)))


def _train(name: str, task, batches: DepthBatches, steps: int) -> TrainLog:
    from tqdm import tqdm

    with tqdm(total=steps, desc=name, unit="step", file=sys.stderr) as bar:
        def on_step(step: int, row: dict) -> None:
            bar.update(step - bar.n)
            bar.set_postfix(loss=row["loss"], max_conf=row["max_conf"])

        return train_steps(task, batches, StepSchedule(steps), interval=max(1, min(25, steps // 20)),
                           on_step=on_step)


def measure_compute(model, spec: PoseMachineSpec, threads: int, iters: int,
                    onnx_path: Path | None = None) -> dict[str, Any]:
    """Parameters, GFLOPs and batch-1 latency (median) at the whole-image input: PyTorch eager and, with
    ``onnx_path``, the network exported there (kdpose metadata, whole-image input size) run by onnxruntime."""
    import torch

    from ..export import OrtRunner, count_flops, export_onnx
    from ..export.bench import bench_onnx, time_fn, torch_threads

    compute = count_flops(model, input_size=EVAL_SIZE, in_channels=1)
    x = torch.zeros(1, 1, EVAL_SIZE[1], EVAL_SIZE[0])
    model.eval()
    with torch_threads(threads), torch.inference_mode():
        lat = time_fn(lambda: model(x), warmup=2, iters=iters, max_seconds=4.0, min_iters=min(5, iters))
    out = {"params_m": compute.params / 1e6, "gflops": compute.gflops, "torch_ms": lat.median_ms,
           "onnx_ms": None, "onnx": None}
    if onnx_path is not None:
        # the network is fully convolutional: the same weights in a twin built for the whole-image size
        whole = build_pose_machine(spec, input_size=EVAL_SIZE)
        whole.load_state_dict(model.state_dict())
        export_onnx(whole, onnx_path, model_name=spec.kind)
        runner = OrtRunner(onnx_path, threads=threads)
        out["onnx_ms"] = bench_onnx(runner, batch=1, warmup=2, iters=iters, max_seconds=4.0).median_ms
        out["onnx"] = str(onnx_path)
    return out


def _row(key: str, label: str, how: str, val: DepthEval, real: DepthEval, steps: int | None,
         seconds: float | None) -> dict[str, Any]:
    return {"key": key, "label": label, "how": how, "f": val.best["F"], "ap": val.best["AP"],
            "ar": val.best["AR"], "eta": val.best["eta"], "f_upper": val.upper["F"], "f_real": real.best["F"],
            "ap_real": real.best["AP"], "ar_real": real.best["AR"], "max_conf": val.max_confidence,
            "iterations": steps, "train_s": seconds}


def kd_verdict(plain: dict, kd: dict) -> tuple[bool, str]:
    """Whether the distilled student won (higher F on the held-out synthetic scenes) and the sentence saying so."""
    won = kd["f"] > plain["f"]
    if kd["f"] == 0 and plain["f"] == 0:
        text = (f"Stagewise KD did NOT win: neither student finds anybody yet (F = 0 for both: no person is "
                f"assembled from their maps; largest keypoint confidence {kd['max_conf']:.2f} with KD vs "
                f"{plain['max_conf']:.2f} without).")
    else:
        text = (f"Stagewise KD {'won' if won else 'did NOT win'}: the distilled student scores F = {kd['f']:.3f} vs "
                f"{plain['f']:.3f} without distillation ({kd['f'] - plain['f']:+.3f}) on the held-out synthetic "
                f"scenes (real-like: {kd['f_real']:.3f} vs {plain['f_real']:.3f}).")
    return won, text + " Same network, initialisation, batches and number of steps."


def run_depth_demo(opts: DemoOptions, method: DemoMethod) -> dict[str, Any]:
    """Run every phase of the ``stagewise`` plug-in (``method``) into ``opts.out``; returns the results dict (also
    ``results.json``) of the report."""
    import torch

    from ..distill.stagewise import StagewiseDistiller
    from ..evaluation.pck_pr import plot_pr_curves
    from ..models.weights import save_weights
    from .depth_media import (ground_truth_people, pick_scenes, plot_depth_curves, plot_f_vs_compute,
                              skeleton_grid)
    from .report import text_table, write_report

    torch.set_num_threads(opts.torch_threads)
    out = opts.out
    media_dir, weights_dir = out / "images", out / "weights"
    for d in (media_dir, weights_dir):
        d.mkdir(parents=True, exist_ok=True)
    shipped = depth_assets.depth_teacher_asset()
    use_shipped = shipped.is_file() and not opts.from_scratch
    plan = plan_depth(opts, use_shipped)
    clock = Clock()
    notes: list[str] = []

    with clock.phase(f"render synthetic depth scenes ({plan.train_scenes} train, {plan.val_scenes} val, "
                     f"{plan.real_scenes} real-like)"):
        train = render_scenes(synthetic_cfg(), plan.train_scenes, TRAIN_SEED, "train")
        val = render_scenes(synthetic_cfg(), plan.val_scenes, VAL_SEED, "val")
        real = render_scenes(real_like_cfg(), plan.real_scenes, REAL_SEED, "test")

    logs: dict[str, TrainLog] = {}
    with clock.phase("teacher: " + ("load the shipped weights" if use_shipped else f"train ({plan.teacher_steps} "
                                                                                    "steps)")):
        if use_shipped:
            teacher = depth_assets.load_depth_teacher(shipped)
        else:
            teacher = build_pose_machine(TEACHER, seed=opts.seed)
            logs["teacher"] = _train(f"teacher {TEACHER.name}", teacher,
                                     DepthBatches(train, teacher.codec, 8, opts.seed), plan.teacher_steps)
            if not opts.from_scratch:
                notes.append(f"No shipped depth teacher ({shipped.name}): it was trained here.")
            teacher.eval()
        evals = {"teacher": (evaluate(teacher, val), evaluate(teacher, real))}

    students = {"student": build_pose_machine(STUDENT, seed=opts.seed)}
    students["kd"] = build_pose_machine(STUDENT, seed=opts.seed)  # the same initial weights
    with clock.phase(f"student {STUDENT.name} without distillation ({plan.student_steps} steps)"):
        logs["student"] = _train("student", students["student"],
                                 DepthBatches(train, students["student"].codec, 8, opts.seed), plan.student_steps)
    with clock.phase(f"student + stagewise KD + hints ({plan.student_steps} steps)"):
        distiller = StagewiseDistiller(students["kd"], teacher, **KD_PARAMS)
        logs["kd"] = _train("student + stagewise KD", distiller,
                            DepthBatches(train, students["kd"].codec, 8, opts.seed), plan.student_steps)
    with clock.phase("evaluate the students (PCK precision / recall)"):
        for key, model in students.items():
            evals[key] = (evaluate(model, val), evaluate(model, real))
            save_weights(model, weights_dir / f"{key}.safetensors", {"steps": str(plan.student_steps)})

    teacher_how = ("shipped weights (src/kdpose/assets)" if use_shipped
                   else f"trained here, {plan.teacher_steps} steps")
    tau, alpha, gamma = KD_PARAMS["tau"], KD_PARAMS["alpha"], KD_PARAMS["gamma"]
    rows = [
        _row("teacher", "teacher", teacher_how, *evals["teacher"], logs["teacher"].steps if "teacher" in logs
             else None, logs["teacher"].seconds if "teacher" in logs else None),
        _row("student", "student", f"plain (L_PM), {plan.student_steps} steps", *evals["student"],
             logs["student"].steps, logs["student"].seconds),
        _row("kd", method.kd_label, f"tau={tau}, alpha={alpha:g}, hints gamma={gamma:g}, "
             f"{plan.student_steps} steps", *evals["kd"], logs["kd"].steps, logs["kd"].seconds),
    ]
    nets = {"teacher": teacher, **students}
    with clock.phase("export to ONNX; parameters, GFLOPs and latency (batch 1, PyTorch and onnxruntime)"):
        for row in rows:
            spec = TEACHER if row["key"] == "teacher" else STUDENT
            row["model"] = spec.name
            row.update(measure_compute(nets[row["key"]], spec, opts.torch_threads, opts.bench_iters,
                                       out / "onnx" / f"{row['key']}.onnx"))

    with clock.phase("draw skeletons and plots; write the report"):
        picks = pick_scenes(val, 4)
        columns = {"ground truth": ground_truth_people(val)}
        columns.update({r["label"]: evals[r["key"]][0].people for r in rows})
        grid = skeleton_grid(val, columns, picks, teacher.skeleton, media_dir / "skeletons.png")
        pr_val = plot_pr_curves({r["label"]: evals[r["key"]][0].curve for r in rows}, media_dir / "pr_val.png",
                                "held-out synthetic scenes")
        pr_real = plot_pr_curves({r["label"]: evals[r["key"]][1].curve for r in rows}, media_dir / "pr_real.png",
                                 "held-out real-like scenes")
        curves = plot_depth_curves({"student": logs["student"].rows, "student + stagewise KD": logs["kd"].rows},
                                   min(ETAS), media_dir / "curves.png")
        tradeoff = plot_f_vs_compute(rows, media_dir / "f_vs_gflops.png")
        rel = lambda p: str(Path(p).relative_to(out))  # noqa: E731
        figures = [
            {"title": "Learning curves", "path": rel(curves),
             "caption": "Left: the ground-truth loss L_PM (both stages). Right: the largest keypoint confidence on "
                        "the training batch (eval mode). A pose machine first predicts background everywhere; it "
                        "cannot detect anybody while its peaks stay below the detection threshold (dashed)."},
            {"title": "PCK precision-recall, held-out synthetic", "path": rel(pr_val), "half": True,
             "caption": f"Detection threshold eta in {', '.join(f'{e:g}' for e in ETAS)}; d = kappa x person "
                        "height, kappa averaged over [0.05, 0.15]."},
            {"title": "PCK precision-recall, held-out real-like", "path": rel(pr_real), "half": True,
             "caption": "The real-like domain: stronger noise, more clutter and occlusion, never seen in training."},
            {"title": "F vs GFLOPs", "path": rel(tradeoff),
             "caption": f"One whole {EVAL_SIZE[0]}x{EVAL_SIZE[1]} depth image; marker area ~ parameters."},
            {"title": "Skeletons on held-out depth images", "path": rel(grid),
             "caption": "Ground truth, teacher, student, distilled student (decoded at each model's best eta)."},
        ]
        won, verdict = kd_verdict(rows[1], rows[2])
        notes += [
            f"Evaluation: the paper's PCK precision (AP) / recall (AR) / F at the best detection threshold, on "
            f"{plan.val_scenes} held-out synthetic scenes (val split, seed {VAL_SEED}; column F) and "
            f"{plan.real_scenes} held-out real-like scenes (column F real-like). Whole images letterboxed to "
            f"{EVAL_SIZE[0]}x{EVAL_SIZE[1]}. 'max conf': largest keypoint confidence on the synthetic scenes. A model "
            "that predicts nobody has AR = 0 and AP = 0 (a labelled landmark type without predictions counts as "
            "precision 0; reports made before 2026-12-05 counted it as 1 and showed AP = 100).",
            f"Scale: {synthetic_cfg().width}x{synthetic_cfg().height} depth images, 184x184 training crops, "
            "batch 8, AdamW 2e-3 with warm-up and cosine decay, "
            f"{opts.torch_threads} torch thread(s) (--threads). From scratch a pose machine needs ~1000-1500 steps before any peak passes "
            "the threshold (BENCHMARKS.md, 'Learning check'); the demo's students get "
            f"{plan.student_steps} steps (--minutes {opts.minutes:g}).",
            f"Distillation (paper Sec. VI): L = (1 - alpha) L_teacher + alpha L_PM over the last tau = {tau} "
            f"stages of both cascades, plus gamma = {gamma:g} x the hint L2 between the feature extractors (a 1x1 "
            f"conv ties the student's {STUDENT.width} channels to the teacher's {TEACHER.width}).",
        ]
        reproduce = [demo_command(opts), "", "# the shipped teacher (see src/kdpose/assets/README.md):",
                     "python -m kdpose.demo.depth_assets --steps 3500 --threads 1 --work-dir /tmp/kd_depth_teacher"]
        results = {
            "title": f"kdpose demo: stagewise distillation of depth pose machines ({TEACHER.name} teaches "
                     f"{STUDENT.name})",
            "subtitle": f"Bottom-up multi-person pose on synthetic depth images, generated "
                        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
            "verdict": verdict, "kd_better": won, "metric": "F", "command": demo_command(opts),
            "columns": [list(c) for c in COLUMNS], "rows": rows, "figures": figures, "notes": notes,
            "files": [{"title": f"weights: {k}", "path": rel(weights_dir / f"{k}.safetensors")} for k in students]
                     + [{"title": f"ONNX: {r['label']}", "path": rel(r["onnx"])} for r in rows if r.get("onnx")],
            "commands": reproduce, "plan": dataclasses.asdict(plan), "kd_params": KD_PARAMS,
            "train_logs": {k: v.rows for k, v in logs.items()},
            "real_like": {r["key"]: {"AP": r["ap_real"], "AR": r["ar_real"], "F": r["f_real"]} for r in rows},
        }
        results["phases"], results["wall_s"] = clock.phases, time.perf_counter() - clock.start
        write_report(results, out)
    results["phases"], results["wall_s"] = clock.phases, time.perf_counter() - clock.start
    write_report(results, out)  # again, with the last phase's own time in the table
    write_json(out / "results.json", results, indent=1)
    print("\n" + text_table(rows, COLUMNS), file=sys.stdout)
    print(f"\n{verdict}\nreport: {out / 'report.html'} (and report.md); total {results['wall_s']:.0f} s")
    return results


__all__ = ["COLUMNS", "DepthPlan", "KD_PARAMS", "STEPS_PER_MINUTE", "kd_verdict", "measure_compute", "plan_depth",
           "run_depth_demo"]
