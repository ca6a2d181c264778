"""``kdpose demo`` end to end: data -> teacher -> student without / with distillation -> evaluation -> ONNX export
and timing -> pictures and video -> report. Every phase uses the library's public pieces (synthetic data, the
engine's Trainer, the DWPose distillers, the COCO evaluator, ONNX export, the inference pipeline, viz)."""
from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from ..utils.io import write_json
from .config import (PRETRAIN_MODELS, STUDENT_MODEL, DemoOptions, plan_budget,
                     pretrain_recipe, to_recipe)
from .depth import run_depth_demo
from .methods import DemoMethod, get_method
from .phases import Clock, demo_command
from .reference import find_reference, reference_line
from .training import TrainRun, train_phase


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def _metric_value(metrics: dict, wholebody: bool) -> float:
    return float(metrics["wholebody"]["AP"] if wholebody else metrics["AP"])


# the parts a whole-body verdict compares (the both-hands score, not left and right apart)
WHOLEBODY_VERDICT_PARTS = ("body", "foot", "face", "hand")


def verdict_text(label: str, metric: str, kd: dict, student: dict, per_part: bool) -> str:
    """The report's one-paragraph verdict: the distilled row ``kd`` against the plain ``student`` row (each with
    ``ap`` and, where measured, ``pck`` and ``metrics``). A whole-body run also compares each part's AP, since the
    whole-body AP of a short run is often ~0 for both students while the body already separates them."""
    better = kd["ap"] > student["ap"]
    diff = round(kd["ap"] - student["ap"], 3) + 0.0  # + 0.0: no "-0.000"
    text = (f"The {label}-distilled student {'beats' if better else 'does NOT beat'} the student trained without "
            f"distillation: {metric} {kd['ap']:.3f} vs {student['ap']:.3f} ({diff:+.3f}), same network, seed, data "
            "and number of iterations.")
    if round(kd["ap"], 3) == round(student["ap"], 3):
        text += f" At 3 decimals the two are equal: {metric} does not separate them at this budget."
    if kd.get("pck") is not None and student.get("pck") is not None:
        text += f" PCK@0.2: {kd['pck']:.3f} vs {student['pck']:.3f}."
    if per_part and kd.get("metrics") and student.get("metrics"):
        parts = [f"{part} {kd['metrics'][part]['AP']:.3f} vs {student['metrics'][part]['AP']:.3f}"
                 for part in WHOLEBODY_VERDICT_PARTS if part in kd["metrics"] and part in student["metrics"]]
        if parts:
            text += " AP per part: " + ", ".join(parts) + "."
    return text


def evaluate_weights(recipe: dict, weights: Path, work_dir: Path) -> dict:
    """COCO (whole-body: per-part) metrics of ``weights`` on the recipe's val split, with ground-truth boxes
    (:func:`kdpose.tasks.topdown.evaluate_weights` of the demo's dict recipe)."""
    from ..tasks.topdown import evaluate_weights as evaluate_recipe_weights

    return evaluate_recipe_weights(to_recipe(recipe), weights, work_dir)


def measure(name: str, weights: Path, layout: str, input_size: tuple[int, int], onnx_path: Path | None, threads: int,
            iters: int, model_kwargs: dict | None = None) -> dict:
    """Parameters, GFLOPs and batch-1 latency (PyTorch eager and onnxruntime) of one network (built with the
    training recipe's ``model_kwargs``, which the exported file's codec metadata then carries)."""
    from ..export import OrtRunner, count_flops, export_onnx
    from ..export.bench import bench_onnx, bench_torch
    from ..models import load_model

    model = load_model(name, weights=str(weights), layout=layout, input_size=input_size, **(model_kwargs or {}))
    compute = count_flops(model)
    out = {"params_m": compute.params / 1e6, "gflops": compute.gflops, "torch_ms": None, "onnx_ms": None,
           "torch_cpu_ms": None, "onnx_cpu_ms": None, "onnx": None}
    lat = bench_torch(model, batch=1, threads=threads, warmup=3, iters=iters, max_seconds=4.0)
    out.update(torch_ms=lat.median_ms, torch_cpu_ms=lat.cpu_ms)
    if onnx_path is not None:
        export_onnx(model, onnx_path, model_name=name)
        runner = OrtRunner(onnx_path, threads=threads)
        lat = bench_onnx(runner, batch=1, warmup=3, iters=iters, max_seconds=4.0)
        out.update(onnx_ms=lat.median_ms, onnx_cpu_ms=lat.cpu_ms, onnx=str(onnx_path))
    return out


def _person_sizes(ann_file: str | Path) -> dict[str, float]:
    """Median box height and the share of COCO-small people (area < 32^2) of an annotation file."""
    import numpy as np

    anns = json.loads(Path(ann_file).read_text())["annotations"]
    if not anns:
        return {"median_height": 0.0, "small": 0.0}
    heights = np.array([a["bbox"][3] for a in anns], np.float64)
    areas = np.array([a.get("area", 0.0) for a in anns], np.float64)
    return {"median_height": float(np.median(heights)), "small": float((areas < 32 ** 2).mean())}


def _build_detector(name: str | None):
    """The person detector of the pictures and the video (``--detector`` or ``DEFAULT_DETECTOR``), or None."""
    if name is None:
        return None
    from ..inference.detectors import resolve_detector

    return resolve_detector(name, score_thr=0.3)


def _with_pretrain(plan):
    """``plan`` with at least one pre-training epoch (a missing shipped backbone outside --from-scratch)."""
    return dataclasses.replace(plan, pretrain_epochs=max(1, plan.pretrain_epochs))


def _shift(records: list[dict], offset: int) -> list[dict]:
    return [{**r, "iter": r["iter"] + offset} for r in records]


def run_demo(opts: DemoOptions) -> dict[str, Any]:
    """Run the ``--method`` plug-in's phases into ``opts.out``; returns the results dict (also ``results.json``) of
    the report. A plug-in names its pipeline: top-down pose (this module) or bottom-up depth (``demo.depth``)."""
    opts.validate()
    method = get_method(opts.method)
    runners = {"topdown": run_topdown_demo, "depth": run_depth_demo}
    return runners[method.pipeline](opts, method)


def run_topdown_demo(opts: DemoOptions, method: DemoMethod) -> dict[str, Any]:
    """The top-down phases of a plug-in (``dwpose``, ``sdpose``, ``distilpose``) into ``opts.out``."""
    import torch

    from .assets import shipped_file
    from .media import render_clip, run_video, sample_grid
    from .plots import plot_learning_curves, plot_metric_bars, plot_tradeoffs
    from .report import text_table, write_report

    torch.set_num_threads(opts.torch_threads)
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    runs_dir, media_dir, export_dir = out / "runs", out / "images", out / "onnx"
    layout, wholebody, setting = opts.skeleton_layout, opts.per_part, opts.setting
    metric = "wholebody.AP" if wholebody else "AP"
    spec = method.teacher_spec(layout)  # None: self-distillation
    shipped = shipped_file(spec.tag) if spec is not None and spec.tag and not opts.from_scratch else None
    shipped_backbone = None if opts.from_scratch else shipped_file(setting.student_backbone_tag)
    plan = plan_budget(opts, teacher_shipped=shipped is not None)
    reference = find_reference(opts)  # read before training: a broken reference file fails at once
    detector = _build_detector(opts.detector_name)  # before training: a detector that cannot load fails at once
    boxes_label = "ground-truth person boxes" if detector is None else f"person boxes of {opts.detector_name}"
    clock = Clock()
    notes: list[str] = []

    with clock.phase(f"generate synthetic train / val data ({setting.name} setting)"):
        from ..tasks.synthetic import resolve_split

        cfg = to_recipe(method.student_recipe(opts, plan, None))
        cfg.data.workers = max(2, opts.workers)  # rendering processes (the cache key does not depend on it)
        resolve_split(cfg.data, cfg.data.train, "train")
        val_ann, _ = resolve_split(cfg.data, cfg.data.val, "val")

    runs: dict[str, TrainRun] = {}
    # RTMPose networks start from a heatmap-pre-trained CSPNeXt (RTMPose's recipe; a random backbone leaves the
    # SimCC head at the mean pose): the shipped backbone, or --from-scratch pre-training phases
    def pretrain(key: str, model: str) -> Path:
        pre_plan = _with_pretrain(plan)
        with clock.phase(f"{key.split('_')[0]} backbone: heatmap pre-training ({_epochs(pre_plan.pretrain_epochs)})"):
            runs[key] = train_phase(key, pretrain_recipe(opts, pre_plan, model), runs_dir / key,
                                    f"pre-train {PRETRAIN_MODELS.get(model, model)}")
        return runs[key].weights

    student_backbone = shipped_backbone or pretrain("student_pretrain", STUDENT_MODEL)
    if shipped_backbone is None and not opts.from_scratch:
        notes.append(f"The shipped student backbone ({setting.student_backbone_tag}) is missing: it was "
                     "pre-trained here.")
    teacher_weights, teacher_metrics = None, None
    if shipped is not None:
        with clock.phase(f"teacher: load the shipped {spec.tag}"):
            teacher_weights = shipped
            teacher_metrics = evaluate_weights(method.teacher_recipe(opts, plan, None), shipped,
                                               runs_dir / "teacher_eval")
    elif spec is not None:
        teacher_backbone = pretrain("teacher_pretrain", spec.pretrain) if spec.pretrain else None
        with clock.phase(f"teacher {spec.model}: train ({_epochs(plan.teacher_epochs)})"):
            runs["teacher"] = train_phase("teacher", method.teacher_recipe(opts, plan, teacher_backbone),
                                          runs_dir / "teacher", f"teacher {spec.model}")
        teacher_weights, teacher_metrics = runs["teacher"].weights, runs["teacher"].metrics
        if spec.tag and not opts.from_scratch:
            notes.append(f"The shipped teacher {spec.tag} is missing: it was trained here.")

    with clock.phase(f"student {method.student_model} without distillation ({_epochs(plan.student_epochs)})"):
        runs["student"] = train_phase("student", method.student_recipe(opts, plan, student_backbone),
                                      runs_dir / "student", f"student {method.student_model}")
    phases = method.kd_phases(opts, plan, teacher_weights, student_backbone)
    for phase in phases:
        with clock.phase(phase.title):
            runs[phase.key] = train_phase(phase.key, phase.recipe(runs), runs_dir / phase.key, phase.desc)
    kd_runs = [runs[p.key] for p in phases]

    def student_row(key: str, label: str, done: list[TrainRun]) -> dict:
        return {"key": key, "label": label, "model": method.student_model, "metrics": done[-1].metrics,
                "how": method.how(key, plan), "weights": done[-1].weights, "model_kwargs": done[-1].model_kwargs,
                "iterations": sum(r.iterations for r in done), "train_s": sum(r.seconds for r in done)}

    teacher_run = runs.get("teacher")
    teacher_row = {"key": "teacher", "label": "teacher", "model": spec.model if spec else "-",
                   "metrics": teacher_metrics, "weights": teacher_weights,
                   "model_kwargs": teacher_run.model_kwargs if teacher_run else {},
                   "iterations": teacher_run.iterations if teacher_run else None,
                   "train_s": teacher_run.seconds if teacher_run else None}
    if spec is None:  # self-distillation: a row that says so
        teacher_row["how"] = method.teacher_note
    elif teacher_run is None:
        teacher_row["how"] = f"shipped weights ({spec.tag}, docs/models/{spec.tag}.md)"
    else:
        teacher_row["how"] = (f"trained here, {plan.teacher_epochs} ep"
                              + (f" from a {PRETRAIN_MODELS.get(spec.pretrain, spec.pretrain)} backbone pre-trained "
                                 "here" if spec.pretrain else ""))
    rows = [teacher_row, student_row("student", "student", [runs["student"]])]
    phase_keys = [p.key for p in phases]
    rows += [student_row(key, label, kd_runs[:phase_keys.index(key) + 1]) for key, label in method.intermediate_rows]
    rows.append(student_row("kd", method.kd_label, kd_runs))
    for row in rows:
        row["ap"] = None if row["metrics"] is None else _metric_value(row["metrics"], wholebody)
    trained_rows = [r for r in rows if r["weights"] is not None]

    with clock.phase("export to ONNX and time PyTorch vs onnxruntime (batch 1)"):
        from tqdm import tqdm

        for row in tqdm(trained_rows, desc="export + timing", unit="model", file=sys.stderr):
            onnx_path = export_dir / f"{row['key']}.onnx"
            row.update(measure(row["model"], row["weights"], layout, setting.input_size, onnx_path,
                               opts.torch_threads, opts.bench_iters, row["model_kwargs"]))

    with clock.phase("draw poses on held-out images and a short video"):
        from ..inference import PoseEstimator
        from .metrics import pck_on_val

        for row in trained_rows:  # PCK@0.2 (GT boxes) of every exported network: readable even where AP is still 0
            row["pck"] = pck_on_val(PoseEstimator(str(row["onnx"]), backend="onnxruntime", threads=opts.torch_threads),
                                    val_ann, layout)
        by_key = {r["key"]: r for r in rows}
        estimators = {f"{by_key[k]['label']} (PCK@0.2 {by_key[k]['pck']:.2f})": PoseEstimator(
            str(by_key[k]["onnx"]), backend="onnxruntime", threads=opts.torch_threads) for k in ("student", "kd")}
        samples = sample_grid(estimators, val_ann, layout, media_dir, detector=detector)
        clip, det_file = render_clip(media_dir, layout, seed=setting.video_seed, frames=opts.video_frames,
                                     size=setting.image_size, preset=setting.preset)
        video = run_video(Path(by_key["kd"]["onnx"]), clip, det_file, layout, media_dir, opts.torch_threads,
                          detector=detector)

    with clock.phase("write the report"):
        kd_curve, offset = [], 0
        for run in kd_runs:  # the KD phases one after the other on one iteration axis
            kd_curve, offset = kd_curve + _shift(run.curve, offset), offset + run.iterations
        curves = {"student": runs["student"].curve, method.kd_label: kd_curve}
        if "teacher" in runs:
            curves = {"teacher": runs["teacher"].curve, **curves}
        figs = plot_tradeoffs(rows, media_dir)
        figures = [
            {"title": "Learning curves", "path": str(plot_learning_curves(curves, metric, media_dir / "curves.png")
                                                      .relative_to(out)),
             "caption": "Left: the task loss against the ground-truth targets (log scale; the distilled run also "
                        "minimises its distillation terms, and stage 2 trains on the KD loss alone). Right: "
                        "validation AP during training (EMA weights)."},
            {"title": "Per-part AP" if wholebody else "COCO metrics",
             "path": str(plot_metric_bars(trained_rows, wholebody, media_dir / "metric_bars.png").relative_to(out)),
             "caption": "Validation metrics of every model (ground-truth person boxes)."},
        ]
        if "ap_vs_gflops" in figs:
            figures.append({"title": "AP vs GFLOPs", "path": str(figs["ap_vs_gflops"].relative_to(out)),
                            "caption": "Accuracy against compute per person crop (marker area ~ parameters).",
                            "half": True})
        if "ap_vs_latency" in figs:
            figures.append({"title": "AP vs latency", "path": str(figs["ap_vs_latency"].relative_to(out)),
                            "caption": f"onnxruntime, batch 1, {opts.torch_threads} thread(s), median of repeated runs "
                                       "on this machine.", "half": True})
        figures += [
            {"title": "Poses on held-out images (COCO style)", "path": str(samples["coco"].relative_to(out)),
             "caption": "Left: the student without distillation; right: the distilled student. Same images, "
                        f"same {boxes_label}."},
            {"title": "Poses on held-out images (OpenPose / ControlNet style)",
             "path": str(samples["openpose"].relative_to(out)),
             "caption": "The distilled student's poses drawn as a ControlNet conditioning image."},
        ]
        if video["strip"] is not None:
            figures.append({"title": "Video", "path": str(Path(video["strip"]).relative_to(out)),
                            "caption": f"Frames of {Path(video['video']).relative_to(out)}: the distilled student "
                                       f"(onnxruntime) in the video pipeline with tracking and One-Euro smoothing "
                                       f"on the {boxes_label}; "
                                       f"{video['frames']} frames, {video['tracks']} track(s), "
                                       f"{video['fps']:.1f} frames/s."})
        student, kd = by_key["student"], by_key["kd"]
        kd_better = kd["ap"] > student["ap"]
        verdict = verdict_text(method.label, metric, kd, student, wholebody)
        sizes = _person_sizes(val_ann)
        notes += [
            f"The validation people are small: median box height {sizes['median_height']:.0f} px, "
            f"{100 * sizes['small']:.0f}% with an area under 32x32 px. OKS (COCO AP) then needs keypoint errors of "
            "a few pixels, which short CPU training does not reach: read AP together with PCK@0.2.",
            f"Validation: {opts.val_images} synthetic images never used for training; person boxes are the "
            "ground-truth boxes (no detector in the loop), as MMPose's GT-box protocol. PCK@0.2: share of labelled "
            "keypoints within 0.2 x the longer box side (onnxruntime models), readable where AP is still 0. "
            + (f"The pictures and the video are drawn on the boxes of the person detector {opts.detector_name}."
               if opts.detector_name else "The pictures and the video are drawn on the ground-truth boxes."),
            method.budget_note(opts, plan) + " Timings are from this machine and depend on what else runs on it.",
        ]
        reproduce = [demo_command(opts), "", "# each training phase alone (the recipes the demo ran):"]
        reproduce += [f"kdpose train {shlex.quote(str(run.work_dir / 'config.yaml'))} --work-dir "
                      f"{shlex.quote(str(out / 'rerun' / name))}" for name, run in runs.items()]
        shipped_tags = [tag for tag, used in ((spec.tag if spec else None, shipped is not None),
                                              (setting.student_backbone_tag, shipped_backbone is not None)) if used]
        if shipped_tags:
            reproduce += ["", "# the shipped weights: each model card names the recipe that trained it"]
            reproduce += [f"#   {tag}: docs/models/{tag}.md" for tag in shipped_tags]
        files = [{"title": "annotated video", "path": str(Path(video["video"]).relative_to(out))},
                 {"title": "input clip", "path": str(clip.relative_to(out))}]
        files += [{"title": f"ONNX: {r['label']}", "path": str(Path(r["onnx"]).relative_to(out))}
                  for r in rows if r.get("onnx")]
        results = {
            "title": (f"kdpose demo: {spec.model} teaches {method.student_model} ({method.label}, "
                      f"layout {layout})" if spec else
                      f"kdpose demo: {method.student_model} teaches itself ({method.label}, layout {layout})"),
            "subtitle": f"Synthetic multi-person data (`{setting.name}` setting: {setting.image_size[0]}x"
                        f"{setting.image_size[1]} scenes), input {setting.input_size[0]}x{setting.input_size[1]}, "
                        f"generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
            "verdict": verdict, "kd_better": kd_better, "metric": metric, "command": demo_command(opts),
            "detector": opts.detector_name,
            "reference": reference, "reference_line": reference_line(reference, opts),
            "rows": [{k: (str(v) if isinstance(v, Path) else v) for k, v in r.items()} for r in rows],
            "figures": figures, "files": files, "notes": notes, "commands": reproduce,
            "video": {k: (str(v) if isinstance(v, Path) else v) for k, v in video.items()},
            "plan": dataclasses.asdict(plan), "phases": clock.phases,
        }
        results["wall_s"] = time.perf_counter() - clock.start
        write_report(results, out)
    results["phases"] = clock.phases
    results["wall_s"] = time.perf_counter() - clock.start
    write_report(results, out)  # again, with the report phase's own time in the table
    write_json(out / "results.json", results, indent=1)
    print("\n" + text_table(results["rows"]), file=sys.stdout)
    print(f"\n{verdict}\n{results['reference_line']}\nreport: {out / 'report.html'} (and report.md); "
          f"total {results['wall_s']:.0f} s")
    return results


__all__ = ["demo_command", "evaluate_weights", "measure", "run_demo", "run_topdown_demo"]
