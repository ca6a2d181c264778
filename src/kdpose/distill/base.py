"""The pieces every distillation method shares: a frozen teacher, the Distiller task base, and the registry glue.

A distiller is a training *task* (docs/design.md): ``forward(batch, progress) -> dict[str, Tensor]`` with key
``"loss"``, and an attribute ``model`` — the student, a plain ``PoseModel`` that the trainer evaluates, EMAs,
saves and exports. The teacher never trains: :class:`FrozenTeacher` keeps it in eval mode, without gradients,
and runs it under ``torch.no_grad``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, TypeVar

import torch
from torch import nn

from ..errors import ConfigError
from ..utils.progress import TrainProgress

T = TypeVar("T")


class FrozenTeacher(nn.Module):
    """A teacher model that cannot train.

    Its parameters have ``requires_grad=False``, it stays in eval mode whatever ``train()`` is called with (so BN
    statistics and dropout never change), and every call runs under ``torch.no_grad``. A :class:`Distiller`
    keeps it outside its state_dict and parameters but moves it along with ``.to(device)``.

    Args:
        model: the teacher network (e.g. a ``PoseModel`` with loaded weights).
        input_mean, input_std: optional (C,) normalisation the teacher was trained with; when given, the student's
            inputs (normalised with ``student_mean``/``student_std``) are re-normalised before the teacher sees
            them (timm's ``DistillationTeacher.normalize_input``). kdpose models share one normalisation, so this
            is only needed for foreign teachers.
        mode: ``"eval"`` (default): always eval mode, as described above. ``"train"``: follow the owner's
            ``train()``/``eval()`` calls, so BatchNorm uses (and updates) batch statistics while the distiller
            trains; parameters stay frozen. This is the released DWPose code's behaviour (its distiller never puts
            the teacher in eval mode).
    """

    def __init__(self, model: nn.Module, input_mean: tuple[float, ...] | None = None,
                 input_std: tuple[float, ...] | None = None, student_mean: tuple[float, ...] | None = None,
                 student_std: tuple[float, ...] | None = None, mode: str = "eval"):
        super().__init__()
        if mode not in ("eval", "train"):
            raise ConfigError(f"teacher mode must be 'eval' or 'train', got {mode!r}")
        self.mode = mode
        self.model = model
        self.model.requires_grad_(False)
        self.eval()
        self._renorm = None
        if input_mean is not None or input_std is not None:
            if None in (input_mean, input_std, student_mean, student_std):
                raise ConfigError("teacher re-normalisation needs input_mean, input_std, student_mean and student_std")
            self._renorm = tuple(torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1)
                                 for v in (student_mean, student_std, input_mean, input_std))

    @classmethod
    def of(cls, teacher: nn.Module, mode: str = "eval") -> "FrozenTeacher":
        """``teacher`` frozen in ``mode``; a :class:`FrozenTeacher` passed in (e.g. one that re-normalises the
        student's inputs, :func:`kdpose.tasks.base.frozen_teacher_for`) is kept, with its normalisation."""
        if not isinstance(teacher, cls):
            return cls(teacher, mode=mode)
        if mode not in ("eval", "train"):
            raise ConfigError(f"teacher mode must be 'eval' or 'train', got {mode!r}")
        teacher.mode = mode
        teacher.train(False)
        return teacher

    @property
    def renormalises(self) -> bool:
        return self._renorm is not None

    def train(self, mode: bool = True) -> "FrozenTeacher":
        """Eval whatever ``mode`` is (BatchNorm statistics never move), unless built with ``mode="train"``."""
        return super().train(bool(mode) and self.mode == "train")

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Student-normalised (B, C, H, W) input -> the teacher's normalisation."""
        if self._renorm is None:
            return x
        s_mean, s_std, t_mean, t_std = (t.to(x.device, x.dtype) for t in self._renorm)
        return (x * s_std + s_mean - t_mean) / t_std

    def forward(self, x: torch.Tensor) -> Any:
        with torch.no_grad():
            return self.model(self.prepare(x))

    def call(self, fn: Callable[[nn.Module, torch.Tensor], T], x: torch.Tensor) -> T:
        """Run ``fn(teacher_model, x)`` without gradients, e.g. to read intermediate features or tokens."""
        with torch.no_grad():
            return fn(self.model, self.prepare(x))


class Distiller(nn.Module):
    """Base class of distillation tasks: holds the student as ``model`` and the teacher as a :class:`FrozenTeacher`.

    Subclasses implement ``forward(batch, progress) -> dict`` with ``"loss"`` (the total to back-propagate) and
    any detached parts for logging. Schedules must be explicit functions of ``progress``.

    Class attributes say what a method needs, so the engine can build it without trying: ``needs_teacher`` (False:
    self-distillation, built with teacher None) and ``model_task`` (the kind of model it distils: ``topdown`` or
    ``bottomup``).
    """

    needs_teacher: ClassVar[bool] = True
    model_task: ClassVar[str] = "topdown"

    def __init__(self, student: nn.Module, teacher: nn.Module):
        super().__init__()
        self.model = student
        frozen = teacher if isinstance(teacher, FrozenTeacher) else FrozenTeacher(teacher)
        # Not a registered submodule (as in the released DistilPose code): the teacher stays out of
        # state_dict() / parameters() / DDP, so checkpoints and optimisers only see the student; _apply below
        # still moves it with .to(device) / .half().
        object.__setattr__(self, "_frozen_teacher", frozen)

    @property
    def teacher(self) -> FrozenTeacher:
        return self._frozen_teacher

    @property
    def student(self) -> nn.Module:
        return self.model

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self._frozen_teacher._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True) -> "Distiller":
        """Also pass the mode to the (unregistered) teacher; a default FrozenTeacher ignores it and stays eval."""
        super().train(mode)
        self._frozen_teacher.train(mode)
        return self

    def forward(self, batch, progress: TrainProgress | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError


@dataclass(frozen=True)
class DistillMethod:
    """A registered distillation method: ``factory(student, teacher, **params)`` and the task class it builds, whose
    class attributes (``needs_teacher``, ``model_task``) say what the method needs."""

    name: str
    factory: Callable[..., nn.Module]
    task_class: type

    @property
    def needs_teacher(self) -> bool:
        return bool(self.task_class.needs_teacher)

    @property
    def model_task(self) -> str:
        return str(self.task_class.model_task)


def register_distiller(name: str, task_class: type):
    """Decorator: register ``factory(student, teacher, **params) -> task_class`` as distillation method ``name``."""
    from . import DISTILLERS

    def _add(factory):
        DISTILLERS.register(DistillMethod(name, factory, task_class), name=name)
        return factory

    return _add


def get_distill_method(method: str) -> DistillMethod:
    """The registered method ``method`` (``UnknownNameError`` listing the valid names)."""
    from . import DISTILLERS

    return DISTILLERS.get(method)


def build_distiller(method: str, student: nn.Module, teacher: nn.Module,
                    params: Mapping[str, Any] | None = None) -> Distiller:
    """Build the registered distillation ``method`` for ``student`` and ``teacher`` with method ``params``.

    Raises ``UnknownNameError`` for an unknown method and ``ConfigError`` for parameters the method rejects.
    """
    import inspect

    factory = get_distill_method(method).factory
    params = dict(params or {})
    signature = inspect.signature(factory)
    if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        valid = [n for n in list(signature.parameters)[2:]]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ConfigError(f"distill.params: unknown key(s) {', '.join(unknown)} for method '{method}' "
                              f"(valid: {', '.join(valid)})")
    return factory(student, teacher, **_typed_params(factory, params))


def _typed_params(factory, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` checked against the factory's annotations, as recipe keys are: ``use_gt: flase`` or a quoted
    ``"false"`` used to be truthy (the ground-truth loss stayed on and the run finished with exit 0), ``alpha: abc``
    a traceback. A key annotated ``Any`` (SDPose's pairs) is the factory's to check."""
    import typing

    from ..engine.config import coerce_value

    hints = typing.get_type_hints(factory)
    typed = dict(params)
    for name, value in params.items():
        try:
            typed[name] = coerce_value(value, hints.get(name, Any), "distill.params", name)
        except ConfigError as exc:  # "distill.params: alpha: ..." -> "distill.params.alpha: ..."
            raise ConfigError(str(exc).replace("distill.params: ", "distill.params.", 1)) from None
    return typed
