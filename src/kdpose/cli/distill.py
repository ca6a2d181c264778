"""``kdpose distill``: ``kdpose train`` for a distillation recipe (one with a ``distill.method``)."""
from __future__ import annotations

import argparse

from . import train as train_cmd

NAME = "distill"
HELP = "train a student with a distillation recipe (DWPose stage 1 / stage 2, DistilPose, ...)"

EPILOG = """\
Examples:
  kdpose distill configs/dwpose_synth_s1_m-t.yaml
  kdpose distill configs/dwpose_synth_s2_t.yaml --set distill.teacher_weights=runs/s1/final.safetensors
  kdpose distill configs/dwpose_ucoco_s1_l-m_256x192.yaml --set 'distill.params={teacher_mode: train}'
  kdpose distill configs/dwpose_synth_s1_m-t.yaml --set 'distill.params={use_feature: false}' --work-dir runs/no_fea

The recipe's distill section names the method (dwpose, dwpose_stage2, distilpose, ...), the teacher model and
its weights file, and the method's params (a --set of distill.params replaces the whole mapping). Outputs are
those of 'kdpose train'; final.safetensors and best.safetensors hold the plain student (e.g. an rtmpose model
loadable with kdpose.load_model), without the teacher or the distiller's own layers (kept in last.pt).
See docs/dwpose.md.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    train_cmd.add_arguments(parser)
    parser.epilog = EPILOG


def run(args: argparse.Namespace) -> int:
    from kdpose.errors import ConfigError

    cfg = train_cmd.load_cli_recipe(args)
    if not cfg.distill.method:
        raise ConfigError(f"{args.recipe}: distill.method is empty: this is not a distillation recipe "
                          "(use 'kdpose train' for plain training)")
    return train_cmd.run(args)
