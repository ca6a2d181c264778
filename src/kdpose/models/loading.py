"""``load_model``: a zoo name or pretrained tag, plus weights (path, URL, tag or state_dict), to a model in eval
mode, checked against the facts its file records (layout, task, input size)."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError, UnknownNameError
from ._download import resolve_weights
from .pretrained import PRETRAINED, backbone_only_message, get_pretrained_cfg
from .weights import (check_weights_arg, load_weights, read_model_info, read_trainer_checkpoint_info,
                      read_weights_metadata)


MODEL_FILE_SUFFIXES = (".onnx", ".safetensors", ".pth", ".pt", ".ckpt", ".bin")


def check_not_a_file(name: str) -> None:
    """``load_model``'s name is a zoo name or a pretrained tag; a file given there was "unknown pretrained weights
    'model.onnx'", which reads as if the file were missing from a list. Say what to do with it instead.

    Raises:
        UnknownNameError: when ``name`` ends like a model or weights file.
    """
    if name in PRETRAINED or not name.lower().endswith(MODEL_FILE_SUFFIXES):
        return
    if name.lower().endswith(".onnx"):
        raise UnknownNameError(f"{name}: an ONNX file, not a zoo name or pretrained tag (load_model builds PyTorch "
                               f"models); run it with kdpose.PoseEstimator('{name}') or kdpose infer --model {name}")
    info = read_model_info(name) if Path(name).is_file() else None
    model = info.name if info is not None and info.name else "MODEL"
    which = "" if model != "MODEL" else " (MODEL: the zoo name of the network it holds, kdpose.list_models())"
    raise UnknownNameError(f"{name}: a weights file, not a zoo name or pretrained tag; name the model and give the "
                           f"file as its weights: load_model('{model}', weights='{name}'), or --model {model} "
                           f"--weights {name}{which}")


def load_model(name: str, weights: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
               layout: str | None = None, input_size: tuple[int, int] | None = None, device: str = "cpu",
               distiller_part: str | None = None, sha256: str | None = None, **kwargs) -> nn.Module:
    """Build zoo model ``name``, load ``weights`` strictly and return it in eval mode on ``device``.

    Args:
        name: a zoo name (``rtmpose-m``, ``dwpose-l``; see ``kdpose.list_models()``) or a pretrained tag
            (``rtmpose-m.body7_256x192``; see ``list_pretrained()``), which also fixes layout and input size and
            makes its official URL the default ``weights``.
        weights: None (random init, nothing is downloaded), a ``.safetensors``/``.pth`` path, an http(s) URL
            (downloaded once into ``$KDPOSE_CACHE``) or a pretrained tag (official or shipped).
        layout: keypoint layout (``coco``, ``coco_wholebody``, ``hand``, ``face``, ...); None = the model's default.
        input_size: (w, h); None = the layout's default (192x256 body / whole-body, 256x256 hand / face).
        distiller_part: which part of a DWPose distiller checkpoint to keep (see ``extract_state_dict``).
        sha256: expected digest (or prefix) of a downloaded file.
        kwargs: passed to the model factory.

    A tag whose ``loads`` is ``"backbone"`` / ``"backbone-partial"`` (backbone pre-training) fills only the
    backbone; the rest of the model keeps its initialisation.

    Raises:
        CheckpointError: unreadable / unsafe file, failed download or hash, missing/unexpected keys.
        UnknownNameError: unknown model name or pretrained tag.
    """
    from ._registry import MODELS, check_model_args, create_model

    check_model_args("load_model", name, layout, input_size)
    if weights is not None:
        check_weights_arg(weights, "load_model")
    try:  # fail before building and loading, not in model.to() at the end (None: .to(None) keeps the device)
        device is None or torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"load_model: unknown device {device!r} (use cpu, cuda, cuda:N or mps)") from None
    cfg = None
    if name not in MODELS and "." in name:
        check_not_a_file(name)
        cfg = get_pretrained_cfg(name)
    elif isinstance(weights, str) and weights in PRETRAINED:
        cfg = PRETRAINED[weights]
    loads, saved = None, None
    if cfg is not None:
        loads = cfg.loads if weights is None or weights == cfg.tag else None
        if name not in MODELS and name != cfg.tag:  # a misspelt name with tag weights ran as the tag's network
            MODELS.get(name)  # UnknownNameError naming the closest zoo names
        name = name if name in MODELS else cfg.model  # e.g. dwpose-l with an RTMPose-l whole-body file
        layout = layout or cfg.layout or None  # "": a network without keypoints (the person detector)
        input_size = input_size or cfg.input_size
        if weights is None or weights == cfg.tag:
            weights, sha256 = cfg.location, sha256 or cfg.sha256
    if weights is not None and not isinstance(weights, Mapping):
        weights = resolve_weights(weights, sha256=sha256)  # fail fast (download / offline / missing) before building
        saved = read_model_info(weights)  # settings a model trained at e.g. 96x128 was saved with
        if saved is not None and loads in (None, "model"):   # the whole network comes from the file
            check_file_fits(weights, name, saved, layout)
        elif saved is None and loads in (None, "model") and (layout is None or input_size is None):
            # a trainer checkpoint (last.pt / best.pt) states its network in its recipe: without this a heatmap
            # model trained at 96x128 (no size-dependent weights) loaded at the layout's default size, silently
            saved = read_trainer_checkpoint_info(weights)
            if saved is not None and saved.name != name:
                saved = None  # another network: the load below fails and names what the file holds
        if saved is not None:
            layout = layout or saved.layout
            input_size = input_size or saved.input_size
            kwargs = {**saved.kwargs, **kwargs} if saved.name == name else kwargs
    if layout is not None:
        kwargs["layout"] = layout
    if input_size is not None:
        kwargs["input_size"] = tuple(input_size)
    if loads in ("backbone", "backbone-partial"):
        warnings.warn(f"load_model: {backbone_only_message(cfg.tag)}", RuntimeWarning, stacklevel=2)
    model = create_model(name, **kwargs)
    if weights is not None:
        try:
            load_weights(model, weights, distiller_part=distiller_part, loads=loads)
        except CheckpointError as exc:
            if isinstance(weights, Mapping) or loads not in (None, "model"):
                raise
            # a trainer checkpoint states its network in its recipe; read only on this error path (files are big)
            held = saved or read_trainer_checkpoint_info(weights)
            if held is None:
                raise
            raise CheckpointError(f"{weights}: holds {_facts(held)}; built {_facts(model.info)}: "
                                  f"{str(exc).removeprefix(f'{weights}: ')}") from None
    return model.to(device).eval()


def _facts(info) -> str:
    """``rtmpose-t (layout coco, input 96x128)``: what a network is, for an error that says why a file does not fit
    (the lists of keys alone do not tell)."""
    w, h = info.input_size
    return f"{info.name or 'a model'} (layout {info.layout or '-'}, input {w}x{h})"


def check_file_fits(path: str | os.PathLike, name: str, saved, layout: str | None) -> None:
    """Refuse a kdpose weights file (its header: ``saved``, a ModelInfo) that cannot be zoo model ``name`` with
    ``layout``: a pose model's file for the person detector (or the reverse), or a file of another keypoint layout
    than the one asked for. Layouts of the same keypoint count (``coco`` and ``dih``) would load without an error and
    name, flip and score every keypoint wrongly.

    Raises:
        CheckpointError: naming the file, what it holds and what was asked.
    """
    from ..layouts import get_layout
    from ._registry import model_task

    stated_task = read_weights_metadata(path).get("kdpose.task")   # files older than the key state none
    wanted_task = model_task(name)
    if stated_task and "detection" in (stated_task, wanted_task) and stated_task != wanted_task:
        raise CheckpointError(f"{path}: holds {saved.name or 'a model'}, a {stated_task} model; {name} is a "
                              f"{wanted_task} model")
    if layout and saved.layout and get_layout(layout).name != get_layout(saved.layout).name:
        raise CheckpointError(f"{path}: holds {saved.name or 'a model'} weights for layout '{saved.layout}', not "
                              f"'{layout}' (leave the layout out to use the file's)")
