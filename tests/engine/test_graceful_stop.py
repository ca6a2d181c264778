"""Graceful stop: SIGTERM / SIGINT during fit() finish the step, save last.pt, raise TrainingStopped; the resumed
run ends bit-identical to an uninterrupted one. Also under DDP (ranks agree) and end to end through the CLI."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from engine_toy import ToyDataset, collate, final_state, make_task, toy_recipe  # noqa: E402

from kdpose.engine.checkpoint import load_checkpoint  # noqa: E402
from kdpose.engine.trainer import Trainer  # noqa: E402
from kdpose.errors import TrainingStopped  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 18  # toy recipe: 3 epochs x 24 items / batch 4


def _recipe(**train):
    # one intra-op thread: the DDP test forks this process, and a child of a process whose OpenMP pool ran with
    # several threads hangs in its first parallel region
    return toy_recipe(threads=1, **train)


def _signal_at(iteration: int, signum: int = signal.SIGTERM):
    def hook(trainer: Trainer) -> None:
        if trainer.iteration == iteration:
            os.kill(os.getpid(), signum)
    return hook


class _SignalInValidation:
    """An evaluator that receives SIGTERM while it validates after epoch ``epoch`` (1-based) of ``trainer``."""

    def __init__(self, epoch: int | None = None):
        self.epoch = epoch
        self.trainer: Trainer | None = None

    def __call__(self, model, device) -> dict:
        if self.trainer is not None and self.trainer.epoch == self.epoch:  # fit() counts the epoch done already
            os.kill(os.getpid(), signal.SIGTERM)
        return {"AP": 0.5}


def _handlers() -> tuple:
    return signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    trainer = Trainer(_recipe(), make_task(0), ToyDataset(), collate, tmp_path_factory.mktemp("ref"))
    trainer.fit()
    assert trainer.iteration == TOTAL
    return final_state(trainer)


@pytest.mark.parametrize("case, signum, at, interval, stopped_at", [
    ("mid-epoch", signal.SIGTERM, 8, 0, 8),           # the stop writes the mid-epoch checkpoint itself
    ("on a periodic save", signal.SIGTERM, 8, 4, 8),  # last.pt was just written at this iteration: not again
    ("Ctrl-C", signal.SIGINT, 9, 0, 9),
    ("last step of an epoch", signal.SIGTERM, 6, 0, 6),  # waits for the epoch-end checkpoint
    ("in validation", signal.SIGTERM, None, 0, 12),    # signalled while epoch 2 validates
])
def test_stop_saves_last_pt_and_resumes_bit_identically(tmp_path, reference, case, signum, at, interval,
                                                         stopped_at):
    cfg = _recipe(checkpoint_interval_iters=interval)
    evaluator = None
    if at is None:
        cfg.eval.interval = 1
        evaluator = _SignalInValidation(epoch=2)
    before = _handlers()
    trainer = Trainer(cfg, make_task(0), ToyDataset(), collate, tmp_path,
                      on_iteration_end=_signal_at(at, signum) if at else None, evaluator=evaluator)
    if evaluator is not None:
        evaluator.trainer = trainer
    saves, save = [], trainer.save

    def counted_save(name: str = "last.pt") -> None:
        saves.append((trainer.iteration, name))
        save(name)

    trainer.save = counted_save
    with pytest.raises(TrainingStopped) as info:
        trainer.fit()
    assert _handlers() == before  # restored
    assert info.value.exit_code == 128 + signum
    name = signal.Signals(signum).name
    assert str(info.value) == f"stopped by {name} at iteration {stopped_at}: saved {tmp_path / 'last.pt'}"
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["iteration"] == stopped_at
    assert (state["epoch"], state["epoch_iter"]) == divmod(stopped_at, 6)
    assert saves.count((stopped_at, "last.pt")) == 1  # saved once, whichever path wrote it
    assert not (tmp_path / "final.safetensors").exists()

    torch.manual_seed(999)  # disturb every generator the resumed run must restore
    torch.rand(3)
    resumed = Trainer(cfg, make_task(seed=7), ToyDataset(), collate, tmp_path,
                      evaluator=_SignalInValidation() if at is None else None)
    assert resumed.resume()
    resumed.fit()
    assert resumed.iteration == TOTAL
    final = final_state(resumed)
    different = [k for k in reference if not torch.equal(reference[k], final[k])]
    assert not different, f"tensors differ after a stop and resume ({case}): {different}"


def test_second_signal_aborts_the_save_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    before = _handlers()
    trainer = Trainer(_recipe(), make_task(0), ToyDataset(), collate, tmp_path,
                      on_iteration_end=_signal_at(8))
    real_save = torch.save

    def save_interrupted(obj, f, *args, **kwargs):
        if trainer.iteration == 8:  # the stop's save (the epoch-end one at 6 goes through)
            f.write(b"half a checkpoint")
            os.kill(os.getpid(), signal.SIGTERM)
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_interrupted)
    with pytest.raises(TrainingStopped, match="stopped at once by a second SIGTERM at iteration 8: ") as info:
        trainer.fit()
    trainer.logger.close()  # the abort leaves the progress bar open (no I/O from a signal handler)
    assert info.value.exit_code == 143
    assert _handlers() == before
    assert load_checkpoint(tmp_path / "last.pt")["iteration"] == 6  # the epoch-end checkpoint, intact
    assert sorted(p.name for p in tmp_path.glob(".*")) == []  # no temporary file left behind


def test_torchruns_forwarded_sigterm_is_not_a_second_signal(monkeypatch):
    # a scheduler signals torchrun and its workers; torchrun forwards its SIGTERM, so each worker gets two at once:
    # the copy must not abort the save the first one asked for
    from kdpose.engine.stop import StopSignals

    seconds = []
    with StopSignals(seconds.append) as stop:
        monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signum == signal.SIGTERM and seconds == []
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C still means now
        assert seconds == [signal.SIGINT]
    with StopSignals(seconds.append):
        monkeypatch.delenv("TORCHELASTIC_RUN_ID")
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # one process: a second SIGTERM is "now", as before
        assert seconds == [signal.SIGINT, signal.SIGTERM]


def test_handlers_are_restored_after_an_error_and_left_alone_outside_the_main_thread(tmp_path):
    before = _handlers()
    seen = []

    def fail(trainer):
        seen.append(signal.getsignal(signal.SIGTERM) is not before[0])
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        Trainer(_recipe(), make_task(0), ToyDataset(), collate, tmp_path / "a", on_iteration_end=fail).fit()
    assert seen == [True] and _handlers() == before

    errors = []

    def train_in_a_thread():
        try:  # signal.signal would raise ValueError here: the trainer must not try
            Trainer(_recipe(max_epochs=1), make_task(0), ToyDataset(), collate, tmp_path / "b").fit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=train_in_a_thread)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive() and errors == [] and _handlers() == before


def test_stop_on_signals_false_leaves_the_handlers_alone(tmp_path):
    """Runs in a throw-away folder (kdpose.tasks.steps without a work_dir) keep the usual signal behaviour."""
    before = _handlers()
    seen = []
    trainer = Trainer(_recipe(max_epochs=1), make_task(0), ToyDataset(), collate, tmp_path,
                      on_iteration_end=lambda t: seen.append(_handlers()), stop_on_signals=False)
    trainer.fit()
    assert seen and all(h == before for h in seen)


class _WorkerHandlers(torch.utils.data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return torch.tensor([signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
                             signal.getsignal(signal.SIGTERM) == signal.SIG_IGN])


def test_loader_workers_leave_ctrl_c_to_the_main_process_and_still_end_on_sigterm():
    """Ctrl-C reaches every process of the group: the workers ignore it. SIGTERM must still end them: it is how
    their parent's terminate() stops them (a worker ignoring it hung the interpreter's exit)."""
    from kdpose.engine.loader import build_loader

    loader = build_loader(_WorkerHandlers(), torch.utils.data.SequentialSampler(range(2)), 2,
                          torch.utils.data.default_collate, 1, torch.Generator().manual_seed(0))
    (batch,) = list(loader)
    assert batch.tolist() == [[True, False]] * 2
    # persistent workers alive at interpreter exit: the process must end (it hung when workers ignored SIGTERM)
    code = ("import torch; from kdpose.engine.loader import build_loader\n"
            "l = build_loader(list(range(8)), torch.utils.data.SequentialSampler(range(8)), 2, "
            "torch.utils.data.default_collate, 2, torch.Generator().manual_seed(0), persistent_workers=True)\n"
            "it = iter(l); next(it); print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_sigterm_to_every_process_of_the_job_still_saves_and_resumes(tmp_path):
    """A scheduler's SIGTERM reaches the trainer and its DataLoader workers: the workers die, the loader fails, and
    that is taken for the stop it is: last.pt of the last finished step, TrainingStopped, an exact resume."""
    import multiprocessing

    cfg = _recipe()
    cfg.data.workers = 1
    whole = Trainer(cfg, make_task(0), ToyDataset(), collate, tmp_path / "whole")
    whole.fit()

    def signal_everyone(trainer: Trainer) -> None:
        if trainer.iteration == 8:
            os.kill(os.getpid(), signal.SIGTERM)
            for child in multiprocessing.active_children():  # the loader's worker, killed by another process
                child.kill()  # (torch's worker handler exits quietly on its parent's SIGTERM: a harder death)
                child.join(timeout=30)

    run = tmp_path / "run"
    trainer = Trainer(cfg, make_task(0), ToyDataset(), collate, run, on_iteration_end=signal_everyone)
    with pytest.raises(TrainingStopped, match="stopped by SIGTERM at iteration 8"):
        trainer.fit()
    assert load_checkpoint(run / "last.pt")["iteration"] == 8
    resumed = Trainer(cfg, make_task(seed=7), ToyDataset(), collate, run)
    assert resumed.resume()
    resumed.fit()
    final, reference = final_state(resumed), final_state(whole)
    assert not [k for k in reference if not torch.equal(reference[k], final[k])]


# ---------------------------------------------------------------------------------------------- DDP

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_stop_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank)})
    torch.set_num_threads(1)
    # only rank 1 is signalled, after its second step: rank 0 must stop at the same iteration
    hook = _signal_at(2) if rank == 1 else None
    trainer = Trainer(_recipe(max_epochs=2), make_task(0), ToyDataset(), collate,
                      os.path.join(out_dir, "run"), on_iteration_end=hook)
    record: dict = {"exit_code": None}
    try:
        trainer.fit()
    except TrainingStopped as exc:
        record = {"exit_code": exc.exit_code, "message": str(exc)}
    record["iteration"] = trainer.iteration
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(record, f)
    dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_ranks_stop_at_the_same_iteration(tmp_path):
    import torch.multiprocessing as mp

    context = mp.start_processes(_ddp_stop_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=False,
                                 start_method="fork")
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):  # a deadlock fails the test instead of hanging it
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the ranks did not finish within 120 s: deadlock")
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["exit_code"] for r in ranks] == [143, 143]
    assert [r["iteration"] for r in ranks] == [2, 2]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iteration"] == 2


# ---------------------------------------------------------------------------------------------- CLI

# Runs `python -m kdpose` with one change: after the first train row is logged the run waits (up to 60 s) for a
# stop signal, so the test's SIGTERM lands at a known iteration, not wherever a race would put it.
_HOLD_AFTER_FIRST_ROW = """
import runpy, sys, time
from kdpose.engine.trainer import Trainer
log_window = Trainer._log_window
def hold(self, window):
    log_window(self, window)
    deadline = time.monotonic() + 60
    while self._signals.signum is None and time.monotonic() < deadline:
        time.sleep(0.01)
Trainer._log_window = hold
sys.argv = ["kdpose", *sys.argv[1:]]
runpy.run_module("kdpose", run_name="__main__")
"""


def _cli_args(tmp_path: Path) -> list[str]:
    sets = [f"data.cache_dir={tmp_path / 'data'}", "data.train.synthetic_images=4", "data.val.synthetic_images=2",
            "data.train.synthetic_size=[160, 128]", "data.val.synthetic_size=[160, 128]",
            "model.input_size=[64, 64]", "data.batch_size=2", "data.workers=0", "train.max_epochs=2",
            "train.stage2_epochs=1", "train.epoch_iters=2", "train.log_interval=1", "eval.interval=0",
            "train.device=cpu", "train.threads=1", "train.tensorboard=false", "model.init_weights="]
    args = ["train", str(ROOT / "configs" / "rtmpose-t_synth-body.yaml"), "--work-dir", str(tmp_path / "run")]
    for s in sets:
        args += ["--set", s]
    return args


def _wait_for_train_row(log: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before its first log row: {proc.communicate()[1]}")
        if log.is_file() and '"kind": "train"' in log.read_text():
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no train row in log.jsonl")


@pytest.mark.slow
def test_cli_sigterm_exits_143_with_one_line_and_auto_resume_finishes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = _cli_args(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_AFTER_FIRST_ROW, *args, "--auto-resume"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        _wait_for_train_row(tmp_path / "run" / "log.jsonl", proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    ours = [line for line in err.splitlines() if line.startswith("kdpose:")]
    last = tmp_path / "run" / "last.pt"
    assert ours == [f"kdpose: stopped by SIGTERM at iteration 1: saved {last}; rerun the same command with "
                    f"--auto-resume to continue"], err
    assert load_checkpoint(last)["iteration"] == 1

    done = subprocess.run([sys.executable, "-m", "kdpose", *args, "--auto-resume"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resumed from" in done.stderr
    assert load_checkpoint(last)["iteration"] == 4 and (tmp_path / "run" / "final.safetensors").is_file()
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in rows if r["kind"] == "train"] == [1, 2, 3, 4]
    # once more on the finished run: said as such (it printed "epoch 3, batch 0" of a 2-epoch run), nothing trained
    again = subprocess.run([sys.executable, "-m", "kdpose", *args, "--auto-resume"], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "the run had finished" in again.stderr and "nothing to train" in again.stderr, again.stderr
    assert load_checkpoint(last)["iteration"] == 4
