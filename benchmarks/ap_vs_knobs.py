"""What the `standard` preset's heading (yaw) knob and its labelling rule cost in accuracy (issue 22): one model,
small val sets rendered with the same seed from ``SynthConfig.from_preset("standard")``, each with ONE setting
changed, scored top-down from the ground-truth boxes like the trainer's validation (MMPose rescoring, OKS-NMS 0.9,
COCO keypoint AP by pycocotools), plus PCK@0.2 and the share of left/right pairs predicted swapped: the library's
scorer (``kdpose.evaluation.score_topdown``, through ``kdpose.tasks.accuracy.score_estimator``) with NMS on.

    .venv/bin/python benchmarks/ap_vs_knobs.py rtmpose-m.synth-standard --images 200 --json ap_knobs.json
    .venv/bin/python benchmarks/ap_vs_knobs.py cspnext-m-udp --weights best.safetensors --layout coco \\
        --input-size 96x128 --threads 1
    .venv/bin/python benchmarks/ap_vs_knobs.py work_dirs/my_run            # config.yaml + best.safetensors there

Knobs (``SynthConfig`` fields): ``heading`` (share of people facing any direction, the rest face the camera;
standard 0.3, 1 = uniform over 360 degrees), ``min_label_area`` (people whose visible silhouette is smaller get no
keypoints; standard 32^2) and ``min_visible_keypoints`` (people showing fewer visible body keypoints get no
keypoints; standard 4); the last group switches the whole labelling rule off (both 0). The labelling rows render
the same pixels and change only which people are labelled (the rest keep a box only and are ignored by keypoint AP).
The heading rows change the yaw draws, and since the generator draws everything from one random stream per image,
the people drawn after the first changed yaw differ too: same distribution, not the same people.

Renders go to a temporary folder removed at the end, or to ``--cache DIR`` (one sub-folder per setting, reused).
Prints a Markdown table; ``--json`` writes every number. A model from a run that is still training: copy its
weights file first and pass the copy with ``--weights``, so a checkpoint rewrite cannot race the read.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kdpose.data.synth import GENERATOR_VERSION, SynthConfig, write_coco_dataset
from kdpose.utils.entry import guarded, require_at_least
from kdpose.utils.io import check_output_file

PRESET = "standard"
HEADINGS = (0.0, 0.3, 0.6, 1.0)
LABEL_AREAS = (0.0, 32.0 ** 2, 48.0 ** 2)
VISIBLE_KEYPOINTS = (0, 4, 8)
RULE_OFF = {"min_label_area": 0.0, "min_visible_keypoints": 0}
METRICS = ("AP", "AP50", "AP75", "APM", "APL", "AR")
RESCORE_THR, NMS_THR = 0.2, 0.9  # the trainer's validation (EvalCfg defaults)


@dataclass(frozen=True)
class Variant:
    """One val set: the preset with ``changes`` applied (empty = the preset itself)."""

    knob: str
    value: str
    changes: tuple[tuple[str, float], ...]

    def config(self, preset: str = PRESET) -> SynthConfig:
        return SynthConfig.from_preset(preset, **dict(self.changes))


def _show(value: float) -> str:
    return f"{value:g}" if value < 100 else f"{value:g} ({value ** 0.5:g}^2)"


def build_variants(preset: str = PRESET, headings=HEADINGS, label_areas=LABEL_AREAS,
                   visible_keypoints=VISIBLE_KEYPOINTS, rule_off: bool = True) -> list[Variant]:
    """One variant per knob value, the other settings at the preset's; a value equal to the preset's is the preset
    itself (no change, marked "(preset)"). ``rule_off`` adds the preset with the whole labelling rule off."""
    base = SynthConfig.from_preset(preset)
    variants = []
    for knob, values in (("heading", headings), ("min_label_area", label_areas),
                         ("min_visible_keypoints", visible_keypoints)):
        for value in values:
            value = type(getattr(base, knob))(value)
            same = value == getattr(base, knob)
            label = _show(value) + (f" ({preset})" if same else "")
            if knob == "heading" and value == 1.0:
                label += " (uniform over 360 degrees)"
            variants.append(Variant(knob, label, () if same else ((knob, value),)))
    if rule_off:
        variants.append(Variant("labelling rule", "off (area 0, visible 0)", tuple(RULE_OFF.items())))
    return variants


def render(cfg: SynthConfig, images: int, seed: int, cache: Path, workers: int = 1) -> Path:
    """The val split of ``cfg`` under ``cache`` (rendered once; the folder name hashes what changes the files);
    returns its annotation file."""
    key = json.dumps([GENERATOR_VERSION, "val", images, seed, repr(cfg)])
    out = cache / f"val-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    ann = out / "person_keypoints_val.json"
    if not ann.is_file():
        write_coco_dataset(out, cfg, images, seed=seed, split="val", workers=workers)
    return ann


def evaluate(estimator, ann_file: Path, layout: str = "coco") -> dict:
    """:func:`kdpose.evaluation.score_topdown`'s numbers of ``estimator`` on the labelled people of ``ann_file`` with
    the trainer's protocol (rescoring at 0.2, OKS-NMS 0.9; flip test as the estimator has it), plus the images,
    people labelled and people with a box only."""
    from kdpose.tasks.accuracy import score_estimator
    from kdpose.valset import load_val_set

    metrics = score_estimator(estimator, load_val_set(ann_file, layout), nms_thr=NMS_THR, rescore_thr=RESCORE_THR,
                              images_per_call=8)
    data = json.loads(Path(ann_file).read_text())
    return {**metrics, "images": len(data["images"]), "labelled": metrics["people"],
            "box_only": sum(1 for a in data["annotations"] if a.get("num_keypoints", 0) == 0)}


def format_table(rows: list[dict]) -> str:
    """Markdown table of ``rows`` (a variant's ``knob``/``value`` plus :func:`evaluate`'s numbers)."""
    lines = ["| knob | value | images | labelled people | box only | AP | AP50 | AP75 | APM | APL | AR | PCK@0.2 | "
             "L/R swapped |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{100 * r[m]:.1f}" if r[m] >= 0 else "n/a" for m in METRICS]
        lines.append(f"| {r['knob']} | {r['value']} | {r['images']} | {r['labelled']} | {r['box_only']} | "
                     + " | ".join(cells) + f" | {100 * r['PCK@0.2']:.1f} | {100 * r['swapped']:.1f} % |")
    return "\n".join(lines)


def build_estimator(model: str, weights: str | None, layout: str | None, input_size: str | None, threads: int):
    """A ``PoseEstimator`` of a zoo name / pretrained tag (with ``weights``), or of a run directory (its
    ``config.yaml``; ``best.safetensors`` unless ``weights``). Returns (estimator, description)."""
    from kdpose import PoseEstimator
    from kdpose.data.synth import parse_size

    size = parse_size(input_size) if input_size else None
    if Path(model).is_dir():
        from kdpose.engine.config import load_recipe

        cfg = load_recipe(Path(model) / "config.yaml")
        weights = weights or str(Path(model) / "best.safetensors")
        model, layout, size = cfg.model.name, layout or cfg.model.layout, size or tuple(cfg.model.input_size)
    est = PoseEstimator(model, weights=weights, layout=layout, input_size=size, threads=threads, flip_test=False)
    return est, {"model": model, "weights": weights, "layout": est.skeleton.name, "input_size": list(est.input_size)}


def run(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    est, model_info = build_estimator(args.model, args.weights, args.layout, args.input_size, args.threads)
    variants = build_variants(args.preset, rule_off=not args.no_rule_off)
    scored: dict[str, dict] = {}  # repr(config) -> metrics: the preset appears in every group, scored once
    rows = []
    with tempfile.TemporaryDirectory(prefix="kdpose_ap_knobs_") as tmp:
        cache = Path(args.cache) if args.cache else Path(tmp)
        for v in variants:
            cfg = v.config(args.preset)
            if repr(cfg) not in scored:
                t0 = time.perf_counter()
                ann = render(cfg, args.images, args.seed, cache, workers=args.workers)
                t1 = time.perf_counter()
                scored[repr(cfg)] = {**evaluate(est, ann, est.skeleton.name), "render_s": t1 - t0,
                                     "eval_s": time.perf_counter() - t1}
            row = {"knob": v.knob, "value": v.value, "changes": dict(v.changes), **scored[repr(cfg)]}
            rows.append(row)
            print(f"{v.knob} = {v.value}: AP {100 * row['AP']:.1f}, {row['labelled']} people "
                  f"(render {row['render_s']:.0f} s, eval {row['eval_s']:.0f} s)", flush=True)
    return {"preset": args.preset, "preset_settings": dataclasses.asdict(SynthConfig.from_preset(args.preset)),
            "images": args.images, "seed": args.seed, "split": "val", "generator": GENERATOR_VERSION,
            "threads": args.threads, **model_info, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="zoo name or pretrained tag, or a run directory (config.yaml + best.safetensors)")
    p.add_argument("--weights", help="weights file (.safetensors) for a zoo name, or instead of a run's best")
    p.add_argument("--layout", help="keypoint layout of a zoo name (default: from the weights file)")
    p.add_argument("--input-size", help="model input WxH, e.g. 96x128 (default: from the weights file)")
    p.add_argument("--preset", default=PRESET, help="the preset the knobs start from (default standard)")
    p.add_argument("--images", type=int, default=200, help="images per val set (default 200)")
    p.add_argument("--seed", type=int, default=0, help="val seed of every set (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--workers", type=int, default=1, help="render processes (default 1)")
    p.add_argument("--cache", help="keep the renders in this folder (default: a temporary one, removed)")
    p.add_argument("--no-rule-off", action="store_true", help="skip the set with the whole labelling rule off")
    p.add_argument("--json", help="write every number here")
    args = p.parse_args(argv)
    require_at_least(p, args, images=1, threads=1, workers=1)
    SynthConfig.from_preset(args.preset)  # an unknown preset: a ConfigError naming the valid ones, before any work
    if args.json:
        check_output_file(args.json, "--json", "ap_knobs.json")
    report = run(args)
    print()
    print(format_table(report["rows"]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
