"""Loading and saving weights: kdpose ``.safetensors``, official MMPose / DWPose ``.pth`` files (read without
executing pickled code), raw training checkpoints; URLs go through ``_download`` (cache, sha256, offline mode).
Also the pretrained-weights registry (``PretrainedCfg``) and ``load_model``."""
from __future__ import annotations

import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..checks import check_path
from ..errors import CheckpointError, ConfigError, UnknownNameError
from ..utils.io import atomic_write
from ._download import cache_dir, download_weights, is_url, resolve_weights  # noqa: F401 (re-exported)
from ._registry import check_glob

SAFETENSORS_SUFFIXES = (".safetensors",)
# torch words the refusal in several ways ("Unsupported global: GLOBAL x.y", "unsupported GLOBAL x.y whose ...")
_UNSUPPORTED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
# torch's other refusals of a Python object (a call, an object or a build of a type not allowed); every other
# unpickler failure ("Unsupported operand 8") means the bytes are not a pickle torch wrote
_REFUSED_OBJECT = re.compile(r"(unrecognized function|Can only create new object|Can only build)[^\n]*")


# ---------------------------------------------------------------------------------------------- reading files
def _numpy_safe_globals() -> list:
    """The numpy callables needed to rebuild arrays / scalars / dtypes in MMPose's ``meta`` (cfg text, sigmas,
    colours), under both the numpy 1.x module names the files were written with and the numpy 2.x names."""
    import numpy as np
    import numpy.dtypes as np_dtypes

    try:
        from numpy._core import multiarray as ma
    except ImportError:  # numpy < 2
        from numpy.core import multiarray as ma
    allowed: list = [np.ndarray, np.dtype, ma._reconstruct, ma.scalar,
                     (ma._reconstruct, "numpy.core.multiarray._reconstruct"),
                     (ma.scalar, "numpy.core.multiarray.scalar"),
                     (ma._reconstruct, "numpy._core.multiarray._reconstruct"),
                     (ma.scalar, "numpy._core.multiarray.scalar")]
    allowed += [getattr(np_dtypes, n) for n in dir(np_dtypes) if n.endswith("DType")]
    return allowed


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read a ``.pth``/``.pt``/``.ckpt`` file with ``torch.load(weights_only=True)`` and numpy allow-listed.

    Anything else pickled in the file (a class, a function) is refused with a ``CheckpointError`` naming the file
    and the offending global; nothing from the file is ever executed. A file that is not a PyTorch checkpoint at all
    (empty, cut short, a safetensors file or an ONNX model under another name) is a ``CheckpointError`` saying so.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    head = _file_head(path)
    if not head:
        raise CheckpointError(f"{path}: an empty file, not a PyTorch checkpoint")
    if _is_safetensors_head(head, path.stat().st_size):
        raise CheckpointError(f"{path}: a safetensors file, not a PyTorch checkpoint (name it .safetensors)")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch_load(path)
    except Exception as e:  # UnpicklingError, RuntimeError (corrupt zip), EOFError, ...
        raise _load_failure(path, head, e) from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict of tensors or {{'state_dict': ...}}, got {type(obj).__name__}")
    return dict(obj)


def torch_load(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` without torch's "Detected pickle protocol 4 ... please file an issue"
    warning, which printed two lines of torch internals above kdpose's own one-line error for such a file."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
        return torch.load(path, map_location=map_location, weights_only=True)


def _file_head(path: Path, size: int = 64) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def _is_safetensors_head(head: bytes, file_size: int) -> bool:
    """A safetensors file starts with the little-endian u64 length of its JSON header, then the header's '{'; a
    torch zip ("PK..") or pickle (0x80 ..) read that way gives a length far beyond the file."""
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 0 < header_len <= file_size - 8


def is_safetensors_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a safetensors file, whatever its suffix (one renamed ``.pth`` loads as what it is)."""
    path = Path(path)
    if path.suffix in SAFETENSORS_SUFFIXES:
        return True
    return path.is_file() and _is_safetensors_head(_file_head(path), path.stat().st_size)


def torch_load_error(path: str | os.PathLike, exc: Exception) -> CheckpointError:
    """The one-line error for a file ``torch.load(weights_only=True)`` raised ``exc`` on (any kdpose reader of torch
    files: weights here, training checkpoints in ``kdpose.engine.checkpoint``), in place of torch's own words."""
    path = Path(path)
    head = _file_head(path)
    if not head:
        return CheckpointError(f"{path}: an empty file, not a PyTorch checkpoint")
    return _load_failure(path, head, exc)


def _load_failure(path: Path, head: bytes, exc: Exception) -> CheckpointError:
    """The one-line error for a file ``torch.load(weights_only=True)`` did not read: the security refusal (the file
    pickles a Python object) only when torch refused an object; any other failure means the bytes are not a torch
    checkpoint, and torch's own words for that ("Weights only load failed ... Unsupported operand 8") read like a
    refusal."""
    text = str(exc)
    found = _UNSUPPORTED_GLOBAL.search(text)
    if found:
        return CheckpointError(f"{path}: refused to load: the file pickles '{found.group(1)}', which is not "
                               "plain tensors/containers/numpy arrays (loading it could execute code)")
    refused = _REFUSED_OBJECT.search(text)
    if refused:
        return CheckpointError(f"{path}: refused to load: the file pickles something other than plain tensors/"
                               f"containers/numpy arrays ({refused.group(0)[:200]})")
    if path.suffix.lower() == ".onnx":
        return CheckpointError(f"{path}: an ONNX model, not a PyTorch checkpoint (it carries its own weights: pass "
                               "it as the model, not as weights)")
    protocol = _pickle_protocol(path, head)
    if protocol is not None and protocol > 2 and "Unsupported operand" in text:
        return CheckpointError(f"{path}: pickled with protocol {protocol}, which torch.load(weights_only=True) does "
                               "not read (save it again with torch.save's default protocol)")
    if head.startswith(b"PK\x03\x04"):  # torch's zip format: most often a download cut short
        return CheckpointError(f"{path}: not a readable PyTorch checkpoint: a zip archive cut short, corrupt or of "
                               f"something else (torch.load: {_torch_reason(exc)})")
    return CheckpointError(f"{path}: not a PyTorch checkpoint (torch.load: {_torch_reason(exc)})")


def _pickle_protocol(path: Path, head: bytes) -> int | None:
    """The pickle protocol of a torch file (zip format: its ``data.pkl``; legacy format: its first pickle), None
    when the file has none to read. torch.save(pickle_protocol=4) writes files the weights-only unpickler refuses
    as "Unsupported operand", which is neither a damaged file nor a security refusal."""
    first = head[:2]
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                pickle_name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
                with archive.open(pickle_name) as f:
                    first = f.read(2)
        except (zipfile.BadZipFile, StopIteration, OSError):
            return None
    return first[1] if len(first) == 2 and first[0] == 0x80 else None  # PROTO opcode, then the protocol


def _torch_reason(exc: Exception) -> str:
    """torch's reason in a few words: the unpickler's own line, without the advice torch wraps around it."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = line.split(". ")[0].rstrip(".")
    return f"{type(exc).__name__}: {line[:200]}" if line else type(exc).__name__


def _strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


# MMPose 0.x top-down models name their head ``keypoint_head``; kdpose (and MMPose 1.x) call it ``head``
MMPOSE_KEY_RENAMES = (("keypoint_head.", "head."),)


def rename_mmpose_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MMPose 0.x key names -> kdpose ``PoseModel`` names (``keypoint_head.*`` -> ``head.*``)."""
    out = {}
    for key, value in state.items():
        for old, new in MMPOSE_KEY_RENAMES:
            if key.startswith(old):
                key = new + key[len(old):]
        out[key] = value
    return out


def extract_state_dict(ckpt: Mapping, path: str | os.PathLike = "<memory>", distiller_part: str = "student"
                       ) -> dict[str, torch.Tensor]:
    """The model's state_dict inside a checkpoint dict.

    Handles: a bare state_dict; kdpose trainer checkpoints (``ema.module`` if present, else ``model``);
    ``{"meta", "state_dict"}`` (published MMPose files); raw MMEngine training
    checkpoints (their ``state_dict`` already holds the EMA weights, ``ema_state_dict`` / ``optimizer`` are
    ignored); a ``module.`` (DDP) prefix; MMPose 0.x ``keypoint_head.*`` keys (renamed ``head.*``); DWPose
    distiller checkpoints with ``student.``/``teacher.`` prefixes: ``distiller_part="student"`` keeps
    ``student.*`` (stage 1), ``"teacher"`` keeps ``teacher.*``, and ``"stage2"`` combines ``teacher.backbone.*``
    with ``student.head.*`` (DWPose ``pth_transfer.py --two_dis``).
    """
    if ckpt.get("format") == "kdpose-train-1":  # kdpose trainer checkpoint: the EMA weights when kept, as MMPose
        ema = ckpt.get("ema")
        state = ema["module"] if isinstance(ema, Mapping) and "module" in ema else ckpt.get("model", {})
        if isinstance(state, Mapping) and any(k.startswith("model.") for k in state):
            # "model" is the training task's state_dict: the deployed network under "model.", task-only modules
            # beside it (a distiller's projection layers, SDPose's RLE flow) are not part of the model
            state = _strip_prefix(state, "model.")
    else:
        state = ckpt.get("state_dict", ckpt)
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: 'state_dict' is a {type(state).__name__}, not a dict of tensors")
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = _strip_prefix(state, "module.")
    state = rename_mmpose_keys(state)
    if any(k.startswith(("student.", "teacher.")) for k in state):
        if distiller_part == "student":
            state = _strip_prefix(state, "student.")
        elif distiller_part == "teacher":
            state = _strip_prefix(state, "teacher.")
        elif distiller_part == "stage2":
            state = {**{k: v for k, v in _strip_prefix(state, "teacher.").items()
                        if k.startswith(("backbone.", "neck."))},
                     **{k: v for k, v in _strip_prefix(state, "student.").items() if k.startswith("head.")}}
        else:
            raise CheckpointError(f"{path}: distiller_part must be 'student', 'teacher' or 'stage2', "
                                  f"got {distiller_part!r}")
    if not state:
        raise CheckpointError(f"{path}: no tensors found in the checkpoint")
    return state


def read_state_dict(path: str | os.PathLike, distiller_part: str = "student") -> dict[str, torch.Tensor]:
    """A state_dict from a ``.safetensors`` or ``.pth`` file (see :func:`extract_state_dict`); a safetensors file
    under another suffix is read as safetensors."""
    path = Path(path)
    if is_safetensors_file(path):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if not path.is_file():
            raise CheckpointError(f"{path}: no such weights file")
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    return extract_state_dict(read_checkpoint(path), path, distiller_part)


# ---------------------------------------------------------------------------------------------- matching
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
                 distiller_part: str = "student", sha256: str | None = None, prefix: str = "",
                 loads: str | None = None) -> nn.Module:
    """Load ``weights`` (path, URL, pretrained tag or state_dict) into ``model`` strictly; returns the model.

    ``prefix`` (e.g. ``"backbone."``) loads only the file's keys under that prefix into the submodule of that name,
    strictly for that submodule, and leaves the rest of the model as initialised (MMPose's
    ``init_cfg=dict(type='Pretrained', prefix='backbone.')``, used to start RTMPose from a pre-trained CSPNeXt).

    ``loads`` says which part of the file fits the model (``None``: the pretrained tag's ``PretrainedCfg.loads``,
    else ``"model"``): ``"backbone"`` is ``prefix="backbone."``; ``"backbone-partial"`` copies only the tensors whose
    names and shapes match ``model.backbone`` (a classification backbone file such as ImageNet HRNet-W32, loaded as
    mmcv's ``load_checkpoint(strict=False)`` behind the official configs' ``pretrained=``), keeps the rest as
    initialised and warns with the counts."""
    check_weights_arg(weights, "load_weights")
    if not isinstance(model, nn.Module):
        raise TypeError(f"load_weights: model must be a torch nn.Module, got {type(model).__name__}")
    if loads is None:
        loads = PRETRAINED[weights].loads if isinstance(weights, str) and weights in PRETRAINED else "model"
    if loads not in PRETRAINED_LOADS:
        raise CheckpointError(f"loads={loads!r}: expected one of {', '.join(PRETRAINED_LOADS)}")
    if loads == "backbone":
        prefix = prefix or "backbone."
    if isinstance(weights, str) and weights in PRETRAINED:   # a tag: its shipped file or official URL
        weights, sha256 = PRETRAINED[weights].location, sha256 or PRETRAINED[weights].sha256
    if isinstance(weights, Mapping):
        state, source = dict(weights), "<state_dict>"
    else:
        path = resolve_weights(weights, sha256=sha256)
        state, source = read_state_dict(path, distiller_part), str(path)
    if loads == "backbone-partial":
        load_partial(model, state, source, (prefix or "backbone.").rstrip("."))
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
    """Copy into ``model.<submodule>`` the tensors of ``state`` whose names and shapes match (the rest keeps its
    initialisation); returns (loaded, kept) key lists and warns with the counts. A file of another architecture
    (nothing matches) is a ``CheckpointError``."""
    import warnings

    try:
        target = model.get_submodule(submodule)
    except AttributeError:
        raise CheckpointError(f"{source}: the model has no submodule {submodule!r} to load into") from None
    own = target.state_dict()
    match = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not match:
        raise CheckpointError(f"{source}: no tensor matches the model's {submodule} by name and shape")
    target.load_state_dict(match, strict=False)
    kept = [k for k in own if k not in match]
    unused = len(state) - len(match)
    shown = ", ".join(sorted({k.split(".")[0] for k in kept})[:8])
    warnings.warn(f"{source}: partial load into {submodule}: {len(match)} of {len(own)} tensors loaded, {len(kept)} "
                  f"keep their initialisation ({shown or '-'}), {unused} tensors of the file unused", stacklevel=3)
    return list(match), kept


def save_weights(model: nn.Module, path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``model.state_dict()`` as ``.safetensors`` atomically, with the model's facts in the header
    (``model.info.to_metadata()``: zoo name, task, layout, input size, channels, normalisation, codec) and any extra
    string ``metadata``. Returns the path."""
    from safetensors.torch import save

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
    data = save(tensors, metadata=meta)
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


# ---------------------------------------------------------------------------------------------- pretrained + API
@dataclass(frozen=True)
class AccuracyCheck:
    """A small fixed val set and the numbers a shipped model scores on it (data only).

    ``tests/models/test_shipped_accuracy.py`` renders the set, runs the model on it and asserts every entry of
    ``metrics`` within ``tolerance`` (``python -m kdpose.tasks.accuracy TAG`` prints the measured numbers). The set
    is a split of kdpose's synthetic generator, declared as a recipe's split is (``data.val`` of a recipe):
    ``images`` images of ``size`` (w, h), at most ``max_people`` people, ``seed`` on the ``split`` seed stream,
    ``preset`` (``hard``: the generator's defaults, the demo's distribution; ``standard``: COCO-like) with
    ``settings`` ((name, value) pairs of other ``SynthConfig`` knobs). ``modality`` ``rgb``: a top-down model on every
    person's ground-truth box, metrics ``AP``, ``AP50``, ``AP75``, ``AR`` (COCO OKS, one pose per box, no NMS),
    ``PCK@0.2`` (error below 0.2 x the longer box side), ``median_px``; ``depth``: a bottom-up model on whole images
    letterboxed to ``input_size``, metrics ``F`` and ``F_upper`` (the depth paper's PCK precision / recall at the
    best detection threshold; also ``AP`` / ``AR`` in %); ``detection``: a person detector on whole images, COCO
    bbox ``AP``, ``AP50``, ``AP75``, ``AR`` (pycocotools, the detector's validation: score >= 0.01, 100 boxes an
    image), with ``ignore_unlabelled`` the ``standard`` preset's ignore rule (people without labelled keypoints are
    crowd regions). Fractions unless named otherwise.
    """

    metrics: tuple[tuple[str, float], ...]  # (name, expected value)
    tolerance: float = 0.005  # absolute, on every entry of metrics
    images: int = 16
    size: tuple[int, int] = (320, 240)  # (w, h) of the rendered images
    max_people: int = 2
    seed: int = 7
    split: str = "val"
    preset: str = "hard"
    modality: str = "rgb"  # rgb (top-down, ground-truth boxes) | depth (bottom-up, whole images) | detection (boxes)
    settings: tuple[tuple[str, Any], ...] = ()
    input_size: tuple[int, int] | None = None  # bottom-up: the letterboxed whole-image input (w, h)
    ignore_unlabelled: bool = False  # detection: people without labelled keypoints are crowd regions (iscrowd 1)

    @property
    def expected(self) -> dict[str, float]:
        return dict(self.metrics)

    def describe(self) -> str:
        """One line: the set and the expected numbers."""
        extra = "".join(f", {k}={v}" for k, v in self.settings)
        extra += ", unlabelled people ignored" if self.ignore_unlabelled else ""
        numbers = ", ".join(f"{k} {v:g}" for k, v in self.metrics)
        return (f"{self.images} {self.modality} images {self.size[0]}x{self.size[1]} ({self.preset} preset{extra}, "
                f"<= {self.max_people} people, {self.split} seed {self.seed}): {numbers} (+- {self.tolerance:g})")


@dataclass(frozen=True)
class PretrainedCfg:
    """Where a published set of weights comes from and what it was trained for (data only, timm style).

    ``tag`` is ``<model>.<training data>_<h>x<w>`` (e.g. ``rtmpose-m.body7_256x192``; a person detector, whose
    ``layout`` is "" (no keypoints), ``<model>.<training data>_<side>``); ``url`` is the official
    download address (users fetch it themselves, or pass the tag / URL to ``load_model`` to download it into the
    cache once); ``sha256`` is the published digest prefix. Weights shipped inside the package (the demo's) have
    no URL: ``asset`` names their file in ``kdpose/assets/``, so a recipe can cite them by tag from any folder.
    ``loads`` says which part of the file a model takes (:data:`PRETRAINED_LOADS`, see :func:`load_weights`).
    Shipped weights also say how they were made and what they score: ``recipe`` (the ``configs/`` file, or the
    command, that trained them), ``check`` (an :class:`AccuracyCheck`: a small val set and its expected metrics) and
    their model card, ``docs/models/<tag>.md`` (:attr:`card`).
    """

    tag: str
    model: str
    layout: str
    input_size: tuple[int, int]  # (w, h)
    url: str
    sha256: str | None = None
    source: str = ""  # project that published it
    notes: str = ""
    loads: str = "model"  # model | backbone (its backbone.* only) | backbone-partial (matching names and shapes)
    asset: str = ""  # file name in kdpose/assets/ for weights shipped with the package (then url is "")
    recipe: str = ""  # configs/<recipe>.yaml (or the command) that trained the weights
    check: AccuracyCheck | None = None  # shipped weights: what they score on a small fixed val set
    # trained on kdpose's synthetic scenes only: they score far lower on photos (BENCHMARKS.md "Shipped synthetic
    # weights on real photos"), so `kdpose infer` says so when asked to run them
    synthetic: bool = False

    @property
    def file_name(self) -> str:
        return self.asset or self.url.rsplit("/", 1)[-1]

    @property
    def location(self) -> str:
        """The URL to download, or the path of the shipped file."""
        return str(Path(__file__).resolve().parent.parent / "assets" / self.asset) if self.asset else self.url

    @property
    def card(self) -> str:
        """The model card of shipped weights (path in the repository), else ""."""
        return f"docs/models/{self.tag}.md" if self.asset else ""

    def describe(self) -> str:
        """A few lines for a listing: what it is, where it comes from, how it was made and what it scores."""
        w, h = self.input_size
        lines = [f"{self.tag}: {self.model}, {self.layout or 'person boxes'}, {w}x{h} (w x h), loads {self.loads}",
                 f"  weights: {'kdpose/assets/' + self.asset if self.asset else self.url or '-'}"]
        lines += [f"  {k}: {v}" for k, v in (("recipe", self.recipe), ("card", self.card), ("notes", self.notes)) if v]
        if self.check is not None:
            lines.append(f"  check: {self.check.describe()}")
        return "\n".join(lines)


class PretrainedTable(dict):
    """Tag -> :class:`PretrainedCfg`. A tag may be given without its ``_<H>x<W>`` input-size suffix when exactly one
    registered tag has that stem (``rtmpose-m.synth-standard`` -> ``rtmpose-m.synth-standard_128x96``), as users
    write tags in prose; iteration and listings always use the full tags. An unknown tag raises
    :class:`~kdpose.errors.UnknownNameError` (a ``KeyError``) with the close matches."""

    def full_tag(self, tag: object) -> object:
        """The registered tag ``tag`` stands for (itself when registered or not a string; unchanged when its stem is
        unknown or names several sizes)."""
        if not isinstance(tag, str) or dict.__contains__(self, tag):
            return tag
        sized = self.sizes_of(tag)
        return sized[0] if len(sized) == 1 else tag

    def sizes_of(self, stem: str) -> list[str]:
        """Registered tags that are ``stem`` plus an input-size suffix (``_<H>x<W>``)."""
        return sorted(t for t in self if stem and t.rpartition("_")[0] == stem
                      and re.fullmatch(r"\d+x\d+", t.rpartition("_")[2]))

    def __contains__(self, tag: object) -> bool:
        return dict.__contains__(self, self.full_tag(tag))

    def __getitem__(self, tag: str) -> PretrainedCfg:
        if tag not in self:  # a bare KeyError: 'nosuch' said nothing of the tags there are
            return get_pretrained_cfg(tag)
        return dict.__getitem__(self, self.full_tag(tag))

    def get(self, tag, default=None):
        return dict.get(self, self.full_tag(tag), default)


PRETRAINED: PretrainedTable = PretrainedTable()
# which part of a registered file fits a model: all of it (strict); its ``backbone.*`` (strict: pose pre-training
# whose head does not fit, e.g. the 19-keypoint AIC+COCO heads of the UDP CSPNeXt files); or the tensors of a bare
# classification backbone that match by name and shape (ImageNet files; mmcv ``load_checkpoint(strict=False)``)
PRETRAINED_LOADS = ("model", "backbone", "backbone-partial")


def register_pretrained(*cfgs: PretrainedCfg) -> None:
    for cfg in cfgs:
        if dict.__contains__(PRETRAINED, cfg.tag) and dict.__getitem__(PRETRAINED, cfg.tag) != cfg:
            raise ValueError(f"pretrained tag '{cfg.tag}' is registered twice")
        PRETRAINED[cfg.tag] = cfg


def backbone_only_message(name: str, weights: Any = None) -> str | None:
    """Why tag ``name`` (or ``weights``, a tag) cannot predict poses when it holds a backbone only (``loads`` not
    "model": its file trains the backbone, the head would keep random weights), else None. Inference and export
    refuse such a tag; ``load_model`` warns (building a model to train from it is what the tag is for)."""
    tag = name if name in PRETRAINED else weights if isinstance(weights, str) and weights in PRETRAINED else None
    if tag is None or PRETRAINED[tag].loads == "model" or (tag == name and weights not in (None, tag)):
        return None
    return (f"'{tag}' holds a backbone only: the head would have random weights and its poses would be meaningless "
            f"(it is a starting point for training: model.init_weights: {tag}); for poses use a whole network "
            f"(kdpose.models.list_pretrained())")


def list_pretrained(pattern: str = "*") -> list[str]:
    """Tags of the registered weights (official and shipped) matching a glob ``pattern``;
    ``PRETRAINED[tag].describe()`` shows one's recipe, model card and accuracy check."""
    import fnmatch

    check_glob(pattern, "list_pretrained")
    return sorted(t for t in PRETRAINED if fnmatch.fnmatch(t, pattern))


def get_pretrained_cfg(tag: str) -> PretrainedCfg:
    if tag not in PRETRAINED:
        import difflib

        sizes = PRETRAINED.sizes_of(tag) if isinstance(tag, str) else []
        if sizes:
            raise UnknownNameError(f"pretrained weights '{tag}' exist for several input sizes: {', '.join(sizes)}; "
                                   "name one")
        close = difflib.get_close_matches(tag, list(PRETRAINED), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"unknown pretrained weights '{tag}'{hint} (see kdpose.models.list_pretrained())")
    return PRETRAINED[tag]


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
               distiller_part: str = "student", sha256: str | None = None, **kwargs) -> nn.Module:
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
