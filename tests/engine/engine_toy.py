"""A tiny task for engine tests: a conv+BN+dropout model regressing 2 points from 8x8 random images."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from kdpose.data.sample import Batch
from kdpose.engine.config import RecipeCfg
from kdpose.models.task import PoseTask


class ToyDataset(torch.utils.data.Dataset):
    """Items are a function of (seed, epoch, index): the augmentation noise changes with the epoch."""

    def __init__(self, size: int = 24, seed: int = 0):
        self.size, self.seed, self.epoch, self.stage = size, seed, 0, 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_stage(self, stage: int) -> None:
        self.stage = stage

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        base = np.random.default_rng([self.seed, index])
        image = base.standard_normal((3, 8, 8)).astype(np.float32)
        target = image[:, :2, :2].reshape(-1)[:4].astype(np.float32)
        aug = np.random.default_rng([self.seed, self.epoch, index])
        image = image + 0.1 * aug.standard_normal(image.shape).astype(np.float32) / self.stage
        return torch.from_numpy(image), torch.from_numpy(target), index


def collate(items) -> Batch:
    images = torch.stack([i[0] for i in items])
    targets = torch.stack([i[1] for i in items])
    n = len(items)
    return Batch(inputs=images, target=targets, keypoints=targets.view(n, 2, 2), visible=torch.ones(n, 2),
                 center=torch.zeros(n, 2), scale=torch.ones(n, 2), image_id=torch.tensor([i[2] for i in items]),
                 bbox_score=torch.ones(n))


class ToyLoss(nn.Module):
    def forward(self, output, batch):
        loss = nn.functional.mse_loss(output, batch.target)
        return {"loss": loss, "loss_mse": loss.detach()}


class ToyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8 * 8 * 8, 4)
        self.norm = nn.LayerNorm(4)
        self.loss_fn = ToyLoss()

    def forward(self, x):
        return self.norm(self.fc(self.drop(torch.relu(self.bn(self.conv(x))).flatten(1))))


def make_task(seed: int = 0) -> PoseTask:
    torch.manual_seed(seed)
    return PoseTask(ToyModel())


def toy_recipe(**train) -> RecipeCfg:
    cfg = RecipeCfg()
    cfg.data.batch_size = 4
    cfg.data.workers = 0
    cfg.optim.lr = 1e-2
    cfg.optim.clip_grad_norm = 5.0
    cfg.schedule.warmup_iters = 3
    cfg.train.max_epochs = 3
    cfg.train.stage2_epochs = 1
    cfg.train.device = "cpu"
    cfg.train.log_interval = 2
    cfg.eval.interval = 0
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


def ddp_worker(rank: int, world_size: int, port: int, out_dir: str, sync_bn: bool) -> None:
    """One rank of a 2-process gloo run; records per-step weight agreement and the items it saw."""
    import json
    import os

    import torch.distributed as dist

    from kdpose.engine.trainer import Trainer

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank)})
    torch.set_num_threads(1)
    cfg = toy_recipe(max_epochs=2, sync_bn=sync_bn)
    record = {"steps": [], "ids": []}
    dataset = ToyDataset()

    def check(trainer):
        # parameters only: plain BatchNorm running stats are per rank (DDP re-broadcasts them each forward)
        flat = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(world_size)]
        dist.all_gather(gathered, flat)
        record["steps"].append(all(torch.equal(gathered[0], g) for g in gathered))

    original = collate

    def collate_and_record(items):
        record["ids"].extend(int(i[2]) for i in items)
        return original(items)

    def evaluator(model, device):  # each rank predicts its share; the metric must see both shares
        from kdpose.engine import dist as kdist

        gathered = kdist.all_gather_list([{"rank": rank, "sum": float(model.fc.weight.sum()),
                                           "bn": model.bn.running_mean.tolist() + model.bn.running_var.tolist()}])
        # every rank validates rank 0's BatchNorm statistics: those of the weights rank 0 saves
        record.setdefault("val_bn_equal", []).append(all(g["bn"] == gathered[0]["bn"] for g in gathered))
        metric = {"AP": float(len({g["rank"] for g in gathered})) / world_size}
        return kdist.broadcast_object(metric if kdist.is_main() else None)

    cfg.eval.interval = 1
    torch.manual_seed(100 + rank)  # different local inits: DDP must broadcast rank 0's weights
    trainer = Trainer(cfg, PoseTask(ToyModel()), dataset, collate_and_record, os.path.join(out_dir, "run"),
                      on_iteration_end=check, evaluator=evaluator)
    record["metrics"] = trainer.fit()
    record["iterations"] = trainer.iteration
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(record, f)
    dist.destroy_process_group()


def final_state(trainer) -> dict:
    """Every tensor a resumed run must reproduce: the task's weights, the EMA copy's and the optimiser state."""
    state = {f"model.{k}": v for k, v in trainer.task.state_dict().items()}
    state.update({f"ema.{k}": v for k, v in trainer.ema.module.state_dict().items()})
    for i, s in trainer.optimizer.state_dict()["state"].items():
        state.update({f"opt.{i}.{k}": v for k, v in s.items()})
    return state
