"""Learning curve of a training run: validation metric vs wall-clock minutes, from the run's ``log.jsonl``.

Example:
    .venv/bin/python -m kdpose train configs/rtmpose-t_synth-body.yaml --work-dir work_dirs/curve
    .venv/bin/python benchmarks/learning_curve.py work_dirs/curve --plot docs/images/learning_curve_rtmpose-t.png
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_curve(work_dir: Path, metric: str) -> tuple[list[dict], list[dict]]:
    """(validation records, training records) of ``work_dir/log.jsonl``."""
    records = [json.loads(line) for line in (work_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    val = [r for r in records if r["kind"] == "val"]
    train = [r for r in records if r["kind"] == "train"]
    for r in val:
        value = r
        for part in metric.split("."):
            value = value[part]
        r["_metric"] = float(value)
    return val, train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work_dir", type=Path)
    p.add_argument("--metric", default="AP", help="dotted metric key (e.g. AP, wholebody.AP)")
    p.add_argument("--plot", default=None, help="also save a PNG plot here (needs matplotlib)")
    args = p.parse_args(argv)
    val, train = read_curve(args.work_dir, args.metric)
    print(f"| epoch | iteration | minutes | {args.metric} |")
    print("|---|---|---|---|")
    for r in val:
        print(f"| {r['epoch']} | {r['iter']} | {r['elapsed_min']:.1f} | {r['_metric']:.3f} |")
    if train:
        rate = sum(r["samples_per_s"] for r in train) / len(train)
        share = sum(r["data_share"] for r in train) / len(train)
        print(f"\nmean training throughput {rate:.1f} samples/s, data-wait share {100 * share:.0f}%")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
        ax.plot([r["elapsed_min"] for r in val], [r["_metric"] for r in val], marker="o")
        ax.set_xlabel("wall-clock minutes (training + validation)")
        ax.set_ylabel(f"val {args.metric}")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
