"""What the demo runs: its options, the budget plan (epochs per training phase from ``--minutes``) and the training
recipes it builds (plain ``RecipeCfg`` objects, the same ones ``kdpose train`` / ``kdpose distill`` read from YAML).

Fairness of the comparison: the plain student and the distilled student train the same network from the same seed,
on the same rendered images, for the same number of optimiser steps: the plain student gets
``stage1_epochs + stage2_epochs`` epochs, the distilled one ``stage1_epochs`` of DWPose stage 1 then
``stage2_epochs`` of stage 2 (head-aware self-KD), with the same learning-rate recipe. The other methods'
recipes (SDPose, DistilPose) and what each method trains are in :mod:`kdpose.demo.methods`.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

from .setting import DemoSetting

LAYOUTS = ("coco", "wholebody")
METHODS = ("dwpose", "distilpose", "sdpose", "stagewise")
# why each other method is not in the demo (the CLI shows this as a ConfigError)
UNSUPPORTED_METHODS = {
}

TEACHER_MODEL = "rtmpose-s"  # the `hard` setting's small teacher (rtmpose-s.synth-demo_96x64)
STUDENT_MODEL = "rtmpose-t"
# RTMPose networks start from a heatmap-pre-trained CSPNeXt (from a random backbone the SimCC head stays at the mean
# pose); --from-scratch runs these pre-training phases itself, otherwise the shipped weights hold their result
PRETRAIN_MODELS = {TEACHER_MODEL: "cspnext-s-udp", STUDENT_MODEL: "cspnext-t-udp", "rtmpose-m": "cspnext-m-udp"}
# student epochs per --minutes of the `hard` setting (800 images, 64x96), from steps measured on the 2-core CPU with
# one other training job running: a plain RTMPose-t step (batch 32, one thread) ~0.33 s, a DWPose stage-1 step
# ~0.45 s. 10 minutes -> 12 + 3 epochs (about 408 + 102 steps; the whole demo ~6 minutes on that machine). A method
# on another setting or with dearer steps says its own rate (kdpose.demo.methods).
EPOCHS_PER_MINUTE = 1.5
TEACHER_EPOCHS_PER_MINUTE = 0.4  # --from-scratch: teacher epochs per --minutes


@dataclass
class DemoOptions:
    """Everything ``kdpose demo`` takes (see ``kdpose demo --help``)."""

    out: Path = Path("work_dirs/demo")
    minutes: float = 10.0
    layout: str = "coco"
    method: str = "dwpose"
    from_scratch: bool = False
    seed: int = 21
    train_images: int = 0  # 0: the method's setting's default (kdpose.demo.setting)
    val_images: int = 100
    threads: int = 0  # 0: every core this process may use (kdpose.engine.precision.resolve_threads)
    workers: int = 1
    batch_size: int = 32
    epoch_iters: int = 0  # > 0: cap every training epoch (quick test runs)
    video_frames: int = 24
    bench_iters: int = 20
    detector: str | None = None  # person boxes of the pictures and the video; None: DEFAULT_DETECTOR; 'none': ground truth

    def validate(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(f"--layout: '{self.layout}' is not one of {', '.join(LAYOUTS)}")
        if self.method not in METHODS:
            raise ConfigError(f"--method: '{self.method}' is not one of {', '.join(METHODS)}")
        if self.method in UNSUPPORTED_METHODS:
            raise ConfigError(f"--method {self.method}: not available in the demo: {UNSUPPORTED_METHODS[self.method]}")
        from .methods import get_method

        if get_method(self.method).pipeline == "depth" and self.layout != "coco":
            # the depth pipeline's pose machines have the 17 body keypoints only; it ran them and said nothing
            raise ConfigError(f"--layout {self.layout}: the {self.method} demo (depth pose machines) has the 17 body "
                              "keypoints only; use --layout coco")
        if not (self.minutes > 0 and math.isfinite(self.minutes)):
            raise ConfigError(f"--minutes: must be a positive number, got {self.minutes}")
        if (self.train_images != 0 and self.train_images < 2) or self.val_images < 1:
            raise ConfigError(f"--train-images/--val-images: need at least 2 / 1 images, got "
                              f"{self.train_images} / {self.val_images}")
        if self.threads < 0 or self.workers < 0:
            raise ConfigError(f"--threads and --workers must be >= 0, got {self.threads} / {self.workers}")
        # mkdir of the first phase said only "file exists" of a file given as the folder
        out = Path(self.out)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{out}: --out names a file, not a folder; give a folder (the demo writes its data, "
                              "runs and report.html into it)")
        blocker = next((p for p in out.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise ConfigError(f"{blocker}: --out {out} lies under a file, not a folder")
        if self.detector is not None and self.detector.lower() != "none":
            if get_method(self.method).pipeline != "topdown":
                raise ConfigError(f"--detector: the {self.method} demo finds people bottom-up, without boxes")
            check_detector_name(self.detector)

    @property
    def detector_name(self) -> str | None:
        """The detector of the pictures and the video: ``--detector``, else ``DEFAULT_DETECTOR``; None (also for
        ``--detector none``): the ground-truth boxes."""
        from ..detection.registry import DEFAULT_DETECTOR

        name = self.detector or DEFAULT_DETECTOR
        return None if name is None or name.lower() == "none" else name

    @property
    def skeleton_layout(self) -> str:
        """Model/data layout name (``coco`` or ``coco_wholebody``)."""
        from ..layouts import get_layout

        return get_layout(self.layout).name

    @property
    def torch_threads(self) -> int:
        """``--threads``, 0 resolved to the cores this process may use."""
        from ..engine.precision import resolve_threads

        return self.threads or resolve_threads("auto")

    @property
    def setting(self) -> DemoSetting:
        """Where the chosen method trains for the chosen layout (:meth:`kdpose.demo.methods.DemoMethod.setting`)."""
        from .methods import get_method

        return get_method(self.method).setting(self.skeleton_layout)

    @property
    def images(self) -> int:
        """Training scenes: ``--train-images``, or the setting's default."""
        return self.train_images or self.setting.train_images

    @property
    def per_part(self) -> bool:
        """Whether the layout is scored per part (whole-body: the report shows per-part AP)."""
        from ..layouts import get_layout

        return get_layout(self.layout).protocol == "wholebody"


def check_detector_name(name: str) -> None:
    """A ``--detector`` that cannot be a detector is a one-line ``ConfigError`` before anything runs: a detector
    file that is not there, or a name that is neither an official tag, a registered name nor a shipped tag (whether
    its weights load is checked before training, when the demo builds it)."""
    from ..detection.registry import DETECTORS, shipped_detector_tags, unknown_detector_message
    from ..inference.detectors import OFFICIAL_DETECTORS

    if name.lower().endswith((".onnx", ".safetensors")):
        if not Path(name).is_file():
            raise ConfigError(f"--detector {name}: no such file")
        return
    if name not in OFFICIAL_DETECTORS and name not in DETECTORS and name not in shipped_detector_tags():
        raise ConfigError(f"--detector: {unknown_detector_message(name)}")


@dataclass(frozen=True)
class BudgetPlan:
    """Epochs of each training phase; the plain student trains ``stage1 + stage2`` epochs."""

    teacher_epochs: int  # 0: the shipped teacher is loaded
    stage1_epochs: int
    stage2_epochs: int
    pretrain_epochs: int = 0  # --from-scratch: heatmap pre-training epochs of each backbone (0: shipped)

    @property
    def student_epochs(self) -> int:
        return self.stage1_epochs + self.stage2_epochs


def plan_budget(opts: DemoOptions, teacher_shipped: bool) -> BudgetPlan:
    """Epochs from ``--minutes`` at the method's rate: stage 2 gets a fifth of stage 1 (as DWPose: 60 of 270+
    epochs, rounded up)."""
    from .methods import get_method

    rate = get_method(opts.method).epochs_per_minute
    stage1 = max(1, round(rate * opts.minutes * 0.8))
    stage2 = max(1, round(rate * opts.minutes * 0.2))
    teacher = 0 if teacher_shipped else max(1, round(TEACHER_EPOCHS_PER_MINUTE * opts.minutes))
    pretrain = max(1, round(TEACHER_EPOCHS_PER_MINUTE * opts.minutes)) if opts.from_scratch else 0
    return BudgetPlan(teacher, stage1, stage2, pretrain)


def base_recipe(opts: DemoOptions, model: str, epochs: int, backbone: Path | None = None) -> dict[str, Any]:
    """The shared recipe (as a YAML-shaped dict) of every demo training run; ``backbone``: pre-trained weights whose
    ``backbone.*`` tensors start the network."""
    layout, setting = opts.skeleton_layout, opts.setting
    init = {"init_weights": str(backbone), "init_prefix": "backbone."} if backbone else {}
    return {
        "model": {"name": model, "layout": layout, "input_size": list(setting.input_size), **init},
        "data": {"layout": layout, "augment": "light", "cache_dir": str(opts.out / "data"),
                 "train": setting.split(opts.images, setting.train_seed),
                 "val": setting.split(opts.val_images, setting.val_seed),
                 "batch_size": opts.batch_size, "val_batch_size": 64, "workers": opts.workers, "persistent_workers": False},
        "optim": {"lr": 4.0e-3, "weight_decay": 0.05, "clip_grad_norm": 1.0},
        "schedule": {"warmup_iters": 50, "warmup_start_factor": 1.0e-5, "cosine_start_epoch": -1,
                     "eta_min_factor": 0.05},
        "train": {"max_epochs": epochs, "stage2_epochs": max(0, epochs // 5), "epoch_iters": opts.epoch_iters,
                  "seed": opts.seed, "threads": opts.torch_threads, "ema": True, "log_interval": 5,
                  "device": "cpu"},
        "eval": {"interval": max(1, math.ceil(epochs / 3)), "flip_test": False, "use_ema": True,
                 "metric": "wholebody.AP" if opts.per_part else "AP"},
    }


def pretrain_recipe(opts: DemoOptions, plan: BudgetPlan, model: str) -> dict[str, Any]:
    """Heatmap (UDP) pre-training of ``model``'s CSPNeXt backbone (``--from-scratch``, or no shipped backbone);
    ``model``: an RTMPose network of :data:`PRETRAIN_MODELS` or the heatmap model itself."""
    recipe = base_recipe(opts, PRETRAIN_MODELS.get(model, model), plan.pretrain_epochs)
    recipe["optim"] = {"lr": 2.0e-3, "weight_decay": 0.0, "clip_grad_norm": 0.0}
    return recipe


def teacher_recipe(opts: DemoOptions, plan: BudgetPlan, backbone: Path | None = None) -> dict[str, Any]:
    return base_recipe(opts, TEACHER_MODEL, plan.teacher_epochs, backbone)


def student_recipe(opts: DemoOptions, plan: BudgetPlan, backbone: Path | None = None) -> dict[str, Any]:
    """The plain student: the same steps as stage 1 + stage 2 of the distilled one, from the same backbone."""
    return base_recipe(opts, STUDENT_MODEL, plan.student_epochs, backbone)


def stage1_recipe(opts: DemoOptions, plan: BudgetPlan, teacher_weights: Path, backbone: Path | None = None,
                  teacher_model: str = TEACHER_MODEL) -> dict[str, Any]:
    """DWPose stage 1: teacher -> student, L = L_gt + r(t) (alpha L_feature + beta L_logit) (paper's weights)."""
    recipe = base_recipe(opts, STUDENT_MODEL, plan.stage1_epochs, backbone)
    recipe["distill"] = {"method": "dwpose", "teacher": teacher_model, "teacher_weights": str(teacher_weights),
                         "params": {"alpha": 7.0e-5, "beta": 0.1, "use_gt": True, "use_feature": True,
                                    "use_logit": True, "decay": True}}
    return recipe


def stage2_recipe(opts: DemoOptions, plan: BudgetPlan, stage1_weights: Path) -> dict[str, Any]:
    """DWPose stage 2: the stage-1 student's frozen backbone, a new head taught by its own old head."""
    recipe = base_recipe(opts, STUDENT_MODEL, plan.stage2_epochs)
    recipe["train"]["stage2_epochs"] = 0  # the student's last epochs were already weak-augmentation ones
    recipe["schedule"]["warmup_iters"] = 10
    recipe["distill"] = {"method": "dwpose_stage2", "teacher": STUDENT_MODEL,
                         "teacher_weights": str(stage1_weights), "params": {"gamma": 1.0}}
    return recipe


def to_recipe(recipe: dict[str, Any], source: str = "demo recipe"):
    """A YAML-shaped dict -> a checked ``RecipeCfg`` (unknown keys / wrong types raise ``ConfigError``)."""
    from ..engine.config import RecipeCfg, from_dict, recipe_layout

    cfg = from_dict(RecipeCfg, copy.deepcopy(recipe), source=source)
    recipe_layout(cfg, source)
    return cfg


__all__ = ["BudgetPlan", "DemoOptions", "LAYOUTS", "METHODS", "PRETRAIN_MODELS", "UNSUPPORTED_METHODS", "base_recipe",
           "plan_budget", "pretrain_recipe", "stage1_recipe", "stage2_recipe", "student_recipe", "teacher_recipe", "to_recipe"]
