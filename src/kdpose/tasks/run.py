"""``train``: the one entry point that runs a recipe, whatever its task kind (``kdpose train`` / ``kdpose distill``,
the demo and the benchmarks all call it)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..engine import dist
from ..engine.checkpoint import load_checkpoint
from ..engine.config import RecipeCfg, check_values, recipe_to_dict
from ..engine.trainer import Callback, Trainer, seed_everything, select_device
from ..errors import ConfigError, DataError
from .base import get_task


def default_work_dir(recipe_path: str | Path) -> Path:
    return Path("work_dirs") / Path(recipe_path).stem


# How a run executes, not what it computes: a long run may continue on another machine or next to other jobs with
# other values (e.g. one torch thread while the cores are shared). Data workers are not here: each worker draws its
# own augmentation stream, so their number changes the batches.
RUN_SETTINGS = frozenset({"train.threads", "train.log_interval", "train.checkpoint_interval_iters",
                          "data.val_batch_size"})


def _with_defaults(saved: Any, default: Any) -> Any:
    """``saved`` (a recipe as written to ``config.yaml``) with the keys it lacks taken from ``default``, at any
    depth: a section key added to kdpose after the run started (e.g. ``data.train.synthetic_fresh``) is its default."""
    if not (isinstance(saved, dict) and isinstance(default, dict)):
        return saved
    return {**default, **{key: _with_defaults(value, default.get(key)) for key, value in saved.items()}}


def recipe_differences(now: dict, before: dict) -> list[str]:
    """Dotted keys whose values differ between two recipes (as :func:`recipe_to_dict` gives them), how the run
    executes (:data:`RUN_SETTINGS`) and where it is written (``work_dir``) aside. Top-level values (``task``) count,
    and so does an entry only one side has: a ``task_params`` entry dropped since changes the run as much as one
    changed."""
    changed = []
    for section in sorted(set(now) | set(before)):
        if section == "work_dir":
            continue
        old, new = before.get(section), now.get(section)
        if not (isinstance(old, dict) and isinstance(new, dict)):
            if old != new:
                changed.append(section)
            continue
        changed += [f"{section}.{key}" for key in sorted(set(old) | set(new))
                    if f"{section}.{key}" not in RUN_SETTINGS and old.get(key) != new.get(key)]
    return changed


def resolve_resume(cfg: RecipeCfg, work_dir: Path, resume: bool | str) -> bool:
    """Whether to continue the run in ``work_dir``. ``resume`` is True (a checkpoint must exist), False (the work
    dir must not hold a run) or ``"auto"`` (continue when a checkpoint of the same recipe exists, else start): with
    ``auto`` the same command starts a long run and continues it after any stop."""
    last = work_dir / "last.pt"
    if resume == "auto":
        if not last.is_file():
            return False
        saved = work_dir / "config.yaml"
        if saved.is_file():
            import yaml

            now = recipe_to_dict(cfg)
            # a key the saved recipe lacks (added to kdpose since, also inside data.train ...) counts as its default
            before = _with_defaults(yaml.safe_load(saved.read_text()), recipe_to_dict(type(cfg)()))
            changed = recipe_differences(now, before)
            if changed:
                raise ConfigError(f"{work_dir}: holds a run of another recipe (differs in {', '.join(changed)}); "
                                  f"choose another --work-dir or use the same settings to continue it")
        return True
    if resume and not last.is_file():
        raise ConfigError(f"{last}: nothing to resume (no checkpoint in the work dir)")
    if not resume and last.is_file():
        raise ConfigError(f"{work_dir}: already holds a run (last.pt); pass --resume (or --auto-resume) to continue "
                          f"it or choose another --work-dir")
    return bool(resume)


def check_data_files(cfg: RecipeCfg) -> None:
    """The annotation files and image folders the recipe reads from disk exist. Checked before anything is built or
    rendered: a wrong ``data.val.ann_file`` used to surface only after the training split's synthetic render
    (minutes). The validation split counts only when the run validates (``eval.interval > 0``).

    Raises:
        DataError: naming the path and the recipe key.
    """
    for name in ("train", "val") if cfg.eval.interval > 0 else ("train",):
        split = getattr(cfg.data, name)
        if split.synthetic_images > 0:
            continue
        if split.ann_file and not Path(split.ann_file).is_file():
            raise DataError(f"{split.ann_file}: annotation file not found (data.{name}.ann_file)")
        if split.img_dir and not Path(split.img_dir).is_dir():
            raise DataError(f"{split.img_dir}: image folder not found (data.{name}.img_dir, for {split.ann_file})")


def train(cfg: RecipeCfg, work_dir: str | Path, *, resume: bool | str = False,
          callbacks: Sequence[Callback] = ()) -> dict:
    """Build everything ``cfg`` asks for (its task kind: :mod:`kdpose.tasks`) and train; returns the last
    validation metrics ({} without validation).

    Args:
        resume: see :func:`resolve_resume` (``"auto"`` continues a stopped run of the same recipe).
        callbacks: :class:`~kdpose.engine.trainer.Callback` objects (progress display, snapshots, ...).

    Under ``torchrun`` every process runs this; the process group is joined first so that rank 0 alone renders
    synthetic data and writes files.
    """
    check_values(cfg)  # a recipe built in Python has not been through load_recipe's checks
    kind = get_task(cfg)
    kind.check(cfg)  # before any device, data or model work: a wrong recipe fails at once
    check_data_files(cfg)
    if cfg.data.train.synthetic_fresh and not kind.fresh_scenes:
        raise ConfigError(f"data.train.synthetic_fresh: task '{kind.name}' trains on scenes rendered once; only the "
                          f"top-down task renders fresh scenes every epoch")
    work_dir = Path(work_dir)
    device = select_device(cfg.train.device)
    dist.init_distributed(device)
    resume = resolve_resume(cfg, work_dir, resume)
    # read last.pt now, once, not after the (slow) data and model build: a damaged file fails in a second
    state = load_checkpoint(work_dir / "last.pt", map_location=device) if resume else None
    seed_everything(cfg.train.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    parts = kind.build(cfg, work_dir)
    seed_everything(cfg.train.seed + dist.rank())  # per-rank streams for dropout / drop-path
    trainer = Trainer(cfg, parts.task, parts.train_set, parts.collate_fn, work_dir, evaluator=parts.evaluator,
                      device=device, callbacks=callbacks)
    try:
        if state is not None:
            trainer.resume(state=state)
        return trainer.fit()
    finally:
        dist.cleanup()


__all__ = ["default_work_dir", "recipe_differences", "resolve_resume", "train"]
