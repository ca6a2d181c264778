"""Distributed helpers: process-group set-up from torchrun's environment, rank queries, result gathering."""
from __future__ import annotations

import datetime
import os
import warnings
from typing import Any

import torch
import torch.distributed as dist


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: torch.device) -> bool:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...).

    Uses NCCL for CUDA devices and gloo otherwise. Returns True when running with more than one process.
    """
    if env_world_size() <= 1 or is_distributed():
        return is_distributed()
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return True


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world_size() -> int:
    """Processes of this run on this node (``LOCAL_WORLD_SIZE`` under torchrun, else 1)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def sync_batchnorm(module: torch.nn.Module, enabled: bool, world_size: int, device: torch.device) -> torch.nn.Module:
    """``train.sync_bn``: every BatchNorm of ``module`` (a frozen teacher's too) becomes a SyncBatchNorm
    (``torch.nn.SyncBatchNorm.convert_sync_batchnorm``) when the run has several processes (torchrun) on CUDA
    devices, as MMPose's ``norm_cfg=dict(type='SyncBN')``; parameters and running statistics are kept. One process:
    unchanged. Several CPU processes: unchanged, with a warning (SyncBatchNorm is CUDA-only)."""
    if not enabled or world_size <= 1:
        return module
    if device.type == "cuda":
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        teacher = getattr(module, "teacher", None)  # a Distiller keeps its frozen teacher out of its submodules
        if isinstance(teacher, torch.nn.Module) and not any(teacher is m for m in module.modules()):
            torch.nn.SyncBatchNorm.convert_sync_batchnorm(teacher)  # in place: the teacher wrapper is no BatchNorm
        return module
    if is_main():
        warnings.warn("train.sync_bn: SyncBatchNorm needs CUDA devices; plain BatchNorm is used on CPU")
    return module


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_gather_list(items: list[Any]) -> list[Any]:
    """Concatenate every rank's list (rank order) on every rank (``all_gather_object``)."""
    if not is_distributed():
        return list(items)
    gathered: list[list[Any]] = [[] for _ in range(world_size())]
    dist.all_gather_object(gathered, items)
    return [x for part in gathered for x in part]


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers of ``module`` (BatchNorm running statistics). Without SyncBatchNorm each
    rank's running statistics follow its own batches (DDP re-broadcasts rank 0's only at each training forward, and
    an EMA copy never), so validation on every rank must use rank 0's: the statistics of the weights rank 0 saves.
    Rank 0's own buffers are unchanged, so a resumed run stays exact (a resume loads rank 0's on every rank)."""
    if not is_distributed():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a scalar tensor over ranks (for logging)."""
    if not is_distributed():
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / world_size()


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()
