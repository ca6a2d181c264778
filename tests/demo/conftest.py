"""Shared by the tiny demo runs: random weights in place of the shipped files, so that the tests check the phases
and the report, not the shipped models."""
from __future__ import annotations

from pathlib import Path


def fake_shipped(root: Path):
    """A stand-in for :func:`kdpose.demo.assets.shipped_file`: random weights of each tag's network (its layout
    and input size), written once under ``root``."""
    import torch

    from kdpose.models import create_model, save_weights
    from kdpose.models.pretrained import get_pretrained_cfg

    def shipped_file(tag: str) -> Path:
        path = root / f"{tag}.safetensors"
        if not path.exists():
            cfg = get_pretrained_cfg(tag)
            torch.manual_seed(0)
            save_weights(create_model(cfg.model, layout=cfg.layout, input_size=cfg.input_size), path)
        return path

    return shipped_file
