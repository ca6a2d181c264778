"""The multi-seed reference of a demo setting: what ``benchmarks/demo_seeds.py`` measured over several seeds of the
same ``kdpose demo`` command, shown next to a run's one-seed verdict so that one lucky or unlucky seed cannot mislead
a reader.

The references live in ``reference.json`` next to this module (package data), one entry per (method, layout, setting,
minutes)::

    {"about": str, "entries": {"dwpose/coco/hard/10min": {
        "method", "layout", "setting", "minutes", "options": {"train_images", "val_images", "from_scratch"},
        "metric": "AP" | "wholebody.AP", "seeds": [int], "date": "YYYY-MM-DD", "command": str,
        "rows": {"teacher" | "student" | "kd_stage1" | "kd": {"label", "ap": [per seed], "ap_mean", "ap_std",
                                                                "pck": [per seed], "pck_mean", "pck_std"}},
        "paired": {"ap": {"better", "of"}, "pck": {"better", "of"}},  # seeds where the distilled student wins
        "wall_min": {"per_seed": [float], "mean", "std"}, "machine": {"cpu", "cores", "threads"}}}}
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from ..errors import DataError
from ..utils.io import write_json
from .config import DemoOptions

REFERENCE_FILE = Path(__file__).with_name("reference.json")
ABOUT = ("Multi-seed results of `kdpose demo` per (method, layout, setting, minutes), written by "
         "benchmarks/demo_seeds.py and read by kdpose.demo.reference (the report's line next to the verdict).")
DEFAULT_SEEDS = (0, 1, 2)


def reference_key(method: str, layout: str, setting: str, minutes: float) -> str:
    """The entry's key, e.g. ``dwpose/coco/hard/10min``."""
    return f"{method}/{layout}/{setting}/{minutes:g}min"


def run_options(opts: DemoOptions) -> dict:
    """The options besides the key that change what a demo trains on: a reference only stands for runs that share
    them (a run with ``--train-images 100`` is not the setting the seeds measured)."""
    return {"train_images": opts.images, "val_images": opts.val_images, "from_scratch": opts.from_scratch}


def seeds_command(method: str, layout: str, minutes: float, seeds=DEFAULT_SEEDS) -> str:
    """The command that measures (or re-aggregates) the reference of a setting."""
    return shlex.join(["python", "benchmarks/demo_seeds.py", "--method", method, "--layout", layout,
                       "--minutes", f"{minutes:g}", "--seeds", *map(str, seeds)])


def load_references(path: Path = REFERENCE_FILE) -> dict[str, dict]:
    """Every entry of ``path`` by key; {} when the file does not exist."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable demo reference file ({exc})") from None
    return doc.get("entries", {})


def find_reference(opts: DemoOptions, path: Path = REFERENCE_FILE) -> dict | None:
    """The reference of ``opts``'s method, layout, setting and minutes, or None when there is none or it ran on
    other data options (:func:`run_options`)."""
    entry = load_references(path).get(reference_key(opts.method, opts.layout, opts.setting.name, opts.minutes))
    if entry is None or entry.get("options") != run_options(opts):
        return None
    return entry


def save_reference(entry: dict, path: Path = REFERENCE_FILE) -> str:
    """Store ``entry`` under its key in ``path`` (other entries kept), atomically; returns the key."""
    entries = load_references(path)
    key = reference_key(entry["method"], entry["layout"], entry["setting"], entry["minutes"])
    entries[key] = entry
    write_json(path, {"about": ABOUT, "entries": dict(sorted(entries.items()))}, indent=1)
    return key


def mean_std_text(stats: dict, name: str) -> str:
    """``stats[name_mean] +- stats[name_std]`` with three decimals (the demo's precision), ``n/a`` when unmeasured."""
    mean = stats.get(f"{name}_mean")
    return "n/a" if mean is None else f"{mean:.3f} +- {stats[f'{name}_std']:.3f}"


def reference_line(entry: dict | None, opts: DemoOptions) -> str:
    """The report's sentence after the verdict: the reference's means and paired counts, or how to measure one."""
    if entry is None:
        return (f"No multi-seed reference for this setting yet "
                f"({seeds_command(opts.method, opts.layout, opts.minutes)}).")
    rows, metric, paired = entry["rows"], entry["metric"], entry["paired"]
    models = [(f"{name} {metric}", rows.get(key, {})) for name, key in
              (("teacher", "teacher"), ("plain", "student"), ("distilled", "kd"))]
    aps = ", ".join(f"{name} {mean_std_text(stats, 'ap')}" for name, stats in models
                    if stats.get("ap_mean") is not None)
    pck = paired.get("pck", {})
    pck_text = f" (PCK: {pck['better']} of {pck['of']})" if pck.get("of") else ""
    return (f"Over seeds {' '.join(map(str, entry['seeds']))} of this setting (BENCHMARKS.md, {entry['date']}): "
            f"{aps}; the distilled student is better on {paired['ap']['better']} of {paired['ap']['of']} seeds"
            f"{pck_text}.")


__all__ = ["REFERENCE_FILE", "find_reference", "load_references", "mean_std_text", "reference_key",
           "reference_line", "run_options", "save_reference", "seeds_command"]
