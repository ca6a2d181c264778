"""How close the full training and distillation loops come to the bare model step (issue 22's >= 0.8x target).

For each setting, in one run on the same process and precision:
  model-only: forward + backward + AdamW step of the task (the model, or the distiller with its frozen teacher) on
              one fixed batch held in memory, under the run's autocast: the median of six blocks of ``--iters / 3``
              steps, three before the full loop and three after it;
  full loop:  ``Trainer.fit`` of the same recipe: DataLoader workers reading and augmenting the synthetic images,
              EMA, logging and a checkpoint every ``--ckpt-every`` iterations.
The loop's rate is measured from the end of iteration ``--warmup`` to the last one (worker start-up excluded).

    .venv/bin/python benchmarks/bench_loop_efficiency.py [--iters 40] [--warmup 5] [--ckpt-every 20]
        [--amp none bf16] [--workers 1 2]

Settings: ``train`` = configs/rtmpose-t_synth-body.yaml (RTMPose-t, 96x128, batch 32);
``distill`` = configs/dwpose_cpu_s1_s-t.yaml (DWPose stage 1, RTMPose-s teacher -> RTMPose-t, 64x96, batch 32).
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from kdpose.utils.entry import guarded, require_at_least

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {"train": "configs/rtmpose-t_synth-body.yaml", "distill": "configs/dwpose_cpu_s1_s-t.yaml"}


def measure(name: str, args: argparse.Namespace, cache_dir: str, work_root: Path, amp: str = "auto",
            workers: int = 2) -> dict:
    from kdpose.data import collate_topdown
    from kdpose.tasks import build_model, build_task
    from kdpose.tasks.topdown import build_datasets
    from kdpose.engine.config import load_recipe
    from kdpose.engine.precision import autocast
    from kdpose.engine.trainer import Trainer, seed_everything
    from kdpose.utils.progress import TrainProgress

    iters = args.warmup + args.iters
    cfg = load_recipe(REPO / SETTINGS[name], [
        f"train.amp={amp}", "train.threads=auto", f"data.workers={workers}", f"data.cache_dir={cache_dir}",
        "data.train.synthetic_images=400", "eval.interval=0", "train.max_epochs=1", f"train.epoch_iters={iters}",
        "train.log_interval=10", f"train.checkpoint_interval_iters={args.ckpt_every}", "train.device=cpu",
        *(["model.init_weights="] if name == "train" else [])])   # speed does not depend on the start weights
    seed_everything(0)
    model = build_model(cfg.model)
    task = build_task(cfg, model)
    train_set, _, _ = build_datasets(cfg, model)
    stamps: list[float] = []
    trainer = Trainer(cfg, task, train_set, collate_topdown, work_root / f"{name}-{amp}-w{workers}",
                      on_iteration_end=lambda t: stamps.append(time.perf_counter()))

    # model-only: the same task, optimiser and autocast on one batch that is already in memory
    batch = collate_topdown([train_set[i] for i in range(cfg.data.batch_size)])
    progress = TrainProgress(0, 1, 0, iters)
    trainer.task.train()

    def step():
        with autocast(trainer.device, trainer.amp):
            loss = trainer.wrapped(batch, progress)["loss"]
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()

    def block_rates() -> list[float]:
        """Samples/s of three blocks of bare steps: on a shared 2-vCPU machine single readings moved by 1.6x between
        back-to-back settings, so the bare rate is the median of six blocks, three before the loop and three after."""
        rates = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(max(1, args.iters // 3)):
                step()
            rates.append(cfg.data.batch_size * max(1, args.iters // 3) / (time.perf_counter() - start))
        return rates

    for _ in range(args.warmup):
        step()
    rates = block_rates()
    trainer.fit()
    loop_rate = cfg.data.batch_size * (len(stamps) - args.warmup) / (stamps[-1] - stamps[args.warmup - 1])
    trainer.task.train()
    rates += block_rates()
    model_rate = statistics.median(rates)
    return {"setting": name, "recipe": SETTINGS[name], "amp": trainer.amp, "threads": trainer.threads,
            "workers": workers, "model_only_samples_per_s": round(model_rate, 1),
            "model_only_range": [round(min(rates), 1), round(max(rates), 1)],
            "loop_samples_per_s": round(loop_rate, 1), "ratio": round(loop_rate / model_rate, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--ckpt-every", type=int, default=20)
    parser.add_argument("--amp", nargs="+", default=["auto"], choices=("auto", "none", "bf16"),
                        help="train.amp of each measurement, side by side in one run (default auto)")
    parser.add_argument("--workers", nargs="+", type=int, default=[2], help="data.workers of each measurement")
    parser.add_argument("--cache-dir", default=".kdpose_cache/synth")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    # the loop's rate is timed from the end of iteration --warmup: at least one, and one after it
    require_at_least(parser, args, iters=1, warmup=1, ckpt_every=1, workers=0)
    if args.json:
        from kdpose.utils.io import check_output_file

        check_output_file(args.json, "--json", "loop_efficiency.json")
    from kdpose.engine.precision import cpu_has_native_bf16

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.settings:
            for amp in args.amp:
                for workers in args.workers:
                    gc.collect()  # free the previous setting's trainer (reference cycles too) before timing this one
                    rows.append(measure(name, args, args.cache_dir, Path(tmp), amp, workers))
                    print(json.dumps(rows[-1]), flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, native bf16: {cpu_has_native_bf16()}, "
          f"torch {torch.__version__}")
    print("| setting | precision | threads | data workers | model-only samples/s (range) | full loop samples/s "
          "| loop / model |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} ({r['recipe']}) | {r['amp']} | {r['threads']} | {r['workers']} | "
              f"{r['model_only_samples_per_s']} ({r['model_only_range'][0]}-{r['model_only_range'][1]}) | "
              f"{r['loop_samples_per_s']} | {r['ratio']} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    raise SystemExit(guarded(main))
