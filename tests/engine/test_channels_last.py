"""``train.channels_last``: the network trains with channels-last weights (oneDNN's faster CPU convolution layout),
computes what the default layout computes (other summation order only), exports loadable weights and resumes
bit-identically (the optimiser and EMA state follow the weights' layout)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from kdpose.engine.config import RecipeCfg, from_dict
from kdpose.models import load_model
from kdpose.tasks import train

SPLIT = {"synthetic_size": [160, 128], "synthetic_max_people": 2}


def _recipe(tmp_path: Path, channels_last: bool, ema: bool = True) -> RecipeCfg:
    return from_dict(RecipeCfg, {
        "model": {"name": "rtmpose-t", "layout": "coco", "input_size": [64, 64]},
        "data": {"batch_size": 2, "val_batch_size": 2, "workers": 0, "persistent_workers": False,
                 "cache_dir": str(tmp_path / "cache"), "augment": "light",
                 "train": {**SPLIT, "synthetic_images": 6, "synthetic_seed": 1},
                 "val": {**SPLIT, "synthetic_images": 0}},
        "schedule": {"warmup_iters": 1},
        # fp32 on every CPU: `auto` is bf16 on AMX ones, whose rounding would hide the layout's float32 agreement
        "train": {"max_epochs": 2, "stage2_epochs": 0, "epoch_iters": 3, "device": "cpu", "threads": 1, "amp": "none",
                  "ema": ema, "log_interval": 1, "seed": 0, "tensorboard": False, "checkpoint_interval_iters": 1,
                  "channels_last": channels_last},
        "eval": {"interval": 0}})


def _losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r.get("kind") == "train"]


def test_channels_last_trains_the_same_maths_and_exports_plain_weights(tmp_path):
    torch.set_num_threads(1)
    layouts = []

    class Spy:
        def on_fit_start(self, trainer):
            convs = [m.weight for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d)]
            layouts.append(all(w.is_contiguous(memory_format=torch.channels_last) for w in convs))

    for flag in (False, True):
        from kdpose.engine import trainer as trainer_module

        original = trainer_module.Trainer.fit

        def fit(self, _original=original):
            Spy().on_fit_start(self)
            return _original(self)

        trainer_module.Trainer.fit = fit
        try:
            train(_recipe(tmp_path, flag), tmp_path / f"run-{flag}")
        finally:
            trainer_module.Trainer.fit = original
    assert layouts == [False, True]
    plain, fast = _losses(tmp_path / "run-False"), _losses(tmp_path / "run-True")
    assert len(plain) == len(fast) == 6
    # the first updates agree to float32 rounding; later ones drift apart, as after any change of summation order
    # (Adam at lr 4e-3 on two images a batch amplifies 1e-4 relative gradient differences within a few steps)
    torch.testing.assert_close(torch.tensor(fast[:3]), torch.tensor(plain[:3]), rtol=1e-3, atol=1e-6)
    # the exported file is an ordinary one: it loads into a default-layout network
    model = load_model("rtmpose-t", weights=str(tmp_path / "run-True" / "final.safetensors"))
    assert model.info.input_size == (64, 64)


def test_channels_last_resumes_bit_identically(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from kdpose.engine.trainer import Trainer

    torch.set_num_threads(1)
    whole, part = tmp_path / "whole", tmp_path / "part"
    train(_recipe(tmp_path, True), whole)
    step, calls = Trainer.train_step, []

    def crash_at_the_fifth_step(self, batch):  # mid epoch 2: resumes from the mid-epoch last.pt of iteration 4
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("crash")
        return step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", crash_at_the_fifth_step)
    try:
        train(_recipe(tmp_path, True), part)
    except RuntimeError:
        pass
    monkeypatch.setattr(Trainer, "train_step", step)
    train(_recipe(tmp_path, True), part, resume=True)
    a, b = load_file(str(whole / "final.safetensors")), load_file(str(part / "final.safetensors"))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
