"""The demo report's charts (matplotlib, PNG): AP vs GFLOPs and AP vs latency (through
``kdpose.export.bench.plot_accuracy``), learning curves and per-part / per-metric AP bars."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..utils.io import atomic_write

# metric rows of the bar chart: whole-body parts, or the COCO breakdown for body-17
WHOLEBODY_PARTS = ("body", "foot", "face", "hand", "wholebody")
COCO_METRICS = ("AP", "AP50", "AP75", "APM", "APL", "AR")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    with atomic_write(path) as f:
        f.write(buf.getvalue())
    _pyplot().close(fig)
    return path


def plot_tradeoffs(rows: Sequence[dict], out_dir: Path) -> dict[str, Path]:
    """AP vs GFLOPs and AP vs latency (onnxruntime, batch 1) of the rows that have them.

    Args:
        rows: dicts with ``label``, ``ap``, ``gflops``, ``params_m`` and ``onnx_ms`` (None when not measured).
    """
    from ..export.bench import plot_accuracy

    out: dict[str, Path] = {}
    points = [{"model": r["label"], "ap": r["ap"], "gflops": r["gflops"], "params_m": r["params_m"],
               "latency_ms": r.get("onnx_ms")} for r in rows if r.get("gflops") is not None]
    if points:
        out["ap_vs_gflops"] = Path(plot_accuracy(points, str(out_dir / "ap_vs_gflops.png"), x="gflops"))
    timed = [p for p in points if p["latency_ms"] is not None]
    if timed:
        out["ap_vs_latency"] = Path(plot_accuracy(timed, str(out_dir / "ap_vs_latency.png"), x="latency_ms"))
    return out


TASK_LOSS_KEYS = ("loss_kpt", "loss_pose_c1", "loss_reg", "loss")  # SimCC KL, SDPose's deployed cycle, regression


def _task_loss(record: dict) -> float | None:
    """The task loss of a ``log.jsonl`` train record: the first of :data:`TASK_LOSS_KEYS` it has."""
    return next((record[k] for k in TASK_LOSS_KEYS if k in record), None)


def plot_learning_curves(curves: dict[str, list[dict]], metric: str, path: Path) -> Path:
    """Training task loss (left) and validation AP (right) against the iteration, one line per run.

    Args:
        curves: label -> ``log.jsonl`` records (``kind`` train / val, ``iter``); records of a run continuing
            another (DWPose stage 2) are already shifted by the earlier run's iterations.
        metric: the val key (``AP``, or ``wholebody.AP`` for whole-body runs).
    """
    plt = _pyplot()
    fig, (ax_loss, ax_ap) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    for label, records in curves.items():
        # the task loss against the ground truth: comparable across runs, unlike ``loss``, which includes the
        # distillation terms (and is the KD term alone in DWPose stage 2)
        train = [(r["iter"], _task_loss(r)) for r in records if r.get("kind") == "train"]
        train = [(i, v) for i, v in train if v is not None]
        val = [r for r in records if r.get("kind") == "val"]
        if train:
            ax_loss.plot(*zip(*train), label=label, alpha=0.85)
        points = [(r["iter"], _lookup(r, metric)) for r in val]
        points = [(i, v) for i, v in points if v is not None]
        if points:
            ax_ap.plot(*zip(*points), marker="o", label=label)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("training task loss (vs ground truth)")
    ax_loss.set_yscale("log")
    ax_ap.set_xlabel("iteration")
    ax_ap.set_ylabel(f"val {metric}")
    for ax in (ax_loss, ax_ap):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _lookup(record: dict, metric: str) -> float | None:
    value = record
    for part in metric.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value)


def plot_metric_bars(rows: Sequence[dict], wholebody: bool, path: Path) -> Path:
    """Grouped bars: per whole-body part AP, or the COCO AP breakdown (AP, AP50, AP75, APM, APL, AR).

    Args:
        rows: dicts with ``label`` and ``metrics`` (flat, or per part for whole-body).
    """
    plt = _pyplot()
    import numpy as np

    keys = WHOLEBODY_PARTS if wholebody else COCO_METRICS
    fig, ax = plt.subplots(figsize=(8, 3.8), dpi=110)
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(keys))
    for i, row in enumerate(rows):
        m = row["metrics"]
        values = [(m.get(k, {}).get("AP", 0.0) if wholebody else m.get(k, 0.0)) for k in keys]
        values = [max(0.0, float(v)) for v in values]  # -1 = undefined (no instance of that size)
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, values, width, label=row["label"])
    ax.set_xticks(x, [f"{k} AP" for k in keys] if wholebody else list(keys))
    ax.set_ylabel("value on the demo val set")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("per-part AP" if wholebody else "COCO metrics")
    fig.tight_layout()
    return _save(fig, path)


__all__ = ["plot_learning_curves", "plot_metric_bars", "plot_tradeoffs"]
