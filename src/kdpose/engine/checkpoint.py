"""Training checkpoints: written atomically, read with ``torch.load(weights_only=True)`` only.

A checkpoint is a dict of tensors and plain Python types::

    {"format": "kdpose-train-1", "model": state_dict, "ema": {...} | None, "optimizer": ..., "scheduler": ...,
     "scaler": ... | None, "epoch": int, "epoch_iter": int, "iteration": int, "best": {...},
     "rng": {"python": ..., "numpy": ..., "torch": ByteTensor, "cuda": [ByteTensor] , "loader": ByteTensor},
     "config": plain dict of the resolved recipe}

``epoch`` is the epoch in progress and ``epoch_iter`` the number of its batches already trained on, so a run can
resume at an epoch boundary (``epoch_iter == 0``) or in the middle of an epoch.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError
from ..models.checkpoint_files import torch_load, torch_load_error
from ..utils.io import atomic_write, safetensors_bytes

FORMAT = "kdpose-train-1"


def capture_rng(loader_generator: torch.Generator | None = None) -> dict:
    """The state of every random generator the training loop uses, as tensors and plain types."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": loader_generator.get_state() if loader_generator is not None else None,
    }
    return state


def restore_rng(state: dict, loader_generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`capture_rng`. The generator states must be CPU byte tensors: a checkpoint loaded with
    ``map_location`` a GPU (how a CUDA run resumes) moved them to the GPU, so they are brought back first."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state({
        "bit_generator": "MT19937",
        "state": {"key": npst["key"].cpu().numpy().astype(np.uint32), "pos": npst["pos"]},
        "has_gauss": npst["has_gauss"],
        "gauss": npst["gauss"],
    })
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"][: torch.cuda.device_count()]])
    if loader_generator is not None and state.get("loader") is not None:
        loader_generator.set_state(state["loader"].cpu())


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` to ``path`` atomically (temp file in the same folder, fsync, rename): a crash at any moment
    leaves the previous checkpoint intact."""
    state = {"format": FORMAT, **state}
    try:
        with atomic_write(path, "wb") as f:
            torch.save(state, f)
    except RuntimeError as exc:
        # torch.save reports a full disk as RuntimeError("... unexpected pos ..."), the OSError only as its context:
        # re-raised as that OSError aimed at the file, the CLI's one line ("last.pt: no space left on device")
        cause = exc.__context__
        if isinstance(cause, OSError):
            raise OSError(cause.errno, cause.strerror, os.fspath(path)) from None
        raise


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Read a training checkpoint safely (``weights_only=True``).

    Raises:
        CheckpointError: missing file, unreadable/unsafe content, or not a kdpose training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch_load(path, map_location=map_location)
    except Exception as exc:  # torch raises several types, with advice to load unsafely, for damaged or foreign files
        raise torch_load_error(path, exc) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a kdpose training checkpoint (expected format '{FORMAT}')")
    return state


def export_weights(model: torch.nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write inference weights as safetensors, atomically.

    A kdpose network (it carries a ``ModelInfo`` as ``model.info``) goes through ``kdpose.models.save_weights``,
    which records its facts in the header; the trainer also runs plain ``nn.Module`` tasks (tests, tools), whose
    state dict is written as it is.
    """
    from ..model_info import ModelInfo

    if isinstance(getattr(model, "info", None), ModelInfo):
        from ..models import save_weights

        save_weights(model, path, metadata)  # atomic itself
        return
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_write(path, "wb") as f:
        f.write(safetensors_bytes(tensors, metadata or {}))
