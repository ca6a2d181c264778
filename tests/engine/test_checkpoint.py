"""Checkpoint files: atomic under SIGKILL, safe loading, RNG state round trip, safetensors export."""
from __future__ import annotations

import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from kdpose.engine.checkpoint import capture_rng, export_weights, load_checkpoint, restore_rng, save_checkpoint
from kdpose.errors import CheckpointError

WRITER = textwrap.dedent("""
    import sys, torch
    from kdpose.engine.checkpoint import save_checkpoint
    path = sys.argv[1]
    for i in range(1000):
        save_checkpoint(path, {"iteration": i, "model": {"w": torch.full((4_000_000,), float(i))}})
        print(i, flush=True)
""")


def test_sigkill_during_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    rng = np.random.default_rng(0)
    for _ in range(1):  # one trial keeps the suite fast; the kill moment is arbitrary within later writes
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        first = proc.stdout.readline()  # one complete checkpoint exists
        assert first.strip().isdigit()
        time.sleep(float(rng.uniform(0.0, 0.15)))  # then kill at an arbitrary moment of a later write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        state = load_checkpoint(path)
        i = state["iteration"]
        assert torch.equal(state["model"]["w"], torch.full((4_000_000,), float(i)))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".pt") and p.name != "last.pt"]


def test_load_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(path, "wb") as f:
        pickle.dump({"format": "kdpose-train-1", "x": Payload()}, f, protocol=2)  # torch's own protocol
    with pytest.raises(CheckpointError, match=r"evil.pt: refused to load: the file pickles '(posix|nt)\.system'"):
        load_checkpoint(path)


def test_load_reports_truncated_and_foreign_files(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.ones(1000)}})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a kdpose training checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_damaged_or_foreign_last_pt_is_one_line_naming_the_file(tmp_path):
    """Resuming from a last.pt that is not a checkpoint says so in kdpose's words: torch's own message (a
    traceback, or advice to load with weights_only=False) never reaches the user."""
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.ones(1000)}})
    from safetensors.torch import save_file

    save_file({"w": torch.ones(3)}, tmp_path / "weights.safetensors")
    cases = {
        "empty": (b"", "an empty file, not a PyTorch checkpoint"),
        "cut": (good.read_bytes()[:500], "not a readable PyTorch checkpoint: a zip archive cut short, corrupt"),
        "garbage": (b"not a checkpoint at all " * 20, "not a PyTorch checkpoint"),
        "json": (b'{"model": 1}', "not a PyTorch checkpoint"),
        "safetensors": ((tmp_path / "weights.safetensors").read_bytes(), "not a PyTorch checkpoint"),
    }
    for case, (data, problem) in cases.items():
        work_dir = tmp_path / case
        work_dir.mkdir()
        (work_dir / "last.pt").write_bytes(data)
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(work_dir / "last.pt", map_location="cpu")
        text = str(info.value)
        assert text.startswith(f"{work_dir / 'last.pt'}: {problem}"), (case, text)
        assert "\n" not in text and "weights_only" not in text and len(text) < 300, (case, text)


def test_trainer_resume_from_a_garbage_last_pt_names_it(tmp_path):
    """The trainer's resume goes through load_checkpoint: the same one-line error, nothing trained or written."""
    sys.path.insert(0, os.path.dirname(__file__))
    from engine_toy import ToyDataset, collate, make_task, toy_recipe

    from kdpose.engine.trainer import Trainer

    trainer = Trainer(toy_recipe(threads=1), make_task(0), ToyDataset(), collate, tmp_path)
    (tmp_path / "last.pt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"last\.pt: not a PyTorch checkpoint \(torch\.load: "):
        trainer.resume()
    assert (tmp_path / "last.pt").read_bytes() == b"\x00garbage"


def test_load_checkpoint_reads_with_weights_only(tmp_path, monkeypatch):
    """Safety is torch.load(weights_only=True): every read of a training checkpoint asks for it."""
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"iteration": 3})
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    assert load_checkpoint(path)["iteration"] == 3 and calls == [True]


def test_rng_states_round_trip_through_a_safe_checkpoint(tmp_path):
    gen = torch.Generator().manual_seed(5)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in the legacy state
    save_checkpoint(tmp_path / "rng.pt", {"rng": capture_rng(gen)})
    expected = (random.random(), np.random.standard_normal(3), torch.rand(3), torch.rand(3, generator=gen))
    random.seed(9), np.random.seed(9), torch.manual_seed(9), gen.manual_seed(9)
    restore_rng(load_checkpoint(tmp_path / "rng.pt")["rng"], gen)
    got = (random.random(), np.random.standard_normal(3), torch.rand(3), torch.rand(3, generator=gen))
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])
    assert torch.equal(got[2], expected[2]) and torch.equal(got[3], expected[3])


class _OnDevice:
    """Stands for a byte tensor that ``map_location`` put on a GPU: only ``.cpu()`` gives a usable tensor."""

    def __init__(self, tensor: torch.Tensor):
        self._tensor = tensor

    def cpu(self) -> torch.Tensor:
        return self._tensor


def test_rng_states_loaded_onto_a_device_are_restored(tmp_path):
    """A CUDA run resumes with map_location its GPU, which moves the saved generator states there too; they are
    brought back to the CPU instead of failing in torch.set_rng_state."""
    gen = torch.Generator().manual_seed(5)
    torch.manual_seed(3), np.random.seed(2)
    state = capture_rng(gen)
    expected = (np.random.standard_normal(2), torch.rand(2), torch.rand(2, generator=gen))
    moved = {**state, "torch": _OnDevice(state["torch"]), "loader": _OnDevice(state["loader"]),
             "numpy": {**state["numpy"], "key": _OnDevice(state["numpy"]["key"])}}
    torch.manual_seed(9), np.random.seed(9), gen.manual_seed(9)
    restore_rng(moved, gen)
    got = (np.random.standard_normal(2), torch.rand(2), torch.rand(2, generator=gen))
    np.testing.assert_array_equal(got[0], expected[0])
    assert torch.equal(got[1], expected[1]) and torch.equal(got[2], expected[2])


def test_export_weights_writes_loadable_safetensors(tmp_path):
    from safetensors.torch import load_file

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    export_weights(model, tmp_path / "w.safetensors")
    loaded = load_file(tmp_path / "w.safetensors")
    assert loaded.keys() == model.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def test_a_full_disk_while_saving_is_an_os_error_naming_the_checkpoint(tmp_path, monkeypatch):
    """torch.save turns ENOSPC into RuntimeError('... unexpected pos ...'): the CLI printed a traceback instead of
    'last.pt: no space left on device'. The previous checkpoint stays and no temp file is left."""
    import errno

    from kdpose.engine import checkpoint as ckpt
    from kdpose.utils.entry import guarded

    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, {"iteration": 1})
    before = path.read_bytes()

    def full_disk(obj, f):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 19644096 vs 19643992")

    monkeypatch.setattr(ckpt.torch, "save", full_disk)
    with pytest.raises(OSError) as caught:
        ckpt.save_checkpoint(path, {"iteration": 2})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert guarded(lambda: ckpt.save_checkpoint(path, {"iteration": 3})) == 2
