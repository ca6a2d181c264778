"""ONNX export of any ``PoseModel`` with kdpose metadata, and a PyTorch-vs-onnxruntime parity check.

The exported graph is exactly ``model.forward``: normalised float32 (B, C, H, W) in, the head's NamedTuple
fields out (pre- and post-processing stay outside, as in the official RTMPose files). Output names follow the
family conventions of the ecosystem so that foreign runners accept kdpose files unchanged:

* SimCC heads (RTMPose / DWPose): input ``input``, outputs ``simcc_x`` (B, K, Wx), ``simcc_y`` (B, K, Wy) --
  the names of MMDeploy's ``end2end.onnx`` that rtmlib reads.
* Heatmap heads: ``heatmaps`` (B, K, H', W').
* Anything else: the NamedTuple's field names (a list/tuple field ``f`` becomes ``f_0``, ``f_1``, ...).
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..checks import check_path
from ..errors import ConfigError, DataError
from .metadata import ExportMetadata, require_onnx_file

# ONNX output names per head-output type (by class name, so export needs no import of every head module).
FAMILY_OUTPUT_NAMES: dict[str, tuple[str, ...]] = {
    "SimCCOutput": ("simcc_x", "simcc_y"),
    "HeatmapOutput": ("heatmaps",),
}
INPUT_NAME = "input"


def _flatten_output(output: Any) -> tuple[list[torch.Tensor], list[str]]:
    """Flatten a head output into (tensors, field paths). None fields are dropped (they cannot be ONNX outputs);
    list/tuple fields become ``field_0, field_1, ...``; a bare tensor is field ``output``."""
    if isinstance(output, torch.Tensor):
        return [output], ["output"]
    fields = getattr(output, "_fields", None)
    if fields is None:
        raise ConfigError(f"model output must be a Tensor or a NamedTuple of tensors, got {type(output).__name__}")
    tensors: list[torch.Tensor] = []
    paths: list[str] = []
    for name in fields:
        value = getattr(output, name)
        if value is None:
            continue
        if isinstance(value, torch.Tensor):
            tensors.append(value)
            paths.append(name)
        elif isinstance(value, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in value):
            tensors.extend(value)
            paths.extend(f"{name}_{i}" for i in range(len(value)))
        else:
            raise ConfigError(f"output field '{name}' of {type(output).__name__} is {type(value).__name__}, "
                              "not a tensor: it cannot be exported")
    return tensors, paths


def output_names_for(output: Any) -> list[str]:
    """ONNX output names for a head output (family convention, else the flattened field names)."""
    _, paths = _flatten_output(output)
    family = FAMILY_OUTPUT_NAMES.get(type(output).__name__)
    if family is not None and len(family) == len(paths):
        return list(family)
    return paths


class _Flattened(nn.Module):
    """Wraps a model so that ``forward`` returns a flat tuple of tensors (what the ONNX exporter needs)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(_flatten_output(self.model(x))[0])


def build_metadata(model: nn.Module, output: Any, model_name: str | None = None,
                   weights: str | None = None) -> ExportMetadata:
    """The metadata of ``model`` as exported: its :class:`~kdpose.model_info.ModelInfo` plus what the export adds
    (``output`` is one forward result, used for the output names and K)."""
    from .. import __version__

    _, fields = _flatten_output(output)
    skeleton = model.skeleton if model.info.layout is not None else None
    meta = ExportMetadata.from_model_info(
        model.info, output_names_for(output), input_name=INPUT_NAME, output_type=type(output).__name__,
        output_fields=fields, num_keypoints=skeleton.num_keypoints if skeleton is not None else None,
        version=__version__, weights=weights)
    if model_name:
        meta.model = model_name
    return meta


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    opset: int = 17,
    dynamic_batch: bool = True,
    batch_size: int = 1,
    input_size: tuple[int, int] | None = None,
    model_name: str | None = None,
    check: bool = True,
    weights: str | None = None,
) -> Path:
    """Export ``model`` (a ``PoseModel``) to ``path`` with kdpose metadata and run ``onnx.checker`` on it.

    Args:
        model: the network; exported in eval mode (its training flag is restored afterwards).
        path: output ``.onnx`` file, written atomically.
        opset: ONNX opset version.
        dynamic_batch: make axis 0 of the input and every output symbolic (``batch``).
        batch_size: the fixed batch of the file when ``dynamic_batch`` is False (dynamic graphs are traced with 2).
        input_size: (w, h) expected by the caller; must equal ``model.input_size`` (the head's geometry is built
            for one size), checked so that a mismatch gives a clear error instead of a shape error inside tracing.
        model_name: recorded in the metadata instead of ``model.info.name``.
        check: run ``onnx.checker.check_model`` (full check) on the result.
        weights: where the weights came from (a pretrained tag, a file name, a URL), recorded as
            ``kdpose.weights`` so that the file says which trained model it is, not only which network.

    Returns:
        The written path.

    Raises:
        ConfigError: mismatched input size, bad opset/batch, or an output that is not made of tensors.
        DataError: the output path cannot be written.
    """
    import onnx

    from ..utils.io import atomic_write

    if not isinstance(model, nn.Module) or not hasattr(model, "input_size"):  # else "'int' has no attribute ..."
        raise TypeError(f"export_onnx: model must be a kdpose PoseModel, got {type(model).__name__}")
    check_path(path, "export_onnx")
    path = Path(path)
    w, h = (int(v) for v in model.input_size)
    if input_size is not None and tuple(int(v) for v in input_size) != (w, h):
        raise ConfigError(f"{path}: input size {input_size[0]}x{input_size[1]} does not match the model's "
                          f"{w}x{h} (w x h); build the model with input_size=({input_size[0]}, {input_size[1]})")
    if batch_size < 1:
        raise ConfigError(f"{path}: batch size must be >= 1, got {batch_size}")
    if not 11 <= opset <= 23:
        raise ConfigError(f"{path}: opset {opset} is not supported (use 11..23; 17 is the default)")
    if path.exists() and path.is_dir():
        raise DataError(f"{path}: is a directory, expected an .onnx file path")

    in_channels = model.info.in_channels
    device = next(model.parameters(), torch.empty(0)).device  # trace where the model lives (CPU or GPU)
    # trace a dynamic-batch graph with B >= 2 so that nothing gets specialised to a batch of one
    trace_batch = max(2, batch_size) if dynamic_batch else batch_size
    dummy = torch.randn(trace_batch, in_channels, h, w, generator=torch.Generator().manual_seed(0)).to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(dummy)
        meta = build_metadata(model, output, model_name, weights)
        names = meta.output_names
        axes = {n: {0: "batch"} for n in [INPUT_NAME, *names]} if dynamic_batch else None
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            # The TorchScript exporter is used on purpose: the torch.export one needs onnxscript (an extra
            # dependency) and is much slower; this one still ships with torch and gives the same plain graph.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # shape asserts in heads
            torch.onnx.export(
                _Flattened(model), (dummy,), buffer, dynamo=False, opset_version=opset,
                input_names=[INPUT_NAME], output_names=names, dynamic_axes=axes, do_constant_folding=True,
            )
    finally:
        model.train(was_training)

    proto = onnx.load_from_string(buffer.getvalue())
    _pin_output_shapes(proto, _flatten_output(output)[0], dynamic_batch)
    write_metadata(proto, meta)
    if check:
        onnx.checker.check_model(proto, full_check=True)
    try:
        with atomic_write(path) as f:
            f.write(proto.SerializeToString())
    except OSError as exc:
        raise DataError(f"{path}: cannot write the ONNX file ({exc.strerror or exc})") from None
    return path


def _pin_output_shapes(proto: Any, tensors: Sequence[torch.Tensor], dynamic_batch: bool) -> None:
    """Write the traced output shapes into the graph outputs. The exporter leaves dims after a ``view(-1, ...)``
    symbolic; runners (ours, rtmlib) read e.g. the SimCC bin count from them. Only the batch axis stays symbolic:
    the input size is fixed, so every other dim is too."""
    for value, tensor in zip(proto.graph.output, tensors):
        shape = value.type.tensor_type.shape
        del shape.dim[:]
        for i, size in enumerate(tensor.shape):
            dim = shape.dim.add()
            if i == 0 and dynamic_batch:
                dim.dim_param = "batch"
            else:
                dim.dim_value = int(size)


def write_metadata(proto: Any, meta: ExportMetadata) -> None:
    """Set kdpose's keys in ``proto.metadata_props`` (replacing old kdpose keys, keeping foreign ones)."""
    props = meta.to_props()
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in props]
    del proto.metadata_props[:]
    for key, value in [*kept, *props.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(path: str | os.PathLike) -> ExportMetadata | None:
    """The kdpose metadata of an ONNX file (None for foreign files). Loads the graph without weights."""
    import onnx

    from ..errors import CheckpointError

    path = require_onnx_file(path)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError / google.protobuf errors for non-ONNX bytes
        raise CheckpointError(f"{path}: not a valid ONNX file ({type(exc).__name__})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    inputs = [i.name for i in proto.graph.input]
    outputs = [o.name for o in proto.graph.output]
    try:
        return ExportMetadata.from_props(props, inputs[0] if inputs else INPUT_NAME, outputs)
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


@dataclass
class ParityReport:
    """PyTorch vs onnxruntime on the same random batch."""

    max_abs_diff: dict[str, float]          # per ONNX output, on the raw outputs (logits / heatmaps)
    ref_scale: dict[str, float]             # per output, max |torch output| (to judge the absolute diffs)
    keypoint_px_diff: float | None          # max |decoded kpt diff| in input pixels (None: no codec decode)
    batch: int
    atol: float
    rtol: float = 1e-5
    # with ``fp64_reference``: max |error| of PyTorch float32 and of onnxruntime float32 against the model run
    # in float64 -- shows whether a torch/ORT difference is float32 rounding (same size) or an export error
    fp64_err_torch: float | None = None
    fp64_err_onnx: float | None = None

    @property
    def max_diff(self) -> float:
        return max(self.max_abs_diff.values()) if self.max_abs_diff else 0.0

    @property
    def ok(self) -> bool:
        """Every output within ``atol + rtol * max|value|`` (np.allclose-style; rtol 1e-5 is float32 noise on
        large untrained outputs, negligible for trained logits of order 1)."""
        return all(d <= self.atol + self.rtol * self.ref_scale[k] for k, d in self.max_abs_diff.items())

    @property
    def passed(self) -> bool:
        """``ok``, or -- when the float64 reference was run -- onnxruntime is as close to the exact result as
        PyTorch float32 itself (within 3x): the difference is rounding, not an export error."""
        if self.ok:
            return True
        if self.fp64_err_onnx is None or self.fp64_err_torch is None:
            return False
        return self.fp64_err_onnx <= 3 * self.fp64_err_torch + 0.1 * self.atol

    def summary(self) -> str:
        per = ", ".join(f"{k} {v:.2e} (max |value| {self.ref_scale[k]:.3g})" for k, v in self.max_abs_diff.items())
        px = "" if self.keypoint_px_diff is None else f"; decoded keypoints max diff {self.keypoint_px_diff:.3f} px"
        ref = "" if self.fp64_err_torch is None else (
            f"; error vs float64: torch {self.fp64_err_torch:.2e}, onnxruntime {self.fp64_err_onnx:.2e}")
        return f"max |torch - onnxruntime| {per} (tolerance {self.atol:g} + {self.rtol:g} x max |value|){px}{ref}"


def check_parity(
    model: nn.Module,
    path: str | os.PathLike,
    batch: int = 2,
    atol: float = 1e-4,
    seed: int = 0,
    inputs: torch.Tensor | None = None,
    threads: int | None = 1,
    fp64_reference: bool = False,
) -> ParityReport:
    """Run ``model`` (eval mode) and the ONNX file on the same input and compare outputs.

    Args:
        inputs: (B, C, H, W) normalised input; default a seeded standard-normal batch of ``batch`` images.
        threads: onnxruntime intra-op threads.
        fp64_reference: also run a float64 copy of the model and report both float32 errors against it.

    Returns:
        The report; ``report.ok`` is whether every raw output agrees to ``atol`` (callers decide to raise).
    """
    from .runtime import OrtRunner

    runner = OrtRunner(path, threads=threads)
    if inputs is None:
        w, h = runner.meta.input_size if runner.meta else model.input_size
        in_channels = model.info.in_channels
        gen = torch.Generator().manual_seed(seed)
        inputs = torch.randn(batch, in_channels, h, w, generator=gen)
    was_training = model.training
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device
    try:
        with torch.no_grad():
            ref = model(inputs.to(device))
    finally:
        model.train(was_training)
    ref = _to_cpu(ref)
    ref_tensors, _ = _flatten_output(ref)
    got = runner.run(inputs.cpu().numpy())
    diffs = {
        name: float(np.abs(t.numpy() - got[name]).max()) if t.numel() else 0.0
        for name, t in zip(runner.output_names, ref_tensors)
    }
    scale = {name: float(t.abs().max()) if t.numel() else 0.0 for name, t in zip(runner.output_names, ref_tensors)}
    report = ParityReport(diffs, scale, _decoded_diff(model, ref, [got[n] for n in runner.output_names]),
                          len(inputs), atol)
    if fp64_reference:
        import copy

        exact = copy.deepcopy(model).cpu().double().eval()
        with torch.no_grad():
            ref64, _ = _flatten_output(exact(inputs.cpu().double()))
        report.fp64_err_torch = max(float((a.double() - b).abs().max()) for a, b in zip(ref_tensors, ref64))
        report.fp64_err_onnx = max(float(np.abs(got[n].astype(np.float64) - b.numpy()).max())
                                   for n, b in zip(runner.output_names, ref64))
    return report


def _to_cpu(output: Any) -> Any:
    """The head output with every tensor on the CPU (same NamedTuple type)."""
    if isinstance(output, torch.Tensor):
        return output.cpu()
    if getattr(output, "_fields", None) is None:
        return output
    fields = [getattr(output, f) for f in output._fields]
    moved = [v.cpu() if isinstance(v, torch.Tensor) else
             type(v)(t.cpu() for t in v) if isinstance(v, (list, tuple)) else v for v in fields]
    return type(output)(*moved)


def _decoded_diff(model: nn.Module, ref: Any, arrays: Sequence[np.ndarray]) -> float | None:
    """Max |keypoint difference| after ``codec.decode`` of both outputs, when the codec can decode them."""
    codec = model.codec
    fields = getattr(ref, "_fields", None)
    if fields is None:
        return None
    if any(getattr(ref, f) is None or not isinstance(getattr(ref, f), torch.Tensor) for f in fields):
        return None  # optional / nested fields: the flat ONNX outputs do not rebuild the tuple one-to-one
    onnx_out = type(ref)(*(torch.from_numpy(np.asarray(a)) for a in arrays))
    decoded_ref, decoded_onnx = codec.decode(ref), codec.decode(onnx_out)
    if not (_is_keypoint_pair(decoded_ref) and _is_keypoint_pair(decoded_onnx)):
        return None  # e.g. bottom-up decoders return people lists, not (B, K, 2) arrays
    return float((decoded_ref[0] - decoded_onnx[0]).abs().max())


def _is_keypoint_pair(decoded: Any) -> bool:
    """True for a top-down ``decode`` result: ((B, K, 2) keypoints, (B, K) scores) tensors."""
    return (isinstance(decoded, tuple) and len(decoded) == 2 and isinstance(decoded[0], torch.Tensor)
            and decoded[0].dim() == 3 and decoded[0].shape[-1] == 2)
