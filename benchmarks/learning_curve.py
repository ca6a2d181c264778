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

from kdpose.errors import DataError
from kdpose.utils.entry import guarded


def read_curve(work_dir: Path, metric: str) -> tuple[list[dict], list[dict]]:
    """(validation records, training records) of ``work_dir/log.jsonl``; a ``DataError`` naming the file when it is
    missing, not JSON lines, or its validation records lack ``metric``."""
    log = work_dir / "log.jsonl"
    if not work_dir.is_dir():
        raise DataError(f"{work_dir}: no such run folder")
    if not log.is_file():
        raise DataError(f"{log}: not found (is {work_dir} a training run's --work-dir?)")
    records = []
    for number, line in enumerate(log.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise DataError(f"{log}: line {number} is not JSON ({exc})") from None
    val = [r for r in records if isinstance(r, dict) and r.get("kind") == "val"]
    train = [r for r in records if isinstance(r, dict) and r.get("kind") == "train"]
    for r in val:
        value = r
        for part in metric.split("."):
            if not isinstance(value, dict) or part not in value:
                keys = sorted(k for k, v in r.items() if isinstance(v, (int, float, dict)) and k != "iter")
                raise DataError(f"{log}: a validation record (iteration {r.get('iter')}) has no metric '{metric}' "
                                f"(--metric; it has {', '.join(keys)})")
            value = value[part]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DataError(f"{log}: metric '{metric}' is {type(value).__name__}, not a number (--metric: give a "
                            "dotted key to a number, e.g. wholebody.AP)")
        r["_metric"] = float(value)
    return val, train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work_dir", type=Path)
    p.add_argument("--metric", default="AP", help="dotted metric key (e.g. AP, wholebody.AP)")
    p.add_argument("--plot", default=None, help="also save a PNG plot here (needs matplotlib)")
    args = p.parse_args(argv)
    if args.plot:
        from kdpose.cli.main import require_extra
        from kdpose.utils.io import check_output_file

        check_output_file(args.plot, "--plot", "learning_curve.png")
        require_extra("matplotlib", "learning_curve.py --plot")
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
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main))
