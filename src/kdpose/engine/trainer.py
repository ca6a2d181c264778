"""The training loop: one plain Trainer for every model family and distillation method.

The trainer only knows the task contract (docs/design.md): ``task(batch, progress) -> dict`` with key ``"loss"``
and ``task.model`` the plain model that is averaged (EMA), evaluated and exported. Everything else (optimiser,
schedule, EMA, AMP, clipping, DDP, checkpoints, exact resume, validation, logging) lives here as plain code.
"""
from __future__ import annotations

import contextlib
import math
import random
import time
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ..errors import CheckpointError, ConfigError, TrainingDiverged, TrainingStopped
from ..utils.io import atomic_write
from ..utils.progress import TrainProgress
from . import dist
from .checkpoint import capture_rng, export_weights, load_checkpoint, restore_rng, save_checkpoint
from .config import RecipeCfg, dump_recipe, recipe_to_dict
from .ema import ExpMomentumEMA
from .loader import EpochAwareDataset, ResumableSampler, build_loader
from .log import RunLogger
from .optim import build_optimizer, build_scheduler
from .precision import AMP_DTYPES, autocast, resolve_amp, resolve_threads
from .stop import StopSignals, agreed_signal, signal_name


class Evaluator(Protocol):
    """Runs ``model`` over a validation set on every rank and returns the gathered metrics on every rank."""

    def __call__(self, model: nn.Module, device: torch.device) -> dict: ...


class Callback:
    """A training callback: override the hooks you need (each gets the :class:`Trainer`; no return value).

    ``replaces_console``: the callback shows the run's progress itself, so the trainer writes no epoch bars or
    messages to the terminal (``log.jsonl`` and TensorBoard are written as always).
    """

    replaces_console: ClassVar[bool] = False

    def on_fit_start(self, trainer: "Trainer") -> None:
        """Before the first step of this session (after a resume, ``trainer.iteration`` is where it continues)."""

    def on_iteration_end(self, trainer: "Trainer") -> None:
        """After each optimiser step (``trainer.last_losses``: that step's loss values)."""

    def on_validation_end(self, trainer: "Trainer", metrics: dict) -> None:
        """After each validation, with its metrics."""

    def on_fit_end(self, trainer: "Trainer") -> None:
        """After the last epoch (``final.safetensors`` is written)."""


def select_device(name: str) -> torch.device:
    """``auto`` -> this process's CUDA device when available (``LOCAL_RANK`` under torchrun), else CPU."""
    if name == "auto":
        name = f"cuda:{dist.local_rank()}" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):   # torch's own words list twenty device types and name no setting
        raise ConfigError(f"train.device: '{name}' is not a device (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device: '{name}' requested but CUDA is not available")
        torch.cuda.set_device(device)
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lookup_metric(metrics: dict, name: str) -> float:
    """``metrics["a"]["b"]`` for ``name == "a.b"``."""
    value = metrics
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ConfigError(f"eval.metric: '{name}' is not among the validation metrics ({', '.join(metrics)})")
        value = value[part]
    return float(value)


class Trainer:
    """Trains ``task`` on ``train_set`` as ``cfg`` says, writing everything under ``work_dir``.

    Args:
        cfg: the resolved recipe.
        task: the task module (``PoseTask`` or a distiller); ``task.model`` is evaluated/EMA'd/exported.
        train_set: dataset of training items; ``collate_fn`` turns a list of items into a ``Batch``.
            Both None when ``batches`` gives the batches. A ``train_set.sampler_block`` > 1 keeps runs of that many
            consecutive indices together in the shuffle (:class:`~kdpose.engine.loader.ResumableSampler`).
        work_dir: output folder (``config.yaml``, ``last.pt``, ``best.pt``, ``*.safetensors``, ``log.jsonl``).
        evaluator: optional validation callable (see :class:`Evaluator`).
        device: where to train (default: from ``cfg.train.device``).
        on_iteration_end: optional plain callback ``fn(trainer)`` after each optimiser step (tests, tools).
        callbacks: :class:`Callback` objects called at the start and end of the run, after each step and after each
            validation.
        batches: step-indexed batches instead of a dataset and loader: the batch of global iteration ``t`` is
            ``batches(t)`` (the fixed-step protocol of :mod:`kdpose.tasks.steps`: every run of a comparison sees the
            same batch at the same step); an epoch is then ``train.epoch_iters`` iterations.
        stop_on_signals: handle SIGTERM / SIGINT as below (False: they act as usual, for runs whose work folder is
            thrown away, where a saved ``last.pt`` would help no one).

    Stopping: a SIGTERM or SIGINT during :meth:`fit` does not end the process at once. The trainer finishes the
    step in progress, writes ``last.pt`` through the same path as a periodic mid-epoch checkpoint (so a resume
    continues exactly as from any checkpoint) and raises :class:`~kdpose.errors.TrainingStopped`; ``kdpose train``
    turns it into one line and exit code 128 + the signal number. A signal during validation or at the end of an
    epoch stops after that epoch's ``last.pt``. A second signal stops at once without saving.
    """

    def __init__(self, cfg: RecipeCfg, task: nn.Module, train_set: Dataset, collate_fn: Callable,
                 work_dir: str | Path, evaluator: Evaluator | None = None, device: torch.device | None = None,
                 on_iteration_end: Callable[["Trainer"], None] | None = None, callbacks: Sequence[Callback] = (),
                 batches: Callable[[int], Any] | None = None, stop_on_signals: bool = True):
        self.cfg = cfg
        self.stop_on_signals = stop_on_signals
        self.work_dir = Path(work_dir)
        self.device = device or select_device(cfg.train.device)
        dist.init_distributed(self.device)
        self.threads = resolve_threads(cfg.train.threads, dist.local_world_size())
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        self.rank, self.world_size = dist.rank(), dist.world_size()
        self.evaluator = evaluator
        self.on_iteration_end = on_iteration_end
        self.callbacks = list(callbacks)
        tc = cfg.train
        task = dist.sync_batchnorm(task, tc.sync_bn, self.world_size, self.device)
        self.task = task.to(self.device)
        if tc.channels_last:  # before DDP, the optimiser and EMA, whose state then follows the weights' layout
            self.task = self.task.to(memory_format=torch.channels_last)
        self.model: nn.Module = self.task.model
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped: nn.Module = nn.parallel.DistributedDataParallel(
                self.task, device_ids=ids, find_unused_parameters=tc.find_unused_parameters)
        else:
            self.wrapped = self.task
        self.optimizer = build_optimizer(self.task, cfg.optim)
        self.ema = ExpMomentumEMA(self.model, tc.ema_momentum, tc.ema_gamma) if tc.ema else None

        self.batches = batches
        self.loader_generator = torch.Generator().manual_seed(tc.seed)
        dc = cfg.data
        if batches is not None:
            if tc.epoch_iters <= 0:
                raise ConfigError("train.epoch_iters: step-indexed batches need the iterations of an epoch (> 0)")
            self.sampler, self.loader, self.iters_per_epoch = None, None, tc.epoch_iters
        else:
            self.sampler = ResumableSampler(len(train_set), shuffle=True, seed=tc.seed, rank=self.rank,
                                            world_size=self.world_size, pad=True, tag_epoch=True,
                                            block=getattr(train_set, "sampler_block", 1))
            self.loader = build_loader(
                EpochAwareDataset(train_set), self.sampler, dc.batch_size, collate_fn, dc.workers,
                self.loader_generator, pin_memory=dc.pin_memory and self.device.type == "cuda",
                persistent_workers=dc.persistent_workers, drop_last=True, prefetch_factor=dc.prefetch_factor)
            self.iters_per_epoch = len(self.sampler) // dc.batch_size
        if tc.epoch_iters > 0:
            self.iters_per_epoch = min(self.iters_per_epoch, tc.epoch_iters)
        if self.iters_per_epoch == 0:
            raise ConfigError(f"data.batch_size: {dc.batch_size} x {self.world_size} process(es) is larger than "
                              f"the training set ({len(train_set)} items)")
        self.max_iterations = tc.max_epochs * self.iters_per_epoch
        self.scheduler = build_scheduler(self.optimizer, cfg.schedule, tc.max_epochs, self.iters_per_epoch)
        self.amp, amp_reason = resolve_amp(tc.amp, self.device)
        self.amp_dtype = AMP_DTYPES.get(self.amp)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == "fp16" and self.device.type == "cuda" else None
        if self.amp == "fp16" and self.device.type != "cuda":
            raise ConfigError("train.amp: fp16 needs a CUDA device; use bf16 (or none) on CPU")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = tc.cudnn_benchmark and not tc.deterministic
        if tc.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)

        self.epoch = 0  # epoch in progress
        self.epoch_iter = 0  # batches of that epoch already trained on
        self.iteration = 0  # global optimiser steps taken
        self.last_losses: dict[str, float] = {}  # the loss values of the last step (for callbacks)
        self.best: dict = {"metric": cfg.eval.metric, "value": None, "epoch": None}
        self._loader_state_epoch_start = self.loader_generator.get_state()
        self.logger = RunLogger(self.work_dir, enabled=dist.is_main(), tensorboard=tc.tensorboard,
                                console=not any(cb.replaces_console for cb in self.callbacks))
        self._time_offset = 0.0  # wall time of earlier sessions of a resumed run
        self._signals: StopSignals | None = None  # set while fit() runs
        self.precision_note = (f"precision: {'fp32' if self.amp == 'none' else self.amp + ' autocast'} ({amp_reason}); "
                               f"threads per process: {self.threads or torch.get_num_threads()}")
        if evaluator is not None and hasattr(evaluator, "amp"):
            evaluator.amp = self.amp  # validation runs its forward in the same precision

    # ------------------------------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        rng = dist.all_gather_list([capture_rng(None)])
        return {
            "model": self.task.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": self.epoch,
            "epoch_iter": self.epoch_iter,
            "iteration": self.iteration,
            "best": dict(self.best),
            "elapsed_s": self.elapsed(),
            "world_size": self.world_size,
            "rng": rng,  # one entry per rank
            "loader_generator": self._loader_state_epoch_start,
            "config": recipe_to_dict(self.cfg),
        }

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        # the data order, the iterations of an epoch (so the schedule) and each rank's random state depend on the
        # number of processes and the batch: another layout would repeat some samples and skip others
        saved = (int(state.get("world_size", self.world_size)),
                 state.get("config", {}).get("data", {}).get("batch_size", self.cfg.data.batch_size))
        if saved != (self.world_size, self.cfg.data.batch_size):
            raise CheckpointError(f"{source}: written by {saved[0]} process(es) x data.batch_size {saved[1]}; this "
                                  f"run has {self.world_size} x {self.cfg.data.batch_size}: resume with the same "
                                  "number of processes and batch size")
        try:
            self.task.load_state_dict(state["model"])
            if self.ema is not None:
                if state["ema"] is None:
                    raise CheckpointError(f"{source}: the recipe uses EMA but the checkpoint has no EMA weights")
                self.ema.load_state_dict(state["ema"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scaler is not None and state["scaler"] is not None:
                self.scaler.load_state_dict(state["scaler"])
        except (KeyError, RuntimeError, ValueError) as exc:
            why = _mismatch(state, self.task.state_dict(), self.cfg) or str(exc).splitlines()[0]
            raise CheckpointError(f"{source}: does not match this recipe's model ({why})") from None
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.epoch_iter = int(state["epoch"]), int(state["epoch_iter"])
        self.iteration = int(state["iteration"])
        self.best = dict(state["best"])
        self._time_offset = float(state.get("elapsed_s", 0.0))
        rngs = state["rng"]
        restore_rng(rngs[self.rank] if len(rngs) == self.world_size else rngs[0])
        self._loader_state_epoch_start = state["loader_generator"]
        self.loader_generator.set_state(state["loader_generator"])

    def save(self, name: str = "last.pt") -> None:
        state = self.state_dict()  # collective (gathers RNG states): every rank calls it
        if dist.is_main():
            save_checkpoint(self.work_dir / name, state)
        dist.barrier()

    def resume(self, path: str | Path | None = None, state: dict | None = None) -> bool:
        """Load ``path`` (default ``work_dir/last.pt``); returns False when there is nothing to resume. ``state``:
        what :func:`load_checkpoint` already read from ``path`` (``kdpose.tasks.train`` reads it before building the
        data and the model, so that a damaged file fails at once), used instead of reading the file again."""
        path = Path(path) if path else self.work_dir / "last.pt"
        if state is None:
            if not path.is_file():
                return False
            state = load_checkpoint(path, map_location=self.device)
        self.load_state_dict(state, source=str(path))
        self.logger.drop_after(self.iteration)  # records of the lost work after the checkpoint are logged again
        if self.epoch >= self.cfg.train.max_epochs:  # "epoch 4, batch 0" of a 3-epoch run said nothing of this
            self.logger.info(f"resumed from {path}: the run had finished ({self.epoch} of {self.cfg.train.max_epochs} "
                             f"epochs, iteration {self.iteration}); nothing to train, its weights are written again")
        else:
            self.logger.info(f"resumed from {path}: epoch {self.epoch + 1}, batch {self.epoch_iter}, "
                             f"iteration {self.iteration}")
        return True

    # ------------------------------------------------------------------------------------------ loop

    def elapsed(self) -> float:
        return self._time_offset + (time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0)

    def eval_model(self) -> nn.Module:
        if self.ema is not None and self.cfg.eval.use_ema:
            return self.ema.module
        return self.model

    def fit(self) -> dict:
        """Train to ``max_epochs`` (continuing from the loaded state) and return the last validation metrics.

        SIGTERM and SIGINT are handled while the epochs run (main thread only; the previous handlers are restored
        when the epochs end, also on an error): see the class docstring.

        Raises:
            TrainingStopped: a signal stopped the run; ``last.pt`` holds the iteration it stopped at.
        """
        tc = self.cfg.train
        if dist.is_main():
            self.work_dir.mkdir(parents=True, exist_ok=True)
            with atomic_write(self.work_dir / "config.yaml", "w") as f:
                f.write(dump_recipe(self.cfg))
        self._t0 = time.perf_counter()
        self.logger.info(self.precision_note)
        if tc.stage2_epochs >= tc.max_epochs > 1:
            # the default (30, RTMPose's last 30 of 420 epochs) makes a short recipe that leaves the key out run
            # every epoch with the weak augmentation: legal, but rarely meant
            self.logger.info(f"note: train.stage2_epochs ({tc.stage2_epochs}) >= train.max_epochs "
                             f"({tc.max_epochs}): every epoch uses the weak stage-2 augmentation (set "
                             "train.stage2_epochs lower, or 0 for none)")
        self.logger.record("setup", self.iteration, {"amp": self.amp, "threads": self.threads or
                                                     torch.get_num_threads()})
        metrics: dict = {}
        self._signals = StopSignals(self._abort) if self.stop_on_signals else None
        with self._signals or contextlib.nullcontext():
            for callback in self.callbacks:
                callback.on_fit_start(self)
            while self.epoch < tc.max_epochs:
                self._train_epoch()
                epoch_done = self.epoch + 1
                self.epoch, self.epoch_iter = epoch_done, 0
                self._loader_state_epoch_start = self.loader_generator.get_state()
                interval = self.cfg.eval.interval
                if self.evaluator is not None and interval > 0 and (epoch_done % interval == 0
                                                                     or epoch_done == tc.max_epochs):
                    metrics = self.validate()
                self.save("last.pt")
                self._stop_point(saved=True)
        if dist.is_main():
            export_weights(self.eval_model(), self.work_dir / "final.safetensors")
        dist.barrier()
        self.logger.close()
        for callback in self.callbacks:
            callback.on_fit_end(self)
        return metrics

    def _stage(self, epoch: int) -> int:
        """Augmentation stage of ``epoch``: 2 (weak) for the last ``stage2_epochs`` epochs, else 1 (strong)."""
        tc = self.cfg.train
        return 2 if tc.stage2_epochs > 0 and epoch >= tc.max_epochs - tc.stage2_epochs else 1

    def _train_epoch(self) -> None:
        tc, bs = self.cfg.train, self.cfg.data.batch_size
        self.task.train()
        self.loader_generator.set_state(self._loader_state_epoch_start)
        if self.sampler is not None:
            self.sampler.set_epoch(self.epoch, skip=self.epoch_iter * bs, stage=self._stage(self.epoch))
        self.logger.start_epoch(self.epoch, tc.max_epochs, self.iters_per_epoch, initial=self.epoch_iter)
        window = {"data": 0.0, "step": 0.0, "n": 0, "losses": {}}
        t_data = time.perf_counter()
        for batch in self._loader_batches() if self.batches is None else self._step_batches():
            t_step = time.perf_counter()
            losses = self.last_losses = self.train_step(batch)
            t_end = time.perf_counter()
            self.epoch_iter += 1
            self.iteration += 1
            window["data"] += t_step - t_data
            window["step"] += t_end - t_step
            window["n"] += 1
            for k, v in losses.items():
                window["losses"][k] = window["losses"].get(k, 0.0) + v
            self.logger.step(losses["loss"], self.scheduler.get_last_lr()[0])
            if self.iteration % tc.log_interval == 0 or self.epoch_iter == self.iters_per_epoch:
                self._log_window(window)
                window = {"data": 0.0, "step": 0.0, "n": 0, "losses": {}}
            periodic = tc.checkpoint_interval_iters > 0 and self.iteration % tc.checkpoint_interval_iters == 0 \
                and self.epoch_iter < self.iters_per_epoch
            if periodic:
                self.save("last.pt")
            if self.on_iteration_end is not None:
                self.on_iteration_end(self)
            for callback in self.callbacks:
                callback.on_iteration_end(self)
            if self.epoch_iter >= self.iters_per_epoch:
                # a checkpoint after an epoch's last batch is the epoch-end one (fit): a stop waits for it
                break
            self._stop_point(saved=periodic)
            t_data = time.perf_counter()
        self.logger.end_epoch()

    def _stop_point(self, saved: bool) -> None:
        """A safe point of the loop: when a stop signal arrived on any rank, write ``last.pt`` (unless ``saved``:
        it holds this very state already) and raise. Every rank calls this at the same points, and under DDP it
        costs one scalar all-reduce (:func:`~kdpose.engine.stop.agreed_signal`), so all ranks stop together."""
        signum = agreed_signal(self._signals.signum if self._signals is not None else None, self.device)
        if signum is None:
            return
        if not saved:
            self.save("last.pt")
        self.logger.close()  # ends the progress bar, so that the message that follows gets a line of its own
        raise TrainingStopped(f"stopped by {signal_name(signum)} at iteration {self.iteration}: saved "
                              f"{self.work_dir / 'last.pt'}", signum)

    def _abort(self, signum: int) -> None:
        """A second signal: stop now. A checkpoint being written is dropped whole (``atomic_write``)."""
        raise TrainingStopped(f"stopped at once by a second {signal_name(signum)} at iteration {self.iteration}: "
                              f"{self.work_dir / 'last.pt'} holds the last checkpoint completed before, if any", signum)

    def _loader_batches(self):
        """The loader's batches. When the loader fails after a stop signal arrived (a scheduler's SIGTERM to every
        process of the job also ends the DataLoader workers, and torch then reports them gone), that failure is the
        stop itself: ``last.pt`` of the last finished step and :class:`TrainingStopped`, not a lost run."""
        iterator = iter(self.loader)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except RuntimeError:
                if self._signals is None or self._signals.signum is None:
                    raise
                self._stop_point(saved=False)  # writes last.pt and raises TrainingStopped
                raise
            yield batch

    def _step_batches(self):
        """This epoch's remaining step-indexed batches: ``batches(iteration)`` step by step."""
        for _ in range(self.epoch_iter, self.iters_per_epoch):
            yield self.batches(self.iteration)  # iteration moves on after each step: the generator is lazy

    def train_step(self, batch) -> dict[str, float]:
        """One optimiser step on ``batch``; returns the loss values as floats."""
        batch = batch.to(self.device, non_blocking=True)
        progress = TrainProgress(self.epoch, self.cfg.train.max_epochs, self.iteration, self.max_iterations)
        self.scheduler.set_iteration(self.iteration)
        with autocast(self.device, self.amp):
            losses = self.wrapped(batch, progress)
        loss = losses["loss"]
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        # both checks come before the update, so the weights stay as they were; after the backward, so that under
        # DDP every rank sees the all-reduced NaN gradient of one rank's NaN loss and every rank stops
        values = {k: float(v.detach()) for k, v in losses.items() if torch.is_tensor(v) and v.numel() == 1}
        if not math.isfinite(values["loss"]):
            self.optimizer.zero_grad(set_to_none=True)
            raise TrainingDiverged(f"loss is {values['loss']} at iteration {self.iteration} (epoch {self.epoch + 1}); "
                                   "try a lower optim.lr or optim.clip_grad_norm")
        params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        if self.cfg.optim.clip_grad_norm > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.clip_grad_norm)
        else:
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        if self.scaler is None and not torch.isfinite(grad_norm):
            # (with fp16's GradScaler an inf gradient is expected: the scaler skips that step and lowers its scale)
            self._refuse_nonfinite_gradient(params, values["loss"])
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return values

    def _refuse_nonfinite_gradient(self, params: list, loss: float) -> None:
        """Raise :class:`TrainingDiverged` naming the first parameter whose gradient is inf or NaN (the update is
        not applied). A finite loss with a non-finite gradient is a numeric fault of some kernel, not a high lr."""
        names = {id(p): n for n, p in self.task.named_parameters()}
        bad = next((p for p in params if not torch.isfinite(p.grad).all()), None)
        name = names.get(id(bad), "a parameter") if bad is not None else "a parameter"
        self.optimizer.zero_grad(set_to_none=True)
        raise TrainingDiverged(f"the gradient of {name} is not finite at iteration {self.iteration} (epoch "
                               f"{self.epoch + 1}) while the loss is {loss:.4g}; the update was not applied "
                               f"(train.amp is {self.amp}: if it is bf16, try train.amp=none)")

    def _log_window(self, window: dict) -> None:
        n = max(1, window["n"])
        total = window["data"] + window["step"]
        bs = self.cfg.data.batch_size * self.world_size
        record = {
            "epoch": self.epoch + 1,
            "lr": self.scheduler.get_last_lr()[0],
            **{k: v / n for k, v in window["losses"].items()},
            "data_time": window["data"] / n,
            "step_time": window["step"] / n,
            "data_share": window["data"] / total if total > 0 else 0.0,
            "samples_per_s": bs * n / total if total > 0 else 0.0,
            "elapsed_min": self.elapsed() / 60.0,
        }
        self.logger.record("train", self.iteration, record)

    def validate(self) -> dict:
        """Evaluate the (EMA) model; keep ``best.pt``/``best.safetensors`` by ``eval.metric``."""
        dist.broadcast_buffers(self.eval_model())  # every rank scores rank 0's model: the one that is saved
        metrics = self.evaluator(self.eval_model(), self.device)
        value = lookup_metric(metrics, self.cfg.eval.metric)
        improved = self.best["value"] is None or value > self.best["value"]
        if improved:
            self.best = {"metric": self.cfg.eval.metric, "value": value, "epoch": self.epoch}
        self.logger.record("val", self.iteration, {"epoch": self.epoch, "elapsed_min": self.elapsed() / 60.0,
                                                   **metrics})
        self.logger.info(f"epoch {self.epoch}: {self.cfg.eval.metric} = {value:.4f}"
                         + (" (best)" if improved else f" (best {self.best['value']:.4f})"))
        if improved:
            self.save("best.pt")
            if dist.is_main():
                export_weights(self.eval_model(), self.work_dir / "best.safetensors")
            dist.barrier()
        for callback in self.callbacks:
            callback.on_validation_end(self, metrics)
        return metrics


def _mismatch(state: dict, expected: dict, cfg: Any) -> str:
    """What differs between a checkpoint and the network the recipe builds, in words: the model the checkpoint's
    recipe names, and counts of missing / unexpected / reshaped keys with one example each (torch's own message
    was cut to its first line, "Error(s) in loading state_dict for PoseTask:", which names nothing)."""
    held = state.get("model") if isinstance(state.get("model"), dict) else {}
    parts = []
    saved = (state.get("config") or {}).get("model") if isinstance(state.get("config"), dict) else None
    if isinstance(saved, dict) and saved.get("name"):
        size, built = "x".join(map(str, saved.get("input_size") or ())), "x".join(map(str, cfg.model.input_size))
        if (saved["name"], size) != (cfg.model.name, built):
            parts.append(f"it holds {saved['name']}{f' at {size}' if size else ''}, the recipe builds "
                         f"{cfg.model.name} at {built}")
    missing = [k for k in expected if k not in held]
    unexpected = [k for k in held if k not in expected]
    reshaped = [k for k in expected if k in held and hasattr(held[k], "shape")
                and tuple(held[k].shape) != tuple(expected[k].shape)]
    for keys, what in ((missing, "missing"), (unexpected, "unexpected"), (reshaped, "of another shape")):
        if keys:
            parts.append(f"{len(keys)} key{'s' if len(keys) > 1 else ''} {what}, e.g. {keys[0]}")
    return "; ".join(parts)
