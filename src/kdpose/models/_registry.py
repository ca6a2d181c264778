"""The model zoo registry: a model is a named factory function (timm style), registered with the task it serves
(``topdown`` pose, ``bottomup`` pose, ``detection``), so that a recipe's task can be read from its model name before
anything is built."""
from __future__ import annotations

from typing import Callable

from ..checks import check_input_size, check_name
from ..registry import Registry

MODELS: Registry[Callable] = Registry("model")
MODEL_TASKS: dict[str, str] = {}  # zoo name -> the task its models serve
TASK_KINDS = ("topdown", "bottomup", "detection")


def register_model(fn: Callable | None = None, *, name: str | None = None, task: str = "topdown"):
    """Register a factory ``fn(**kwargs) -> nn.Module`` under ``name`` (default: the function name with '_' -> '-')
    for ``task`` (``topdown`` | ``bottomup`` | ``detection``)."""
    if task not in TASK_KINDS:
        raise ValueError(f"model task must be one of {', '.join(TASK_KINDS)}, got {task!r}")

    def _add(f: Callable) -> Callable:
        key = name or f.__name__.replace("_", "-")
        MODEL_TASKS[key] = task
        return MODELS.register(f, name=key)

    return _add(fn) if fn is not None else _add


def model_task(name: str) -> str:
    """The task zoo model ``name`` serves (``UnknownNameError`` for an unknown name)."""
    MODELS.get(name)
    return MODEL_TASKS[name]


def create_model(name: str, **kwargs):
    """Build the zoo model ``name`` (randomly initialised) with the factory's keyword arguments."""
    check_model_args("create_model", name, kwargs.get("layout"), kwargs.get("input_size"))
    return MODELS.get(name)(**kwargs)


def check_model_args(where: str, name: object, layout: object = None, input_size: object = None) -> None:
    """The arguments every zoo factory shares, checked before building: a wrong one fails deep inside the factory
    ("'int' object is not iterable", a negative tensor dimension) or, for a third input-size number, not at all."""
    from ..layouts import Layout

    check_name(name, where, example="rtmpose-m")
    if layout is not None and not isinstance(layout, Layout):
        check_name(layout, where, "layout", example="coco")
    if input_size is not None:
        check_input_size(input_size, where)


def check_glob(pattern: object, where: str) -> None:
    """A list function's ``pattern`` must be a string: fnmatch would fail deep inside with "expected str, bytes or
    os.PathLike object", which names neither the function nor the argument."""
    if not isinstance(pattern, str):
        raise TypeError(f"{where}: pattern must be a glob string such as 'rtmpose-*', got "
                        f"{type(pattern).__name__} {pattern!r}")


def list_models(pattern: str = "*") -> list[str]:
    """Zoo model names matching a glob ``pattern`` (``"rtmpose-*"``), sorted."""
    import fnmatch

    check_glob(pattern, "list_models")
    return [n for n in MODELS.names() if fnmatch.fnmatch(n, pattern)]
