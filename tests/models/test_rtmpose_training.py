"""A short training run of RTMPose-t through PoseTask lowers the SimCC KL loss on synthetic crops."""
from __future__ import annotations

import numpy as np
import torch

from kdpose.data.sample import Batch, stack_dataclasses
from kdpose.models import create_model
from kdpose.models.task import PoseTask

SIZE = (48, 64)  # (w, h)


def _synthetic_batch(model, n: int, rng: np.random.Generator) -> Batch:
    """Crops with one coloured 3x3 square per keypoint (colour = keypoint id) on noise, and their SimCC targets."""
    w, h = SIZE
    k = model.skeleton.num_keypoints
    kpts = rng.uniform([4, 4], [w - 5, h - 5], size=(n, k, 2)).astype(np.float32)
    visible = (rng.random((n, k)) > 0.1).astype(np.float32)
    images = rng.normal(0, 0.1, size=(n, 3, h, w)).astype(np.float32)
    colours = np.stack([np.cos(np.arange(k) * 0.7), np.sin(np.arange(k) * 1.3), np.linspace(-1, 1, k)], 1) * 2
    for i in range(n):
        for j in np.flatnonzero(visible[i]):
            x, y = np.round(kpts[i, j]).astype(int)
            images[i, :, y - 1:y + 2, x - 1:x + 2] = colours[j][:, None, None]
    target = stack_dataclasses([model.codec.encode(kpts[i], visible[i]) for i in range(n)])
    return Batch(inputs=torch.from_numpy(images), target=target, keypoints=torch.from_numpy(kpts),
                 visible=torch.from_numpy(visible), center=torch.zeros(n, 2), scale=torch.ones(n, 2),
                 image_id=torch.arange(n), bbox_score=torch.ones(n))


def test_twenty_steps_lower_the_loss():
    torch.manual_seed(0)
    model = create_model("rtmpose-t", input_size=SIZE)
    task = PoseTask(model).train()
    batch = _synthetic_batch(model, 8, np.random.default_rng(0))
    optimiser = torch.optim.AdamW(task.parameters(), lr=4e-3, weight_decay=0.0)
    losses = []
    for _ in range(20):
        out = task(batch)
        assert set(out) >= {"loss", "loss_kpt"}
        optimiser.zero_grad()
        out["loss"].backward()
        optimiser.step()
        losses.append(out["loss"].item())
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
