"""The fixed-step protocol (``kdpose.tasks.steps``, the depth tables and ``kdpose demo --method stagewise``) runs on
the one Trainer and stays bit-identical to the plain loop it replaced: same batch at each step, AdamW with one weight
decay, LambdaLR warm-up + cosine, the same losses and the same weights."""
from __future__ import annotations

import math

import pytest
import torch

from kdpose.data.bottomup import DepthBatches
from kdpose.distill.stagewise import StagewiseDistiller
from kdpose.engine.config import RecipeCfg, TrainCfg
from kdpose.engine.trainer import Trainer
from kdpose.errors import ConfigError
from kdpose.models.pose_machines import create_pose_machine
from kdpose.tasks.depth_setting import render_scenes, synthetic_cfg
from kdpose.tasks.steps import StepSchedule, train_steps

STEPS = 6


@pytest.fixture(scope="module")
def scenes():
    return render_scenes(synthetic_cfg((96, 72)), 4, 1, "train")


def _net(width: int = 8, seed: int = 0):
    torch.manual_seed(seed)
    return create_pose_machine("mpm", 2, width=width, input_size=(48, 48), sigma=3.0, nms_radius=3.0)


def _reference(task, student, batches: DepthBatches, schedule: StepSchedule) -> list[float]:
    """The loop ``train_steps`` had before it used the Trainer (its published numbers came from it)."""
    params = [p for p in task.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=schedule.lr, weight_decay=schedule.weight_decay)

    def factor(step):
        if step < schedule.warmup:
            return (step + 1) / schedule.warmup
        t = (step - schedule.warmup) / max(1, schedule.steps - schedule.warmup)
        return schedule.final_factor + (1 - schedule.final_factor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    task.train()
    losses = []
    from kdpose.utils.progress import TrainProgress

    for step in range(schedule.steps):
        batch = batches.batch(step)
        if task is student:
            out = student.loss_fn(student(batch.inputs), batch)
        else:
            out = task(batch, TrainProgress(epoch=0, max_epochs=1, iteration=step, max_iterations=schedule.steps))
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(out["loss"].detach()))
    return losses


@pytest.mark.parametrize("distilled", [False, True], ids=["plain", "stagewise+hints"])
def test_train_steps_is_bit_identical_to_the_plain_loop(scenes, distilled, tmp_path):
    schedule = StepSchedule(STEPS, warmup=2)
    runs = []
    for use_trainer in (False, True):
        student = _net()
        task = StagewiseDistiller(student, _net(width=16, seed=1).eval(), tau=2, alpha=0.5, gamma=1.0) \
            if distilled else student
        batches = DepthBatches(scenes, student.codec, 2, seed=0)
        if use_trainer:
            seen: list[float] = []
            (task if distilled else student.loss_fn).register_forward_hook(
                lambda m, i, o: seen.append(float(o["loss"].detach())))
            rows: list[int] = []
            log = train_steps(task, batches, schedule, interval=2, on_step=lambda s, r: rows.append(s),
                              work_dir=tmp_path / ("kd" if distilled else "plain"))
            assert [r["step"] for r in log.rows] == rows == [1, 3, 5, 6] and log.steps == STEPS
            assert set(log.rows[0]) >= {"step", "s", "loss", "max_conf"} and not task.training
            assert (tmp_path / ("kd" if distilled else "plain") / "final.safetensors").is_file()
            losses = seen
        else:
            losses = _reference(task, student, batches, schedule)
        runs.append((losses, {k: v.clone() for k, v in student.state_dict().items()}))
    (ref_losses, ref_state), (losses, state) = runs
    assert losses == ref_losses  # exact floats
    assert all(torch.equal(ref_state[k], state[k]) for k in ref_state)


def test_step_indexed_batches_need_the_iterations_of_an_epoch(scenes, tmp_path):
    from kdpose.models.task import PoseTask

    student = _net()
    cfg = RecipeCfg(train=TrainCfg(max_epochs=1, epoch_iters=0, device="cpu", threads=0, ema=False, tensorboard=False))
    batches = DepthBatches(scenes, student.codec, 2, seed=0)
    with pytest.raises(ConfigError, match="epoch_iters"):
        Trainer(cfg, PoseTask(student), None, None, tmp_path, batches=batches.batch)
