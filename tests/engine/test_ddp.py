"""Two-process DDP on CPU (gloo): both ranks hold identical weights after every step, on disjoint shards."""
from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
import engine_toy  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_ddp(tmp_path):
    # sync_bn=True exercises the CPU fallback (SyncBatchNorm is CUDA-only): a warning, plain BatchNorm
    mp.start_processes(engine_toy.ddp_worker, args=(2, _free_port(), str(tmp_path), True), nprocs=2, join=True,
                       start_method="fork")  # fork: the children need not import torch again
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for rec in ranks:
        assert rec["iterations"] == 6  # 2 epochs x (24 items / 2 ranks / batch 4)
        assert len(rec["steps"]) == 6 and all(rec["steps"]), "ranks' weights diverged"
        assert rec["metrics"] == {"AP": 1.0}  # validation gathered both ranks' results, on both ranks
        assert rec["val_bn_equal"] == [True, True]  # and scored one model, rank 0's (the saved one)
    for epoch in range(2):  # each epoch, the two ranks see disjoint halves of the data
        a, b = (set(rec["ids"][epoch * 12:(epoch + 1) * 12]) for rec in ranks)
        assert not a & b and len(a | b) == 24
    for name in ("last.pt", "best.pt", "final.safetensors", "best.safetensors"):
        assert (tmp_path / "run" / name).is_file(), name


def test_sync_bn_converts_every_batchnorm_under_torchrun_on_cuda():
    import torch
    from torch import nn

    from kdpose.engine.dist import sync_batchnorm
    from kdpose.models import create_model

    def task():   # a student and a frozen teacher, as a distillation task holds them
        return nn.ModuleDict({"model": create_model("rtmpose-t"),
                              "teacher": create_model("rtmpose-t").requires_grad_(False)})

    def count(module, kind):
        return sum(type(m) is kind for m in module.modules())

    plain = task()
    n_bn = count(plain, nn.BatchNorm2d)
    state = {k: v.clone() for k, v in plain.state_dict().items()}
    # conversion is a module rewrite (no CUDA call), so a CUDA device can be named on a CPU-only machine
    converted = sync_batchnorm(plain, True, 2, torch.device("cuda", 0))
    assert n_bn > 50 and count(converted, nn.SyncBatchNorm) == n_bn and count(converted, nn.BatchNorm2d) == 0
    assert all(torch.equal(state[k], v) for k, v in converted.state_dict().items())   # same keys, same values
    assert not any(p.requires_grad for p in converted["teacher"].parameters())
    # one process, sync_bn off, or CPU processes: plain BatchNorm (CPU: with a warning)
    for args in ((True, 1, torch.device("cuda", 0)), (False, 8, torch.device("cuda", 0))):
        kept = sync_batchnorm(task(), *args)
        assert count(kept, nn.SyncBatchNorm) == 0 and count(kept, nn.BatchNorm2d) == n_bn
    with pytest.warns(UserWarning, match="SyncBatchNorm needs CUDA"):
        assert count(sync_batchnorm(task(), True, 2, torch.device("cpu")), nn.SyncBatchNorm) == 0
    # a real distiller keeps its teacher out of its submodules: converted too
    from kdpose.distill import build_distiller

    distiller = build_distiller("dwpose", create_model("rtmpose-t"), create_model("rtmpose-s"))
    sync_batchnorm(distiller, True, 2, torch.device("cuda", 0))
    teacher = distiller.teacher.model
    assert count(teacher, nn.SyncBatchNorm) == 39 and count(teacher, nn.BatchNorm2d) == 0  # rtmpose-s
    assert count(distiller.model, nn.BatchNorm2d) == 0
