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


def saved_recipe_changes(cfg: RecipeCfg, work_dir: Path) -> list[str] | None:
    """The dotted keys in which ``cfg`` differs from the recipe saved in ``work_dir/config.yaml`` (None: no saved
    recipe). A key the saved recipe lacks (added to kdpose since, also inside ``data.train``) counts as its default."""
    saved = work_dir / "config.yaml"
    if not saved.is_file():
        return None
    import yaml

    try:
        before = yaml.safe_load(saved.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{saved}: not a readable recipe ({str(exc).splitlines()[0]})") from None
    if not isinstance(before, dict):
        raise ConfigError(f"{saved}: not a readable recipe (expected a mapping)")
    return recipe_differences(recipe_to_dict(cfg), _with_defaults(before, recipe_to_dict(type(cfg)())))


# What --resume takes from the checkpoint, not from the recipe: the network's weights (model.init_weights is not read
# again; another architecture or input size is a new run), the optimizer's state (every parameter group's
# hyper-parameters) and the schedule's base learning rates. A changed value here would be ignored or fail late.
RESTORED_FROM_CHECKPOINT = ("model.", "optim.")


def resolve_resume(cfg: RecipeCfg, work_dir: Path, resume: bool | str) -> bool:
    """Whether to continue the run in ``work_dir``. ``resume`` is True (a checkpoint must exist), False (the work
    dir must not hold a run) or ``"auto"`` (continue when a checkpoint of the same recipe exists, else start): with
    ``auto`` the same command starts a long run and continues it after any stop.

    ``True`` may change how the run goes on (a longer schedule, another evaluation), but not what the checkpoint
    restores (:data:`RESTORED_FROM_CHECKPOINT`: such a value would be silently ignored). A work dir whose
    ``config.yaml`` is another recipe's is refused unless a run is continued: a run stopped before its first
    checkpoint restarts with the same recipe, but another recipe would overwrite that run's files."""
    last = work_dir / "last.pt"
    changed = saved_recipe_changes(cfg, work_dir)
    if resume == "auto":
        if not last.is_file():
            resume = False
        elif changed:
            raise ConfigError(f"{work_dir}: holds a run of another recipe (differs in {', '.join(changed)}); "
                              f"choose another --work-dir or use the same settings to continue it")
        else:
            return True
    if resume and not last.is_file():
        raise ConfigError(f"{last}: nothing to resume (no checkpoint in the work dir)")
    if not resume and last.is_file():
        raise ConfigError(f"{work_dir}: already holds a run (last.pt); pass --resume (or --auto-resume) to continue "
                          f"it or choose another --work-dir")
    if resume:
        ignored = [key for key in changed or [] if key.startswith(RESTORED_FROM_CHECKPOINT)]
        if ignored:
            raise ConfigError(f"{work_dir}: --resume restores the network, the optimizer and the learning rate from "
                              f"last.pt, so the changed {', '.join(ignored)} would be ignored; keep the run's values, "
                              f"or start a new run in another --work-dir (model.init_weights can start it from this "
                              f"run's last.pt)")
    elif changed:
        raise ConfigError(f"{work_dir}: holds the files of a run of another recipe (config.yaml differs in "
                          f"{', '.join(changed)}); choose another --work-dir, or delete that run's folder")
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
    changed = saved_recipe_changes(cfg, work_dir) if resume else None  # before config.yaml is written anew
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
            if changed:  # config.yaml will hold the new values: the log keeps when they changed
                trainer.logger.info(f"continuing with a changed recipe: {', '.join(changed)}")
                trainer.logger.record("recipe_change", trainer.iteration, {"changed": changed})
        return trainer.fit()
    finally:
        dist.cleanup()


__all__ = ["default_work_dir", "recipe_differences", "resolve_resume", "saved_recipe_changes", "train"]
