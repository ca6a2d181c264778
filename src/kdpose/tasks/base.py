"""What a task kind provides to the one training entry point, the registry of task kinds, and the pieces every kind
shares (building the model of a recipe, its distillation task with a frozen teacher).

A task kind turns a recipe into :class:`TrainParts`: the network that is evaluated, averaged (EMA) and exported,
the training task (``task(batch, progress) -> {"loss", ...}``: the plain model's loss or a distiller), the training
set and its collate function, and the evaluator. The recipe names its kind (``task: topdown``) or leaves it to the
model, whose zoo entry says which task it serves (``kdpose.models.model_task``); nothing is guessed from a name.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from torch import nn

from ..engine.config import RecipeCfg
from ..errors import ConfigError, UnknownNameError
from ..registry import Registry

log = logging.getLogger(__name__)


@dataclass
class TrainParts:
    """Everything the trainer needs for one run."""

    model: nn.Module  # the plain network: evaluated, EMA'd, saved and exported
    task: nn.Module  # task(batch, progress) -> dict of losses with "loss"; task.model is ``model``
    train_set: Any  # map-style dataset with set_epoch(epoch)
    collate_fn: Callable[[list], Any]
    evaluator: Callable | None  # evaluator(model, device) -> metrics, or None without validation


class TaskKind:
    """Base class of a task kind: ``name`` (the recipe's ``task:`` value), ``model_tasks`` (the zoo tasks of the
    models it trains), ``params`` (its ``task_params`` keys and their defaults), ``fresh_scenes`` (whether it
    trains on fresh synthetic scenes), and :meth:`build`."""

    name: ClassVar[str] = ""
    model_tasks: ClassVar[tuple[str, ...]] = ()
    params: ClassVar[dict[str, Any]] = {}
    fresh_scenes: ClassVar[bool] = False  # trains on data.train.synthetic_fresh (new scenes every epoch)

    def check(self, cfg: RecipeCfg) -> None:
        """Refuse what this kind cannot train before anything is built or rendered (``ConfigError``)."""

    def build(self, cfg: RecipeCfg, work_dir: Path) -> TrainParts:
        raise NotImplementedError

    def task_params(self, cfg: RecipeCfg) -> dict[str, Any]:
        """``cfg.task_params`` over this kind's defaults; an unknown key is a ``ConfigError`` naming the valid ones."""
        unknown = sorted(set(cfg.task_params) - set(self.params))
        if unknown:
            valid = ", ".join(self.params) or "none"
            raise ConfigError(f"task_params: unknown key(s) {', '.join(unknown)} for task '{self.name}' "
                              f"(valid: {valid})")
        return {**self.params, **cfg.task_params}


TASKS: Registry[TaskKind] = Registry("task")


def register_task(cls: type[TaskKind]) -> type[TaskKind]:
    """Class decorator: register one instance of the task kind ``cls`` under ``cls.name``."""
    TASKS.register(cls(), name=cls.name)
    return cls


def get_task(cfg: RecipeCfg) -> TaskKind:
    """The task kind of a recipe: ``cfg.task``, or the task its model serves; the two must fit.

    Raises:
        ConfigError: an unknown task or model name (naming the key, listing close names), or a model of another
            kind (e.g. a pose machine on the top-down path).
    """
    from ..models import model_task

    try:
        served = model_task(cfg.model.name)
    except UnknownNameError as exc:  # the recipe has two model names (model.name, distill.teacher): say which
        raise ConfigError(f"model.name: {exc}") from None
    name = cfg.task or served
    try:
        kind = TASKS.get(name)
    except UnknownNameError as exc:
        raise ConfigError(f"task: {exc}") from None
    if served not in kind.model_tasks:
        fits = ", ".join(n for n in TASKS.names() if served in TASKS.get(n).model_tasks)
        raise ConfigError(f"task: '{name}' trains {' / '.join(kind.model_tasks)} models, but model.name "
                          f"'{cfg.model.name}' is a {served} model (task: {fits})")
    return kind


def check_weights_source(weights: str, key: str) -> None:
    """A recipe's weights value is a pretrained tag, a URL or an existing file; a missing file (typically the output
    of another recipe's run, not made yet) is a ``ConfigError`` naming the key and how to get the weights."""
    from ..models import PRETRAINED
    from ..models._download import is_url

    if weights in PRETRAINED or is_url(weights) or Path(weights).expanduser().is_file():
        return
    raise ConfigError(f"{key}: {weights}: no such weights file (if another recipe's run writes it, run that recipe "
                      f"first, from the same folder; or give a pretrained tag: kdpose.models.list_pretrained())")


def build_model(cfg: Any, kwargs: dict[str, Any] | None = None, layout: bool = True) -> nn.Module:
    """``create_model(cfg.name, layout=..., input_size=..., **cfg.kwargs)`` of a ``ModelCfg``, then
    ``cfg.init_weights`` if set (only the keys under ``cfg.init_prefix`` when that is set; only those matching by name
    and shape with ``cfg.init_partial``). ``kwargs`` replaces
    ``cfg.kwargs``; ``layout=False`` for models without keypoints (the person detector)."""
    from ..models import create_model, load_weights

    kwargs = dict(cfg.kwargs if kwargs is None else kwargs)
    given = set(kwargs)
    if layout:
        kwargs["layout"] = cfg.layout
    try:
        model = create_model(cfg.name, input_size=tuple(cfg.input_size), **kwargs)
    except TypeError as exc:  # a typo in model.kwargs was a traceback from inside the factory
        bad = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if bad is None or bad.group(1) not in given:
            raise
        raise ConfigError(f"model.kwargs: {cfg.name} takes no argument '{bad.group(1)}' ({exc})") from None
    if cfg.init_weights:
        check_weights_source(cfg.init_weights, "model.init_weights")
        load_weights(model, cfg.init_weights, prefix=cfg.init_prefix, loads="partial" if cfg.init_partial else None,
                     layout=cfg.layout if layout else None)
    return model


def build_task(cfg: RecipeCfg, model: nn.Module, model_task: str = "topdown") -> nn.Module:
    """``PoseTask(model)``, or the distillation method of ``cfg.distill`` with its frozen teacher (loaded with the
    recipe's layout and the student's input size unless ``distill.teacher_input_size`` says otherwise)."""
    from ..distill import build_distiller, get_distill_method
    from ..models import MODELS, PRETRAINED, load_model
    from ..models.pretrained import backbone_only_message
    from ..models.task import PoseTask

    dc = cfg.distill
    if not dc.method:
        return PoseTask(model)
    try:
        method = get_distill_method(dc.method)
    except UnknownNameError as exc:
        raise ConfigError(f"distill.method: {exc}") from None
    if method.model_task != model_task:
        raise ConfigError(f"distill.method: '{dc.method}' distils {method.model_task} models, not the {model_task} "
                          f"model '{cfg.model.name}'")
    if not method.needs_teacher:  # self-distillation (sdpose): no teacher
        if dc.teacher or dc.teacher_weights:  # e.g. --set distill.method=sdpose on a DWPose recipe
            log.warning("distill.teacher / distill.teacher_weights are not used: '%s' distils the model into "
                        "itself", dc.method)
        return build_distiller(dc.method, model, None, dc.params)
    if not dc.teacher:
        raise ConfigError(f"distill.teacher: method '{dc.method}' needs a teacher model name")
    if dc.teacher not in PRETRAINED and "." not in dc.teacher:  # a zoo name (a misspelt tag: load_model says so)
        try:
            MODELS.get(dc.teacher)
        except UnknownNameError as exc:  # "unknown model 'rtmpos-s'" did not say which of the recipe's two names
            raise ConfigError(f"distill.teacher: {exc}") from None
        if not dc.teacher_weights:  # a zoo name alone builds a random network
            raise ConfigError(f"distill.teacher_weights: empty, so '{dc.method}' would distil from a randomly "
                              f"initialised {dc.teacher}; give the trained teacher's weights (a .safetensors / .pth "
                              "file, a URL or a pretrained tag: kdpose.models.list_pretrained())")
    size = tuple(dc.teacher_input_size) if any(dc.teacher_input_size) else tuple(cfg.model.input_size)
    if dc.teacher_weights:
        check_weights_source(dc.teacher_weights, "distill.teacher_weights")
    check_teacher_fits(dc, cfg.model.layout, size)
    why = backbone_only_message(dc.teacher, dc.teacher_weights or None)
    if why is not None:  # a teacher whose head is random teaches noise
        raise ConfigError(f"distill.teacher: {why}")
    try:
        teacher = load_model(dc.teacher, weights=dc.teacher_weights or None, layout=cfg.model.layout,
                             input_size=size)
    except UnknownNameError as exc:  # "unknown model 'rtmpos-s'" did not say which of the recipe's two names
        raise ConfigError(f"distill.teacher: {exc}") from None
    return build_distiller(dc.method, model, frozen_teacher_for(teacher, model), dc.params)


def check_teacher_fits(dc: Any, layout: str, size: tuple[int, int]) -> None:
    """Refuse teacher weights whose own facts (a kdpose weights header, or a pretrained tag's entry) say another
    keypoint layout than the recipe's, or, for a top-down teacher, another input size than the one it would run at
    (the student's, or ``distill.teacher_input_size``). A heatmap teacher's weights fit any size, so it used to load
    and then see person crops at another scale than it was trained on, without a word.

    Raises:
        ConfigError: naming the recipe key, the weights, what they were trained for and what the recipe asks.
    """
    from ..layouts import get_layout
    from ..models import PRETRAINED, model_task
    from ..models.weights import read_model_info

    key = "distill.teacher_weights" if dc.teacher_weights else "distill.teacher"
    source = dc.teacher_weights or dc.teacher
    if source in PRETRAINED:
        entry = PRETRAINED[source]
        if entry.loads != "model":   # a backbone start, not a whole teacher
            return
        trained_layout, trained_size, task = entry.layout, entry.input_size, model_task(entry.model)
    else:
        info = read_model_info(source) if dc.teacher_weights else None
        if info is None:   # an official .pth or an old file: the weights' shapes are checked when they load
            return
        trained_layout, trained_size, task = info.layout, info.input_size, info.task
    if trained_layout and get_layout(trained_layout).name != get_layout(layout).name:
        raise ConfigError(f"{key}: {source} predicts layout '{trained_layout}', the recipe's layout is '{layout}' "
                          f"(model.layout): teacher and student need the same keypoints")
    if task == "topdown" and tuple(trained_size) != tuple(size):
        (w, h), (rw, rh) = trained_size, size
        runs = "distill.teacher_input_size" if any(dc.teacher_input_size) else "model.input_size (the student's)"
        raise ConfigError(f"{key}: {source} was trained at {w}x{h} (w x h), but the recipe runs it at {rw}x{rh} "
                          f"({runs}): a top-down teacher must see crops of the size it was trained on; train the "
                          f"student at {w}x{h} or use a teacher trained at {rw}x{rh}")


def frozen_teacher_for(teacher: nn.Module, student: nn.Module) -> nn.Module:
    """``teacher`` as the distiller should see it: unchanged when both networks take the same input (every kdpose
    model of a modality shares one normalisation), else a ``FrozenTeacher`` that re-normalises the student's input
    to the teacher's (timm's ``DistillationTeacher.normalize_input``)."""
    from ..distill import FrozenTeacher

    t, s = teacher.info, student.info
    if (t.in_channels, t.channel_order) != (s.in_channels, s.channel_order):
        raise ConfigError(f"distill.teacher: '{t.name}' takes {t.in_channels} {t.channel_order} channel(s), the "
                          f"student '{s.name}' {s.in_channels} {s.channel_order}")
    if (tuple(t.mean), tuple(t.std)) == (tuple(s.mean), tuple(s.std)):
        return teacher
    return FrozenTeacher(teacher, input_mean=t.mean, input_std=t.std, student_mean=s.mean, student_std=s.std)


__all__ = ["TASKS", "TaskKind", "TrainParts", "build_model", "build_task", "check_teacher_fits",
           "check_weights_source", "get_task", "register_task"]
