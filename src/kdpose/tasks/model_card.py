"""What a finished (or stopped) training run says about itself, and the model card of weights shipped from it.

:class:`RunSummary` reads a run folder as the trainer writes it (``config.yaml``, ``log.jsonl``, ``val_results.json``):
the recipe, the validation records, iterations and epochs, wall time and core-hours. :func:`render_card` writes the
markdown of ``docs/models/<tag>.md`` (used by :mod:`kdpose.tasks.ship`). Nothing here writes into the run folder.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.config import RecipeCfg, SplitCfg, load_recipe, recipe_to_dict
from ..errors import DataError

# the COCO keypoint and box metrics in the order pycocotools prints them (others follow in the record's order)
METRIC_ORDER = ("AP", "AP50", "AP75", "APS", "APM", "APL", "AR1", "AR10", "AR", "AR50", "AR75", "ARS", "ARM", "ARL")
_NOT_METRICS = {"kind", "iter", "epoch", "elapsed_min"}


def val_metrics(record: dict) -> dict[str, float]:
    """The numeric metrics of a ``val`` record (nested per-part metrics as ``part/name``), COCO's order first."""
    flat: dict[str, float] = {}
    for key, value in record.items():
        if key in _NOT_METRICS:
            continue
        if isinstance(value, dict):
            flat.update({f"{key}/{k}": float(v) for k, v in value.items() if isinstance(v, (int, float))})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[key] = float(value)
    return {**{k: flat[k] for k in METRIC_ORDER if k in flat}, **{k: v for k, v in flat.items()
                                                                  if k not in METRIC_ORDER}}


@dataclass
class RunSummary:
    """A training run folder: its recipe (``config.yaml``) and the records of ``log.jsonl``."""

    run_dir: Path
    cfg: RecipeCfg
    records: list[dict]

    @classmethod
    def read(cls, run_dir: str | Path) -> "RunSummary":
        run_dir = Path(run_dir)
        for name in ("config.yaml", "log.jsonl"):
            if not (run_dir / name).is_file():
                raise DataError(f"{run_dir / name}: not found (a run folder of kdpose train holds config.yaml and "
                                "log.jsonl)")
        records = []
        for n, line in enumerate((run_dir / "log.jsonl").read_text().splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    raise DataError(f"{run_dir / 'log.jsonl'}: line {n} is not JSON") from None
        return cls(run_dir, load_recipe(run_dir / "config.yaml"), records)

    def of_kind(self, kind: str) -> list[dict]:
        return [r for r in self.records if r.get("kind") == kind]

    @property
    def finished(self) -> bool:
        return (self.run_dir / "final.safetensors").is_file()

    @property
    def iterations(self) -> int:
        return max((int(r.get("iter", 0)) for r in self.records), default=0)

    @property
    def iters_per_epoch(self) -> int | None:
        """From the first validation (the trainer validates at an epoch's end), else ``train.epoch_iters``."""
        vals = [r for r in self.of_kind("val") if r.get("epoch")]
        if vals:
            return int(vals[0]["iter"]) // int(vals[0]["epoch"])
        return self.cfg.train.epoch_iters or None

    @property
    def epochs(self) -> float | None:
        """Epochs trained (a fraction while an epoch is under way); None when unknown."""
        if self.finished:
            return float(self.cfg.train.max_epochs)
        per = self.iters_per_epoch
        return round(self.iterations / per, 2) if per else None

    @property
    def wall_minutes(self) -> float:
        """The trainer's clock (training and validation, summed over resumed sessions)."""
        return max((float(r["elapsed_min"]) for r in self.records if "elapsed_min" in r), default=0.0)

    @property
    def threads(self) -> list[int]:
        return sorted({int(r["threads"]) for r in self.of_kind("setup") if "threads" in r})

    @property
    def amp(self) -> list[str]:
        return sorted({str(r["amp"]) for r in self.of_kind("setup") if "amp" in r})

    @property
    def core_hours(self) -> float:
        """Wall hours x torch threads, per session (each ``setup`` record starts one with its thread count);
        data-loader workers are not counted."""
        threads, last, total = 1, 0.0, 0.0
        for r in self.records:
            if r.get("kind") == "setup":
                threads = int(r.get("threads", threads))
            elif "elapsed_min" in r:
                now = float(r["elapsed_min"])
                total += max(0.0, now - last) * threads
                last = max(last, now)
        return total / 60.0

    def shipped_val(self, weights: str) -> dict | None:
        """The ``val`` record of the shipped weights: the best by ``eval.metric`` for ``best``, else the last."""
        vals = self.of_kind("val")
        if not vals:
            return None
        if weights != "best":
            return vals[-1]
        metric = self.cfg.eval.metric
        scored = [r for r in vals if isinstance(r.get(metric), (int, float))]
        return max(scored, key=lambda r: r[metric]) if scored else vals[-1]

    def predictions(self) -> tuple[int, int] | None:
        """(predicted people, images) in ``val_results.json`` (the last validation's predictions), if present."""
        path = self.run_dir / "val_results.json"
        if not path.is_file():
            return None
        try:
            results = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        return len(results), len({r.get("image_id") for r in results})

    def recipe_differences(self, recipe: str | Path) -> list[str]:
        """``key: recipe value -> run value`` for every setting the run changed (``--set``), ``work_dir`` aside."""
        base = _flatten(recipe_to_dict(load_recipe(recipe)))
        run = _flatten(recipe_to_dict(self.cfg))
        return [f"{k}: {base.get(k)!r} -> {run.get(k)!r}" for k in sorted(set(base) | set(run))
                if k != "work_dir" and base.get(k) != run.get(k)]


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def describe_split(split: SplitCfg, name: str) -> str:
    """One line on a recipe split (synthetic settings, or its files)."""
    if split.synthetic_images > 0:
        w, h = split.synthetic_size
        extra = "".join(f", {k}={v}" for k, v in sorted(split.synthetic_settings.items()))
        if split.synthetic_fresh:
            return (f"{name}: new synthetic scenes every epoch, {split.synthetic_images} person crops an epoch "
                    f"(`{split.synthetic_preset}` preset{extra}), {w}x{h}, <= {split.synthetic_max_people} people, "
                    f"seed {split.synthetic_seed} (fresh {name} seed stream)")
        return (f"{name}: {split.synthetic_images} synthetic images (`{split.synthetic_preset}` preset{extra}), "
                f"{w}x{h}, <= {split.synthetic_max_people} people, seed {split.synthetic_seed} ({name} seed stream)")
    if split.ann_file:
        return f"{name}: `{split.ann_file}` (images `{split.img_dir or '-'}`)"
    return f"{name}: none"


@dataclass
class CardFacts:
    """What the card says beyond the run: the tag, the file and how it was shipped."""

    tag: str
    asset: str  # path shown for the file
    size_mb: float
    sha256: str
    loads: str  # model | backbone
    recipe: str
    weights: str  # best | final | a file name
    commands: list[tuple[str, str]]  # (command, what it reproduces)
    check: Any = None  # AccuracyCheck or None
    measured: dict | None = None  # the check's numbers on the shipped file
    machine: str = ""
    notes: str = ""
    recipe_diffs: list[str] = field(default_factory=list)  # RunSummary.recipe_differences


def _fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def _table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [row.get(c, "") for c in columns]
        lines.append("| " + " | ".join(_fmt(c) if isinstance(c, float) else str(c) for c in cells) + " |")
    return lines


def _detector_settings(cfg: RecipeCfg) -> dict | None:
    """The task settings of a person-detector recipe (``ignore_unlabelled``, ``zoom_min``, ...), else None."""
    from .base import get_task

    task = get_task(cfg)
    return task.settings(cfg) if task.name == "detection" else None


def render_card(run: RunSummary, facts: CardFacts) -> str:
    """The markdown model card of weights shipped from ``run`` (a pose model or the person detector)."""
    cfg = run.cfg
    w, h = cfg.model.input_size
    detector = _detector_settings(cfg)
    part = (f"the tag loads its `backbone.*` tensors only (start a network from them with `model.init_weights: "
            f"{facts.tag}` and `model.init_prefix: backbone.`; `load_model` of the tag fills only the backbone)"
            if facts.loads == "backbone" else "the tag loads the whole network")
    notes = facts.notes[:1].upper() + facts.notes[1:]
    what = "person detector" if detector is not None else f"{cfg.model.layout} layout"
    load = (f"`kdpose.PersonDetector(\"{facts.tag}\")`, `kdpose infer ... --det {facts.tag}`, "
            f"`kdpose demo --detector {facts.tag}`" if detector is not None and facts.loads == "model"
            else f"`kdpose.load_model(\"{facts.tag}\")`")
    lines = [f"# `{facts.tag}`", "",
             f"`{cfg.model.name}` ({what}, input {w}x{h}, w x h), trained by kdpose on its "
             f"synthetic data; {part}. {notes}".rstrip(), "",
             "| | |", "|---|---|",
             f"| file | `{facts.asset}`: float16 safetensors ({facts.size_mb:.1f} MB, sha256 `{facts.sha256[:16]}`), "
             "cast back to float32 when loaded |",
             f"| load | {load} |",
             f"| recipe | `{facts.recipe or 'not recorded'}` |",
             f"| run | `{run.run_dir}` ({'finished' if run.finished else 'not finished'}), shipped: {facts.weights} "
             "weights |", ""]
    if facts.recipe_diffs:
        lines += ["The run's settings differ from the recipe's in: " + "; ".join(f"`{d}`" for d in facts.recipe_diffs)
                  + ".", ""]
    if detector is None:
        val_note, augment = "; ground-truth boxes", f"`{cfg.data.augment}`"
    else:
        val_note = ("; people without labelled keypoints are ignore regions (`iscrowd: 1`, `ignore_unlabelled`)"
                    if detector["ignore_unlabelled"] else "; every rendered person is a box")
        augment = (f"letterbox to {w}x{h}, seeded horizontal flip and zoom-out ({detector['zoom_min']:g}-1), new "
                   "every epoch")
    lines += ["## Data", "", "- " + describe_split(cfg.data.train, "train"),
              "- " + describe_split(cfg.data.val, "val") + val_note, f"- augmentation: {augment}", ""]
    tc = run.cfg.train
    epochs = "unknown" if run.epochs is None else f"{run.epochs:g} of {tc.max_epochs}"
    amp = ", ".join(run.amp) or "not recorded"
    lines += ["## Training", "",
              f"- epochs: {epochs}; iterations: {run.iterations} (batch {cfg.data.batch_size}"
              + (f", {run.iters_per_epoch} an epoch" if run.iters_per_epoch else "") + ")",
              f"- optimiser: AdamW lr {cfg.optim.lr:g}, weight decay {cfg.optim.weight_decay:g}; EMA: "
              f"{'yes' if tc.ema else 'no'}; seed {tc.seed}",
              f"- precision: training `amp: {amp}` (`none` = float32); shipped as float16",
              f"- wall time: {run.wall_minutes:.1f} min ({run.wall_minutes / 60:.2f} h, the trainer's clock over all "
              f"sessions); torch threads: {', '.join(map(str, run.threads)) or 'not recorded'}; "
              f"core-hours: {run.core_hours:.2f} (wall x threads; data workers not counted)",
              f"- machine: {facts.machine or 'not recorded in the run folder'}", ""]
    lines += _accuracy_lines(run, facts)
    lines += ["## Reproduce", "", "```bash"] + [f"{c}    # {what}" for c, what in facts.commands] + ["```", ""]
    return "\n".join(lines)


def _accuracy_lines(run: RunSummary, facts: CardFacts) -> list[str]:
    vals = run.of_kind("val")
    shipped = run.shipped_val(facts.weights)
    lines = ["## Accuracy", ""]
    if not vals:
        lines += ["The run logged no validation.", ""]
    else:
        columns = list(val_metrics(vals[-1]))
        if any("/" in c for c in columns):  # per part (whole-body): each part's AP and AR, not 10 numbers a part
            columns = [c for c in columns if "/" not in c or c.endswith(("/AP", "/AR"))]
        rows = [{"epoch": r.get("epoch", ""), "iteration": r.get("iter", ""),
                 "wall min": f"{float(r.get('elapsed_min', 0.0)):.1f}", **val_metrics(r),
                 "shipped": "yes" if r is shipped else ""} for r in vals]
        weights = "their EMA copy" if run.cfg.train.ema and run.cfg.eval.use_ema else "no EMA"
        lines += [f"The recipe's val split, float32 training weights ({weights}), as `log.jsonl`'s `val` records "
                  "(COCO metrics are fractions, -1 = no such people; the depth paper's AP / AR are in %):", ""]
        lines += _table(rows, ["epoch", "iteration", "wall min", *columns, "shipped"]) + [""]
    count = run.predictions()
    if count:
        lines += [f"`val_results.json` of the run holds the last validation's {count[0]} predicted people on "
                  f"{count[1]} images.", ""]
    if facts.check is not None and facts.measured is not None:
        lines += [f"Accuracy check of the shipped float16 file ({facts.check.describe()}); measured:", ""]
        names = [k for k in facts.measured if k != "people"]
        lines += _table([{**facts.measured, "people": facts.measured.get("people", "")}], [*names, "people"]) + [""]
    elif facts.loads == "backbone":
        lines += ["No accuracy check: the tag loads no head. The numbers above are the pre-training network's.", ""]
    return lines


__all__ = ["CardFacts", "RunSummary", "describe_split", "render_card", "val_metrics"]
