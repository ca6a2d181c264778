"""The one place that turns a recipe into objects: model, task (plain or distillation), datasets, evaluator,
and the ``train`` entry point used by ``kdpose train``."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ConfigError, DataError
from . import dist
from .config import DataCfg, DistillCfg, ModelCfg, RecipeCfg, SplitCfg, recipe_layout, recipe_to_dict
from .trainer import Trainer, seed_everything, select_device
from .validate import PoseEvaluator


def build_model(cfg: ModelCfg) -> nn.Module:
    """``create_model(cfg.name, layout=..., input_size=..., **cfg.kwargs)``, then ``cfg.init_weights`` if set
    (only the keys under ``cfg.init_prefix`` when that is set)."""
    from ..models import create_model, load_weights

    model = create_model(cfg.name, layout=cfg.layout, input_size=tuple(cfg.input_size), **cfg.kwargs)
    if cfg.init_weights:
        check_weights_source(cfg.init_weights, "model.init_weights")
        load_weights(model, cfg.init_weights, prefix=cfg.init_prefix)
    return model


def check_weights_source(weights: str, key: str) -> None:
    """A recipe's weights value is a pretrained tag, a URL or an existing file; a missing file (typically the output
    of another recipe's run, not made yet) is a ``ConfigError`` naming the key and how to get the weights."""
    from ..models import PRETRAINED
    from ..models._download import is_url

    if weights in PRETRAINED or is_url(weights) or Path(weights).expanduser().is_file():
        return
    raise ConfigError(f"{key}: {weights}: no such weights file (if another recipe's run writes it, run that recipe "
                      f"first, from the same folder; or give a pretrained tag: kdpose.models.list_pretrained())")


def build_task(cfg: RecipeCfg, model: nn.Module) -> nn.Module:
    """``PoseTask(model)``, or the distillation method of ``cfg.distill`` with its frozen teacher."""
    from ..models.task import PoseTask

    dc: DistillCfg = cfg.distill
    if not dc.method:
        return PoseTask(model)
    from ..distill import DISTILLERS, build_distiller
    from ..models import load_model

    if not getattr(DISTILLERS.get(dc.method), "needs_teacher", True):  # self-distillation (sdpose): no teacher
        return build_distiller(dc.method, model, None, dc.params)
    if not dc.teacher:
        raise ConfigError(f"distill.teacher: method '{dc.method}' needs a teacher model name")
    size = tuple(dc.teacher_input_size) if any(dc.teacher_input_size) else tuple(cfg.model.input_size)
    if dc.teacher_weights:
        check_weights_source(dc.teacher_weights, "distill.teacher_weights")
    teacher = load_model(dc.teacher, weights=dc.teacher_weights or None, layout=cfg.model.layout, input_size=size)
    return build_distiller(dc.method, model, teacher, dc.params)


# SynthConfig settings that a split sets through its own keys (or that pose training cannot use)
_OWN_SYNTH_KEYS = {"width": "synthetic_size", "height": "synthetic_size", "layout": "model.layout",
                   "max_people": "synthetic_max_people", "modality": "(RGB only for top-down training)"}


def synthetic_config(split: SplitCfg, layout: str, where: str):
    """The generator settings of a synthetic split: the preset ``synthetic_preset``, size and people count from the
    split's own keys, the keypoint ``layout`` (``coco`` / ``wholebody``) from the caller, and any other
    ``SynthConfig`` setting (the difficulty knobs) from ``synthetic_settings``, which override the preset's.
    ``where`` names the split in errors (``data.train``)."""
    import dataclasses

    from ..data.synth import SynthConfig

    valid = [f.name for f in dataclasses.fields(SynthConfig) if f.name not in _OWN_SYNTH_KEYS]
    settings = {}
    for key, value in split.synthetic_settings.items():
        if key in _OWN_SYNTH_KEYS:
            raise ConfigError(f"{where}.synthetic_settings.{key}: set by {_OWN_SYNTH_KEYS[key]}, not here")
        if key not in valid:
            raise ConfigError(f"{where}.synthetic_settings: unknown setting '{key}' (valid: {', '.join(valid)})")
        settings[key] = tuple(value) if isinstance(value, list) else value   # YAML lists -> the config's tuples
    w, h = split.synthetic_size
    try:
        return SynthConfig.from_preset(split.synthetic_preset, width=w, height=h, layout=layout,
                                       max_people=split.synthetic_max_people, **settings)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}.synthetic_settings: {exc}") from None


def synthetic_split_paths(data: DataCfg, split: SplitCfg, name: str):
    """(annotation file, image folder, generator settings) where a synthetic split is cached; renders nothing.
    The folder name hashes everything that changes the images, so a recipe finds exactly its own split."""
    from ..data.synth import GENERATOR_VERSION, annotation_path

    from ..layouts import get_layout

    layout = get_layout(data.layout or "coco").synthetic_name("model.layout")
    synth = synthetic_config(split, layout, f"data.{name}")
    key = json.dumps([GENERATOR_VERSION, name, split.synthetic_images, split.synthetic_seed, repr(synth)])
    out = Path(data.cache_dir) / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    return annotation_path(out, synth, name), out, synth


def _synthetic_split(data: DataCfg, split: SplitCfg, name: str) -> tuple[str, str]:
    """Render (once, on rank 0) and cache a synthetic split; returns (annotation file, image folder)."""
    from ..data.synth import write_coco_dataset

    ann, out, synth = synthetic_split_paths(data, split, name)
    if dist.is_main() and not ann.is_file():
        write_coco_dataset(out, synth, split.synthetic_images, seed=split.synthetic_seed, split=name,
                           workers=max(1, data.workers), progress=True)
    dist.barrier()
    return str(ann), str(out)


def resolve_split(data: DataCfg, split: SplitCfg, name: str) -> tuple[str, str]:
    """(annotation file, image folder) of a split, rendering synthetic data when the recipe asks for it."""
    if split.synthetic_images > 0:
        return _synthetic_split(data, split, name)
    if not split.ann_file:
        raise ConfigError(f"data.{name}.ann_file: set a COCO-format annotation file or data.{name}.synthetic_images")
    if not Path(split.ann_file).is_file():
        raise DataError(f"{split.ann_file}: annotation file not found (data.{name}.ann_file)")
    return split.ann_file, split.img_dir


def load_samples(data: DataCfg, split: SplitCfg, name: str, mode: str) -> tuple[list, str]:
    """The ``Sample`` list of a split and its annotation file (val: GT boxes, or detector boxes from bbox_file)."""
    from ..data import load_detections
    from ..data.coco import check_image_folder
    from ..layouts import get_layout

    layout = get_layout(data.layout or "coco")
    ann, img_dir = resolve_split(data, split, name)
    root = img_dir or None
    if mode == "eval" and split.bbox_file:
        samples = load_detections(split.bbox_file, ann, layout.name, split.bbox_score_thr, image_root=root)
    else:
        samples = layout.read_annotations(ann, mode=mode, image_root=root)
    if not samples:
        raise DataError(f"{ann}: no usable person instances for {name}")
    check_image_folder(samples, ann, root, f"data.{name}.img_dir")
    return samples, ann


def build_datasets(cfg: RecipeCfg, model: nn.Module) -> tuple[Any, Any, str | None]:
    """(train TopDownDataset, val TopDownDataset or None, val annotation file or None)."""
    from ..data import TopDownDataset, build_train_pipeline
    from ..data.transforms import AUGMENT_RECIPES

    recipe_layout(cfg)  # fills data.layout from model.layout (one layout per recipe)
    data = cfg.data
    if data.augment not in AUGMENT_RECIPES:
        raise ConfigError(f"data.augment: unknown augmentation '{data.augment}' (choose from "
                          f"{', '.join(AUGMENT_RECIPES)})")
    codec, skeleton = model.codec, model.skeleton
    train_samples, _ = load_samples(data, data.train, "train", "train")
    pipeline = build_train_pipeline(skeleton, tuple(codec.input_size), recipe=cfg.data.augment)
    train_set = TopDownDataset(train_samples, codec, pipeline, seed=cfg.train.seed, skip_bad_images=True)
    if cfg.eval.interval <= 0:
        return train_set, None, None
    val_samples, val_ann = load_samples(data, data.val, "val", "eval")
    val_set = TopDownDataset(val_samples, codec, skip_bad_images=True)
    return train_set, val_set, val_ann


def build_evaluator(cfg: RecipeCfg, model: nn.Module, val_set: Any, val_ann: str, work_dir: Path) -> PoseEvaluator:
    from ..data import collate_topdown

    return PoseEvaluator(val_set, collate_topdown, val_ann, model.codec, model.skeleton, layout=recipe_layout(cfg).name,
                         batch_size=cfg.data.val_batch_size, workers=cfg.data.workers, flip_test=cfg.eval.flip_test,
                         rescore_thr=cfg.eval.rescore_thr, nms_thr=cfg.eval.nms_thr,
                         results_file=work_dir / "val_results.json")


def default_work_dir(recipe_path: str | Path) -> Path:
    return Path("work_dirs") / Path(recipe_path).stem


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

            before = yaml.safe_load(saved.read_text())
            now = recipe_to_dict(cfg)
            # a key the saved recipe lacks (added to kdpose since) counts as its default
            default = recipe_to_dict(type(cfg)())
            changed = sorted(f"{section}.{key}" for section, values in now.items() if isinstance(values, dict)
                             for key in values
                             if (before.get(section) or {}).get(key, default[section].get(key)) != values[key])
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


def train(cfg: RecipeCfg, work_dir: str | Path, resume: bool | str = False) -> dict:
    """Build everything from ``cfg`` and train; returns the last validation metrics ({} without validation).

    ``resume``: see :func:`resolve_resume` (``"auto"`` continues a stopped run of the same recipe). Under
    ``torchrun`` every process runs this; the process group is joined first so that rank 0 alone renders
    synthetic data and writes files.
    """
    from ..data import collate_topdown

    if cfg.model.name.startswith("kdpose-det-"):  # person-detector recipes: their own data/task/evaluator glue
        from ..detection.training import train_detector

        return train_detector(cfg, work_dir, resume=resume)
    work_dir = Path(work_dir)
    recipe_layout(cfg)
    device = select_device(cfg.train.device)
    dist.init_distributed(device)
    resume = resolve_resume(cfg, work_dir, resume)
    seed_everything(cfg.train.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_model(cfg.model)
    task = build_task(cfg, model)
    train_set, val_set, val_ann = build_datasets(cfg, model)
    evaluator = build_evaluator(cfg, model, val_set, val_ann, work_dir) if val_set is not None else None
    seed_everything(cfg.train.seed + dist.rank())  # per-rank streams for dropout / drop-path
    trainer = Trainer(cfg, task, train_set, collate_topdown, work_dir, evaluator=evaluator, device=device)
    if resume:
        trainer.resume()
    try:
        metrics = trainer.fit()
    finally:
        dist.cleanup()
    return metrics


__all__ = ["build_datasets", "build_evaluator", "build_model", "build_task", "default_work_dir", "recipe_to_dict",
           "resolve_split", "train"]
