"""Exact resume: an interrupted-and-resumed CPU run ends with bit-identical weights to an uninterrupted one."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from engine_toy import ToyDataset, collate, final_state, make_task, toy_recipe  # noqa: E402

from kdpose.engine.checkpoint import load_checkpoint  # noqa: E402
from kdpose.engine.trainer import Trainer  # noqa: E402


class Crash(Exception):
    pass


def _crash_at(task, call: int):
    """Make ``task`` raise during its ``call``-th forward (1-based), i.e. in the middle of an iteration."""
    original = task.forward
    count = {"n": 0}

    def forward(batch, progress=None):
        count["n"] += 1
        out = original(batch, progress)
        if count["n"] == call:
            raise Crash
        return out

    task.forward = forward
    return task


def _run(work_dir: Path, crash_call: int | None, workers: int, interval: int) -> dict:
    cfg = toy_recipe(checkpoint_interval_iters=interval)
    cfg.data.workers = workers
    cfg.data.persistent_workers = workers > 0
    if crash_call is not None:
        trainer = Trainer(cfg, _crash_at(make_task(0), crash_call), ToyDataset(), collate, work_dir)
        with pytest.raises(Crash):
            trainer.fit()
        torch.manual_seed(999)  # disturb every generator the resumed run must restore
        torch.rand(3)
        trainer = Trainer(cfg, make_task(seed=7), ToyDataset(), collate, work_dir)
        assert trainer.resume()
    else:
        trainer = Trainer(cfg, make_task(0), ToyDataset(), collate, work_dir)
    trainer.fit()
    assert trainer.iteration == 18  # 3 epochs x 24 items / batch 4
    return final_state(trainer)


@pytest.mark.parametrize("crash_call, workers, interval", [
    (7, 0, 0),    # crash in the first batch of epoch 2: resume at the epoch boundary
    (10, 0, 1),   # crash in the middle of epoch 2: resume from a mid-epoch checkpoint
    (16, 2, 1),   # mid-epoch in the weak-augmentation stage, with 2 persistent workers
])
def test_resume_is_bit_identical(tmp_path, crash_call, workers, interval):
    reference = _run(tmp_path / "ref", None, workers, interval)
    resumed = _run(tmp_path / "resumed", crash_call, workers, interval)
    assert reference.keys() == resumed.keys()
    different = [k for k in reference if not torch.equal(reference[k], resumed[k])]
    assert not different, f"tensors differ after resume: {different}"
    # a not-resumed run from another seed really differs, so the comparison above is meaningful
    other = Trainer(toy_recipe(), make_task(seed=3), ToyDataset(), collate, tmp_path / "other")
    other.fit()
    assert not torch.equal(final_state(other)["model.model.fc.weight"], reference["model.model.fc.weight"])


def test_checkpoint_holds_everything(tmp_path):
    cfg = toy_recipe(max_epochs=1)
    trainer = Trainer(cfg, make_task(0), ToyDataset(), collate, tmp_path)
    trainer.fit()
    state = load_checkpoint(tmp_path / "last.pt")
    assert {"model", "ema", "optimizer", "scheduler", "scaler", "epoch", "epoch_iter", "iteration", "rng",
            "loader_generator", "config"} <= set(state)
    assert state["epoch"] == 1 and state["epoch_iter"] == 0 and state["iteration"] == 6
    assert set(state["rng"][0]) == {"python", "numpy", "torch", "cuda", "loader"}
    assert state["config"]["data"]["batch_size"] == 4
    assert (tmp_path / "config.yaml").is_file() and (tmp_path / "final.safetensors").is_file()


def test_bf16_autocast_on_cpu_trains_float32_weights(tmp_path):
    trainer = Trainer(toy_recipe(max_epochs=1, amp="bf16"), make_task(0), ToyDataset(), collate, tmp_path)
    before = trainer.model.fc.weight.detach().clone()
    trainer.fit()
    after = trainer.model.fc.weight
    assert after.dtype == torch.float32 and not torch.equal(before, after) and torch.isfinite(after).all()


def test_fp16_without_cuda_is_a_config_error(tmp_path):
    from kdpose.errors import ConfigError

    with pytest.raises(ConfigError, match="train.amp: fp16 needs a CUDA device"):
        Trainer(toy_recipe(amp="fp16"), make_task(0), ToyDataset(), collate, tmp_path)


def _train_records(work_dir: Path) -> list[tuple[int, float]]:
    import json

    lines = (work_dir / "log.jsonl").read_text().splitlines()
    return [(r["iter"], r["loss"]) for r in map(json.loads, lines) if r["kind"] == "train"]


def test_resumed_log_has_one_record_per_iteration_as_an_uninterrupted_run(tmp_path):
    _run(tmp_path / "ref", None, 0, 0)
    # crash in the middle of epoch 2 with epoch-boundary checkpoints only: iteration 8 was logged after the
    # checkpoint at 6, and the kill tore a line; the resumed run logs 7-8 again
    cfg = toy_recipe(checkpoint_interval_iters=0)
    crashed = Trainer(cfg, _crash_at(make_task(0), 10), ToyDataset(), collate, tmp_path / "resumed")
    with pytest.raises(Crash):
        crashed.fit()
    crashed.logger.close()
    assert [i for i, _ in _train_records(tmp_path / "resumed")] == [2, 4, 6, 8]
    with open(tmp_path / "resumed" / "log.jsonl", "a") as f:
        f.write('{"kind": "train", "it')
    trainer = Trainer(cfg, make_task(seed=7), ToyDataset(), collate, tmp_path / "resumed")
    assert trainer.resume()
    assert [i for i, _ in _train_records(tmp_path / "resumed")] == [2, 4, 6]
    trainer.fit()
    assert _train_records(tmp_path / "resumed") == _train_records(tmp_path / "ref")  # same iterations, same losses


def test_a_recipe_all_in_stage2_says_so_at_start(tmp_path, capsys):
    """The default train.stage2_epochs (30) made any shorter recipe that left the key out run every epoch with the
    weak augmentation, silently."""
    Trainer(toy_recipe(max_epochs=2, stage2_epochs=30), make_task(0), ToyDataset(), collate, tmp_path / "a").fit()
    assert "note: train.stage2_epochs (30) >= train.max_epochs (2): every epoch uses the weak stage-2" in \
        capsys.readouterr().err
    Trainer(toy_recipe(max_epochs=2, stage2_epochs=1), make_task(0), ToyDataset(), collate, tmp_path / "b").fit()
    assert "stage2_epochs" not in capsys.readouterr().err


def test_a_checkpoint_of_another_network_is_named_in_words(tmp_path):
    """Resuming from another network's last.pt said "does not match this recipe's model (Error(s) in loading
    state_dict for PoseTask:)": torch's first line, which names nothing."""
    from kdpose.errors import CheckpointError

    Trainer(toy_recipe(max_epochs=1), make_task(0), ToyDataset(), collate, tmp_path).fit()
    task = make_task(0)
    task.model.fc = torch.nn.Linear(8 * 8 * 8, 6)  # another head: two tensors of another shape
    task.model.extra = torch.nn.Linear(2, 2)         # and keys the checkpoint lacks
    cfg = toy_recipe(max_epochs=1)
    other = Trainer(cfg, task, ToyDataset(), collate, tmp_path / "other")
    with pytest.raises(CheckpointError) as info:
        other.resume(tmp_path / "last.pt")
    assert str(info.value) == (f"{tmp_path / 'last.pt'}: does not match this recipe's model (2 keys missing, e.g. "
                               "model.extra.weight; 2 keys of another shape, e.g. model.fc.weight)")
    cfg.model.name = "rtmpose-s"  # the checkpoint's recipe names its network: said when it is another one
    with pytest.raises(CheckpointError, match=r"\(it holds rtmpose-t at 192x256, the recipe builds rtmpose-s at "
                                              r"192x256; 2 keys missing"):
        other.resume(tmp_path / "last.pt")


def test_a_checkpoint_of_another_process_count_or_batch_is_refused(tmp_path):
    """A 2-process last.pt resumed by 1 process (or with another data.batch_size) went on silently: the sampler
    skipped the new sharding's first samples (some trained twice, some never) and the schedule was cut short."""
    from kdpose.errors import CheckpointError

    Trainer(toy_recipe(max_epochs=1), make_task(0), ToyDataset(), collate, tmp_path).fit()
    state = load_checkpoint(tmp_path / "last.pt")
    trainer = Trainer(toy_recipe(max_epochs=2), make_task(0), ToyDataset(), collate, tmp_path / "again")
    with pytest.raises(CheckpointError, match=r"written by 2 process\(es\) x data.batch_size 4; this run has 1 x 4: "
                                              "resume with the same number of processes and batch size"):
        trainer.resume(tmp_path / "last.pt", state={**state, "world_size": 2})
    cfg = toy_recipe(max_epochs=2)
    cfg.data.batch_size = 2
    other = Trainer(cfg, make_task(0), ToyDataset(), collate, tmp_path / "other")
    with pytest.raises(CheckpointError, match=r"written by 1 process\(es\) x data.batch_size 4; this run has 1 x 2"):
        other.resume(tmp_path / "last.pt")
    assert trainer.resume(tmp_path / "last.pt", state=state) and trainer.iteration == state["iteration"]
