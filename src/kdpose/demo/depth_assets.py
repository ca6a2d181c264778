"""The shipped teacher of ``kdpose demo --method stagewise`` and the command that trains it.

    python -m kdpose.demo.depth_assets --steps 3500 --threads 1 --work-dir /tmp/kd_depth_teacher

trains :data:`~kdpose.tasks.depth_setting.TEACHER` (MPM-2S, Nw = 64) on 400 synthetic depth scenes at the demo's scale
(AdamW 2e-3, batch 8, warm-up + cosine), evaluates it with the paper's PCK precision / recall on held-out synthetic
(val split) and real-like scenes, and writes it as float16 safetensors to ``src/kdpose/assets/`` (the loader casts
back to float32), with its metrics in the file's metadata. Snapshots every 500 steps go to ``--work-dir``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..errors import CheckpointError
from .assets import ASSETS_DIR
from ..tasks.depth_setting import (REAL_SEED, TEACHER, TRAIN_SEED, VAL_SEED, DepthBatches, PoseMachineSpec,
                                   build_pose_machine, evaluate, real_like_cfg, render_scenes, synthetic_cfg)
from ..tasks.steps import StepSchedule, train_steps


def depth_teacher_asset(spec: PoseMachineSpec = TEACHER) -> Path:
    """Where the shipped depth demo teacher lives (may not exist)."""
    return ASSETS_DIR / f"demo_teacher_{spec.kind}-{spec.stages}s-w{spec.width}_depth.safetensors"


def save_fp16(model: torch.nn.Module, path: Path, metadata: dict[str, str]) -> Path:
    """``model``'s state_dict as float16 safetensors, atomically, with its ModelInfo header and ``metadata``
    (one writer for every shipped file: :func:`kdpose.tasks.ship.write_fp16`)."""
    from ..tasks.ship import write_fp16

    return write_fp16(model.state_dict(), path, {**model.info.to_metadata(), **metadata})


def load_depth_teacher(path: Path | None = None, spec: PoseMachineSpec = TEACHER):
    """The shipped (or given) teacher weights in a fresh :data:`TEACHER` network, float32, eval mode."""
    from safetensors.torch import load_file

    from ..models.weights import load_weights

    path = Path(path or depth_teacher_asset(spec))
    if not path.is_file():
        raise CheckpointError(f"{path}: the depth demo teacher is missing (make it with python -m "
                              f"kdpose.demo.depth_assets, or run the demo with --from-scratch)")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(path)).items()}
    return load_weights(build_pose_machine(spec), state).eval()


def train_teacher(steps: int, scenes: int, seed: int, work_dir: Path | None = None, log=print):
    """Train a fresh :data:`TEACHER` for ``steps`` steps on ``scenes`` synthetic training scenes; returns
    (model, TrainLog)."""
    data = render_scenes(synthetic_cfg(), scenes, TRAIN_SEED, "train")
    model = build_pose_machine(TEACHER, seed=seed)
    batches = DepthBatches(data, model.codec, batch_size=8, seed=seed)

    def on_step(step: int, row: dict) -> None:
        log(json.dumps(row))
        if work_dir is not None and (step - 1) % 500 == 0 and step > 1:
            save_fp16(model, work_dir / f"step_{step - 1}.safetensors", {"steps": str(step - 1)})

    train_log = train_steps(model, batches, StepSchedule(steps), interval=25, on_step=on_step)
    return model, train_log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdpose.demo.depth_assets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3500)
    parser.add_argument("--scenes", type=int, default=400, help="synthetic training scenes")
    parser.add_argument("--test", type=int, default=60, help="held-out scenes per domain for the metric")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/kd_depth_teacher"))
    parser.add_argument("--out", type=Path, default=None, help="default: the shipped asset path")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, train_log = train_teacher(args.steps, args.scenes, args.seed, args.work_dir)
    metrics = {"steps": args.steps, "train_seconds": round(train_log.seconds)}
    for name, cfg, seed, split in (("val", synthetic_cfg(), VAL_SEED, "val"),
                                   ("real_like", real_like_cfg(), REAL_SEED, "test")):
        metrics[name] = evaluate(model, render_scenes(cfg, args.test, seed, split)).summary()
    out = save_fp16(model, args.out or depth_teacher_asset(),
                    {"model": f"{TEACHER.kind}-{TEACHER.stages}s", "width": str(TEACHER.width),
                     "metrics": json.dumps(metrics)})
    print(json.dumps({"wrote": str(out), "MB": round(out.stat().st_size / 1e6, 2),
                      "seconds": round(time.perf_counter() - start), **metrics}))
    return 0


if __name__ == "__main__":
    from ..utils.entry import guarded

    raise SystemExit(guarded(main))
