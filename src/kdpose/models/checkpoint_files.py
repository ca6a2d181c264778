"""Reading weights files without executing pickled code: official MMPose / DWPose ``.pth`` files, kdpose trainer
checkpoints and ``.safetensors``; the state_dict inside each (EMA, DDP prefix, MMPose 0.x names, distiller parts), and
one-line errors for files that are not what their name says."""
from __future__ import annotations

import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import CheckpointError

SAFETENSORS_SUFFIXES = (".safetensors",)
# torch words the refusal in several ways ("Unsupported global: GLOBAL x.y", "unsupported GLOBAL x.y whose ...")
_UNSUPPORTED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
# torch's other refusals of a Python object (a call, an object or a build of a type not allowed); every other
# unpickler failure ("Unsupported operand 8") means the bytes are not a pickle torch wrote
_REFUSED_OBJECT = re.compile(r"(unrecognized function|Can only create new object|Can only build)[^\n]*")


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


def extract_state_dict(ckpt: Mapping, path: str | os.PathLike = "<memory>", distiller_part: str | None = None
                       ) -> dict[str, torch.Tensor]:
    """The model's state_dict inside a checkpoint dict.

    Handles: a bare state_dict; kdpose trainer checkpoints (``ema.module`` if present, else ``model``);
    ``{"meta", "state_dict"}`` (published MMPose files); raw MMEngine training
    checkpoints (their ``state_dict`` already holds the EMA weights, ``ema_state_dict`` / ``optimizer`` are
    ignored); a ``module.`` (DDP) prefix; MMPose 0.x ``keypoint_head.*`` keys (renamed ``head.*``); DWPose
    distiller checkpoints with ``student.``/``teacher.`` prefixes: ``distiller_part="student"`` keeps
    ``student.*`` (stage 1), ``"teacher"`` keeps ``teacher.*``, and ``"stage2"`` combines ``teacher.backbone.*``
    with ``student.head.*`` (DWPose ``pth_transfer.py --two_dis``). ``None`` (the default) is ``"student"``, except
    for a file that looks like a stage-2 distiller (:func:`_default_distiller_part`), where it is an error that asks
    for the part.
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
        distiller_part = distiller_part or _default_distiller_part(state, path)
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


def _default_distiller_part(state: Mapping[str, torch.Tensor], path) -> str:
    """``"student"``, unless the distiller file looks like DWPose's stage 2: teacher and student of one
    architecture and no feature-alignment layer (stage 1 pairs a bigger teacher with its student and keeps
    ``distill_losses.loss_fea.align``). Stage 2 trains only the student's head on the teacher's backbone, so its
    ``student.backbone`` is an untrained copy and the default would load it silently."""
    student, teacher = _strip_prefix(state, "student."), _strip_prefix(state, "teacher.")
    same = bool(student) and student.keys() == teacher.keys() and all(
        student[k].shape == teacher[k].shape for k in student)
    if same and not any(k.startswith("distill_losses.") for k in state):
        raise CheckpointError(
            f"{path}: looks like a DWPose stage-2 distiller checkpoint (teacher and student of one architecture, no "
            "feature-alignment layer), whose student.backbone stage 2 never trains: pass distiller_part='stage2' "
            "(teacher backbone + student head, as pth_transfer.py --two_dis) or 'student' to load_model / "
            "load_weights")
    return "student"


def read_state_dict(path: str | os.PathLike, distiller_part: str | None = None) -> dict[str, torch.Tensor]:
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

