"""Matching a state_dict to a model (strict, by prefix or partial), and kdpose's own weights files: ``save_weights``
writes ``.safetensors`` with the model's facts in the header, ``read_model_info`` reads them back."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..checks import check_path
from ..errors import CheckpointError, UnknownNameError
from ..utils.io import atomic_write
from ._download import resolve_weights
from .checkpoint_files import SAFETENSORS_SUFFIXES, is_safetensors_file, read_checkpoint, read_state_dict
from .pretrained import PRETRAINED, PRETRAINED_LOADS


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "<state_dict>") -> None:
    """Raise ``CheckpointError`` listing missing keys, unexpected keys and shape mismatches (none allowed)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
            if items:
                shown = ", ".join(items[:20]) + (f", ... ({len(items) - 20} more)" if len(items) > 20 else "")
                parts.append(f"{len(items)} {label}: {shown}")
        raise CheckpointError(f"{source}: does not match the model: " + "; ".join(parts))


def load_weights(model: nn.Module, weights: str | os.PathLike | Mapping[str, torch.Tensor],
                 distiller_part: str | None = None, sha256: str | None = None, prefix: str = "",
                 loads: str | None = None, layout: str | None = None) -> nn.Module:
    """Load ``weights`` (path, URL, pretrained tag or state_dict) into ``model`` strictly; returns the model.

    ``prefix`` (e.g. ``"backbone."``) loads only the file's keys under that prefix into the submodule of that name,
    strictly for that submodule, and leaves the rest of the model as initialised (MMPose's
    ``init_cfg=dict(type='Pretrained', prefix='backbone.')``, used to start RTMPose from a pre-trained CSPNeXt).

    ``loads`` says which part of the file fits the model (``None``: the pretrained tag's ``PretrainedCfg.loads``,
    else ``"model"``): ``"backbone"`` is ``prefix="backbone."``; ``"backbone-partial"`` copies only the tensors whose
    names and shapes match ``model.backbone`` (a classification backbone file such as ImageNet HRNet-W32, loaded as
    mmcv's ``load_checkpoint(strict=False)`` behind the official configs' ``pretrained=``), keeps the rest as
    initialised and warns with the counts; ``"partial"`` does the same for the whole model (or the submodule named by
    ``prefix``): a body-17 RTMPose into its whole-body-133 version, where only the head's ``final_layer`` depends on
    the keypoint count. With ``layout`` (the model's keypoint layout) and a file of another layout, the rows of
    those keypoint tensors start from the file's rows of the same or the parent body keypoint
    (:func:`kdpose.skeletons.keypoint_origins`: a hand keypoint from the wrist, a face keypoint from the nose)."""
    check_weights_arg(weights, "load_weights")
    if not isinstance(model, nn.Module):
        raise TypeError(f"load_weights: model must be a torch nn.Module, got {type(model).__name__}")
    if loads is None:
        loads = PRETRAINED[weights].loads if isinstance(weights, str) and weights in PRETRAINED else "model"
    if loads not in PRETRAINED_LOADS:
        raise CheckpointError(f"loads={loads!r}: expected one of {', '.join(PRETRAINED_LOADS)}")
    if loads == "backbone":
        prefix = prefix or "backbone."
    source_layout = None
    if isinstance(weights, str) and weights in PRETRAINED:   # a tag: its shipped file or official URL
        source_layout = PRETRAINED[weights].layout
        weights, sha256 = PRETRAINED[weights].location, sha256 or PRETRAINED[weights].sha256
    if isinstance(weights, Mapping):
        state, source = dict(weights), "<state_dict>"
    else:
        path = resolve_weights(weights, sha256=sha256)
        state, source = read_state_dict(path, distiller_part), str(path)
        if loads == "partial" and layout and source_layout is None:
            info = read_model_info(path) or read_trainer_checkpoint_info(path)
            source_layout = info.layout if info is not None else None
    if loads == "partial" and layout and source_layout and source_layout != layout:
        state = keypoint_rows_for(state, model.state_dict(), source_layout, layout)
    if loads in ("backbone-partial", "partial"):
        default = "backbone." if loads == "backbone-partial" else ""
        load_partial(model, state, source, (prefix or default).rstrip("."))
        return model
    if prefix:
        name = prefix.rstrip(".")
        try:
            target = model.get_submodule(name)
        except AttributeError:
            raise CheckpointError(f"{source}: prefix {prefix!r}: the model has no submodule {name!r}") from None
        state = {k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")}
        if not state:
            raise CheckpointError(f"{source}: no keys start with {name + '.'!r}")
        check_state_dict(target, state, f"{source} ({name}.*)")
        target.load_state_dict(state, strict=True)
        return model
    check_state_dict(model, state, source)
    model.load_state_dict(state, strict=True)
    return model


def check_weights_arg(weights: object, where: str) -> None:
    """``weights`` must be a path, URL, pretrained tag or state_dict (``Path()`` of another type says only
    "expected str, bytes or os.PathLike object")."""
    if not isinstance(weights, (str, os.PathLike, Mapping)):
        raise TypeError(f"{where}: weights must be a file path, URL, pretrained tag or state_dict, got "
                        f"{type(weights).__name__} {weights!r}")


def load_partial(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "<state_dict>",
                 submodule: str = "backbone") -> tuple[list[str], list[str]]:
    """Copy into ``model.<submodule>`` (the whole model for ``submodule=""``) the tensors of ``state`` whose names
    and shapes match (the rest keeps its initialisation); returns (loaded, kept) key lists and warns with the counts.
    A file of another architecture (nothing matches) is a ``CheckpointError``."""
    try:
        target = model.get_submodule(submodule)
    except AttributeError:
        raise CheckpointError(f"{source}: the model has no submodule {submodule!r} to load into") from None
    if submodule:
        state = {k[len(submodule) + 1:]: v for k, v in state.items() if k.startswith(submodule + ".")} or state
    own = target.state_dict()
    match = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    where = f"the model's {submodule}" if submodule else "the model"
    if not match:
        raise CheckpointError(f"{source}: no tensor matches {where} by name and shape")
    target.load_state_dict(match, strict=False)
    kept = [k for k in own if k not in match]
    unused = len(state) - len(match)
    depth = 1 if submodule else 2  # the whole model: name the head's layer, not just "head"
    shown = ", ".join(sorted({".".join(k.split(".")[:depth]) for k in kept})[:8])
    warnings.warn(f"{source}: partial load into {submodule or 'the model'}: {len(match)} of {len(own)} tensors "
                  f"loaded, {len(kept)} keep their initialisation ({shown or '-'}), {unused} tensors of the file "
                  "unused", stacklevel=3)
    return list(match), kept


def keypoint_rows_for(state: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor], source_layout: str,
                      layout: str) -> dict[str, torch.Tensor]:
    """``state`` with each tensor that has one row per keypoint of ``source_layout`` where the model's has one per
    keypoint of ``layout`` (same shape otherwise) rebuilt in the model's shape: row k copies the source row of
    ``keypoint_origins(source_layout, layout)[k]``; a keypoint with no origin keeps the model's own row."""
    from ..skeletons import get_skeleton, keypoint_origins

    k_src, k_dst = get_skeleton(source_layout).num_keypoints, get_skeleton(layout).num_keypoints
    origins = keypoint_origins(source_layout, layout)
    out = dict(state)
    for key, value in state.items():
        mine = own.get(key)
        if (mine is None or value.ndim == 0 or value.shape[0] != k_src or mine.shape[0] != k_dst
                or tuple(value.shape[1:]) != tuple(mine.shape[1:])):
            continue
        rows = mine.clone()
        for k, origin in enumerate(origins):
            if origin is not None:
                rows[k] = value[origin]
        out[key] = rows
    return out


def save_weights(model: nn.Module, path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``model.state_dict()`` as ``.safetensors`` atomically, with the model's facts in the header
    (``model.info.to_metadata()``: zoo name, task, layout, input size, channels, normalisation, codec) and any extra
    string ``metadata``. Returns the path."""
    from ..utils.io import safetensors_bytes

    if not isinstance(model, nn.Module) or not hasattr(model, "info"):
        raise TypeError(f"save_weights: model must be a kdpose model (built by create_model / load_model), got "
                        f"{type(model).__name__}")
    check_path(path, "save_weights")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"save_weights: metadata must be a dict of strings, got {type(metadata).__name__}")
    path = Path(path)
    if path.suffix not in SAFETENSORS_SUFFIXES:
        raise CheckpointError(f"{path}: kdpose writes weights as .safetensors")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "kdpose_version": _version(), **model.info.to_metadata()}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    data = safetensors_bytes(tensors, meta)
    with atomic_write(path, "wb") as f:
        f.write(data)
    return path


def read_weights_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata stored in a kdpose ``.safetensors`` header."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def read_model_info(path: str | os.PathLike):
    """The :class:`~kdpose.model_info.ModelInfo` a kdpose ``.safetensors`` header records (also files written before
    the ``kdpose.*`` keys), or None: not a safetensors file, unreadable, or a header without the facts."""
    from ..model_info import ModelInfo

    if not is_safetensors_file(path):
        return None
    try:
        return ModelInfo.from_metadata(read_weights_metadata(path))
    except Exception:  # unreadable or malformed: read_state_dict reports it with a proper message
        return None


def read_trainer_checkpoint_info(path: str | os.PathLike):
    """The network a kdpose trainer checkpoint (``last.pt`` / ``best.pt`` of ``kdpose train``) holds, as a
    :class:`~kdpose.model_info.ModelInfo` with the zoo name, layout and input size of the recipe stored in it
    (``config.model``), or None: not a trainer checkpoint, unreadable, or a recipe without those facts. Read with
    ``weights_only=True`` like any checkpoint."""
    from ..model_info import ModelInfo
    from ._registry import MODEL_TASKS

    if is_safetensors_file(path):
        return None
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError:
        return None
    recipe = ckpt.get("config") if ckpt.get("format") == "kdpose-train-1" else None
    recipe_model = recipe.get("model") if isinstance(recipe, Mapping) else None
    if not isinstance(recipe_model, Mapping):
        return None
    try:
        name = str(recipe_model["name"])
        w, h = (int(v) for v in recipe_model["input_size"])
        task = MODEL_TASKS.get(name, "topdown")
        layout = None if task == "detection" else _layout_name(recipe_model.get("layout"))
        return ModelInfo(name, task, layout, (w, h))
    except (KeyError, TypeError, ValueError):
        return None


def _layout_name(layout: Any) -> str | None:
    """A recipe's layout under its canonical name (``body`` is ``coco``), as a built network's info states it."""
    from ..layouts import get_layout

    if not layout:
        return None
    try:
        return get_layout(str(layout)).name
    except UnknownNameError:  # a layout this kdpose does not know: shown as the recipe wrote it
        return str(layout)


def _version() -> str:
    from .. import __version__

    return __version__

