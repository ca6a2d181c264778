"""``kdpose train``: train a model (or a distillation method) from a recipe."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

NAME = "train"
HELP = "train a model from a recipe (configs/*.yaml), single process or under torchrun"

EPILOG = """\
Examples:
  kdpose train configs/rtmpose-t_synth-body.yaml
  kdpose train configs/rtmpose-t_synth-body.yaml --set optim.lr=2e-3 --set train.max_epochs=20
  kdpose train configs/rtmpose-t_synth-body.yaml --work-dir runs/t1 --resume
  kdpose train configs/rtmpose-m_synth-standard.yaml --auto-resume   # rerun the same line after any stop
  torchrun --nproc_per_node 2 -m kdpose train configs/rtmpose-m_coco-256x192.yaml

Outputs in the work dir: config.yaml (the resolved recipe), log.jsonl, tensorboard/, last.pt, best.pt
(training checkpoints), best.safetensors and final.safetensors (inference weights), val_results.json.
See docs/training.md for recipes, resuming and multi-node runs.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("recipe", help="recipe YAML file (see configs/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, e.g. --set optim.lr=2e-3 (repeatable)")
    parser.add_argument("--work-dir", default=None,
                        help="output folder (default: the recipe's work_dir, else work_dirs/<recipe name>)")
    resume = parser.add_mutually_exclusive_group()  # both: --auto-resume won, a fresh run where --resume asked none
    resume.add_argument("--resume", action="store_true",
                        help="continue the run in the work dir from its last.pt (exactly where it stopped)")
    resume.add_argument("--auto-resume", action="store_true",
                        help="continue the run in the work dir if it has one (same recipe), else start it: the same "
                             "command starts a long run and continues it after any stop")


def check_work_dir(work_dir: str) -> None:
    """Refuse, before building anything, a work dir that is a file, lies under one, or cannot be written.

    Raises:
        ConfigError: naming the path.
    """
    from kdpose.errors import ConfigError
    from kdpose.utils.io import check_output_dir

    path = Path(work_dir)
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            what = "is a file" if p == path else f"lies under the file {p}"
            raise ConfigError(f"{path}: the work dir {what}; give a folder (--work-dir)")
        if p.exists():
            break
    if os.environ.get("RANK", "0") == "0":  # one probe (DDP ranks would remove each other's probe folder)
        check_output_dir(path, "the work dir")  # /proc, a read-only disk: refused now, not after the set-up


def load_cli_recipe(args: argparse.Namespace):
    """The recipe of ``kdpose train`` / ``distill``; one that sets nothing (an empty file, only comments, no
    ``--set``) is named as such, not by the first setting a run misses (``data.train.ann_file``)."""
    import yaml

    from kdpose.engine.config import load_recipe
    from kdpose.errors import ConfigError

    cfg = load_recipe(args.recipe, args.overrides)  # the file is readable YAML from here on
    if not args.overrides and not yaml.safe_load(Path(args.recipe).read_text(encoding="utf-8")):
        raise ConfigError(f"{args.recipe}: the recipe sets nothing; copy one from configs/ (e.g. "
                          "configs/rtmpose-t_synth-body.yaml) or give its settings with --set")
    return cfg


def run(args: argparse.Namespace) -> int:
    from kdpose.tasks import default_work_dir, train
    from kdpose.errors import ConfigError, TrainingStopped, UnknownNameError

    cfg = load_cli_recipe(args)
    work_dir = args.work_dir or cfg.work_dir or str(default_work_dir(args.recipe))
    check_work_dir(work_dir)
    cfg.work_dir = str(work_dir)
    try:
        metrics = train(cfg, work_dir, resume="auto" if args.auto_resume else args.resume)
    except (ConfigError, UnknownNameError) as exc:   # a recipe value found wrong while building: name the recipe
        if str(exc).startswith(str(args.recipe)):
            raise
        raise type(exc)(f"{args.recipe}: {exc}") from None
    except TrainingStopped as exc:   # the engine names the checkpoint; how to continue is this command's flag
        raise TrainingStopped(f"{exc}; rerun the same command with --auto-resume to continue", exc.signum) from None
    if metrics and os.environ.get("RANK", "0") == "0":
        aps = {k: v for k, v in _flatten(metrics).items() if k.endswith("AP")}
        print("final validation: " + ", ".join(f"{k}={v:.4f}" for k, v in aps.items()))
    return 0


def _flatten(values: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
