"""Training tasks: one builder per kind of run, registered in ``TASKS`` and run by the one entry point
:func:`train` (used by ``kdpose train`` / ``kdpose distill``, the demo and the benchmarks).

Kinds: ``topdown`` (pose models on person crops, plain or distilled), ``bottomup`` (depth pose machines, plain or
stagewise-distilled), ``detection`` (the built-in person detector), ``domain`` (adversarial domain adaptation of a
pose machine). Add a kind with one file here (a :class:`TaskKind` subclass under ``@register_task``) and one import
line below.
"""
from .base import TASKS, TaskKind, TrainParts, build_model, build_task, check_weights_source, get_task, register_task
from .run import default_work_dir, resolve_resume, train

# task kinds (one import line each)
from . import topdown  # noqa: F401,E402  (topdown: person crops -> keypoints)
from . import bottomup  # noqa: F401,E402  (bottomup: depth pose machines)
from . import detection  # noqa: F401,E402  (detection: the person detector)
from . import domain  # noqa: F401,E402  (domain: adversarial adaptation of a pose machine)

__all__ = ["TASKS", "TaskKind", "TrainParts", "build_model", "build_task", "check_weights_source", "default_work_dir",
           "get_task", "register_task", "resolve_resume", "train"]
