"""Smaller / faster variants of an exported ONNX file: static int8 (the CPU path), fp16 weights, dynamic int8.

All keep float32 inputs and outputs and the kdpose metadata, with ``kdpose.precision`` set to the variant's
(``kdpose.inference.precision``), so a runner uses them exactly like the fp32 file and refuses those it cannot run.

* **int8** (:func:`quantize_int8`, the default ``mode="static"``): QDQ format, int8 convolution weights (one scale
  per output channel) and uint8 activations whose ranges are calibrated on person crops -- rendered synthetic people by
  default (:func:`kdpose.valset.calibration_set`), or crops of a COCO-format file. onnxruntime runs it
  with its integer GEMM kernels (VNNI / AMX-int8 where the CPU has them); on CPUs it is the fast int8 path.
* **int8-dynamic** (``mode="dynamic"``): int8 weights, activation ranges computed per batch at run time
  (``ConvInteger`` / ``MatMulInteger``). No data needed, but onnxruntime runs ``ConvInteger`` slowly: it measures
  that path (several times slower than fp32 on the CPUs measured, BENCHMARKS.md), it is not a speed-up.
* **fp16** (:func:`quantize_fp16`): for GPUs (onnxruntime's CPU provider runs most fp16 ops through casts).

What a variant costs in accuracy is measured by :func:`kdpose.inference.guard.accuracy_guard` (``kdpose export
--int8 --val ...`` prints its line).
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, ConfigError, DataError
from .metadata import PREFIX, require_onnx_file


def _load(src: Path):
    import onnx

    require_onnx_file(src)
    try:
        return onnx.load(str(src))
    except Exception as exc:
        raise CheckpointError(f"{src}: not a valid ONNX file ({type(exc).__name__})") from None


QUANTISED_OPS = {"QuantizeLinear", "DequantizeLinear", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul",
                 "DynamicQuantizeLinear"}


def _check_source(proto, src: Path, props: dict[str, str]) -> None:
    """Refuse a source that is not an fp32 graph: quantising an fp16 or int8 variant (or an empty file, which
    ``onnx.load`` reads as an empty model) wrote a file labelled with the new precision that no runtime loads."""
    import onnx

    if len(proto.graph.node) == 0:
        raise CheckpointError(f"{src}: holds no ONNX graph (empty or not a model file)")
    precision = props.get(PREFIX + "precision", "fp32")
    float16 = any(init.data_type == onnx.TensorProto.FLOAT16 for init in proto.graph.initializer)
    quantised = any(node.op_type in QUANTISED_OPS for node in proto.graph.node)
    if precision != "fp32" or float16 or quantised:
        what = precision if precision != "fp32" else ("float16" if float16 else "quantised")
        raise ConfigError(f"{src}: is a {what} file; make the variants from the fp32 export")


def _checked(proto, dst: Path):
    """``proto`` once onnxruntime has loaded it (a file no runtime loads is never written under a precision; onnx's
    checker is stricter than onnxruntime: it refuses the fp16 converter's graphs, which run)."""
    import onnxruntime as ort

    try:
        ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{dst}: onnxruntime cannot load the quantised model ({first[:200]}); nothing "
                              "written") from None
    return proto


def _save(proto, dst: Path, src_props: dict[str, str], precision: str, extra: dict[str, str] | None = None) -> Path:
    """Write ``proto`` atomically with the source file's metadata, the new precision and ``extra`` keys."""
    from ..utils.io import atomic_write

    props = {**src_props, PREFIX + "precision": precision, **{PREFIX + k: v for k, v in (extra or {}).items()}}
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    try:
        with atomic_write(dst) as f:
            f.write(proto.SerializeToString())
    except OSError as exc:
        raise DataError(f"{dst}: cannot write the ONNX file ({exc.strerror or exc})") from None
    return dst


def quantize_fp16(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Convert weights and activations of ``src`` to float16 (inputs/outputs stay float32) into ``dst``."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    src, dst = Path(src), Path(dst)
    proto = _load(src)
    props = {p.key: p.value for p in proto.metadata_props}
    _check_source(proto, src, props)
    half = convert_float_to_float16(proto, keep_io_types=True)
    return _save(_checked(half, dst), dst, props, "fp16")


INT8_MODES = ("static", "dynamic")


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike, calibration: np.ndarray | None = None,
                  mode: str = "static", per_channel: bool = True,
                  op_types: tuple[str, ...] | None = None, calibration_count: int = 64,
                  calibration_name: str | None = None, reduce_range: bool = False) -> Path:
    """int8 quantisation of ``src`` into ``dst`` with ``onnxruntime.quantization``.

    Args:
        mode: ``"static"`` (default; QDQ, calibrated activation ranges; precision ``int8``) or ``"dynamic"``
            (activation ranges per batch at run time; precision ``int8-dynamic``; slow on CPUs, see the module doc).
        calibration: static mode: (N, C, H, W) float32 normalised person crops. None renders
            ``calibration_count`` synthetic person crops with the file's input size and normalisation.
        per_channel: one weight scale per output channel (much smaller error for conv weights).
        op_types: op types to quantise. Default: static ``("Conv",)``, dynamic ``("Conv", "MatMul", "Gemm")``.
            Static int8 leaves the matrix products of the head (RTMCC's gated attention unit and SimCC classifiers,
            a few % of the FLOPs) in float32: quantised, they moved the keypoints of the shipped demo teacher by
            2.3 crop px on average (guard limit 1 px), convolutions alone by 0.52 px (BENCHMARKS.md, issue 27).
        calibration_name: where the crops come from, recorded in the metadata (``kdpose.calibration``).
        reduce_range: 7-bit weights (for CPUs without VNNI whose u8 x s8 kernels can saturate; try it when the
            accuracy guard fails there).
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)

    if mode not in INT8_MODES:
        raise ConfigError(f"unknown int8 mode '{mode}' (use {' or '.join(INT8_MODES)})")
    if op_types is None:
        op_types = ("Conv",) if mode == "static" else ("Conv", "MatMul", "Gemm")
    src, dst = Path(src), Path(dst)
    proto = _load(src)
    props = {p.key: p.value for p in proto.metadata_props}
    _check_source(proto, src, props)
    input_name = proto.graph.input[0].name
    dims = [d.dim_value if d.HasField("dim_value") else None for d in proto.graph.input[0].type.tensor_type.shape.dim]
    extra: dict[str, str] = {}
    batch = 1
    if mode == "static":
        opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
        if opset < 13:   # per-channel QDQ (DequantizeLinear's axis) is opset 13: below it the file did not load
            raise ConfigError(f"{src}: static int8 needs opset >= 13 and this file is opset {opset} (export with "
                              "--opset 13 or later, or use dynamic int8)")
        if calibration is None:
            calibration, calibration_name = _synthetic_calibration(src, props, calibration_count)
        calibration = np.asarray(calibration, np.float32)
        if calibration.ndim != 4 or len(calibration) == 0:
            raise DataError(f"{src}: calibration crops must be a non-empty (N, C, H, W) array, got shape "
                            f"{calibration.shape}")
        if len(dims) == 4 and any(d is not None and d != c for d, c in zip(dims[1:], calibration.shape[1:])):
            wanted = "x".join("?" if d is None else str(d) for d in dims[1:])
            raise DataError(f"{src}: calibration crops are {'x'.join(map(str, calibration.shape[1:]))} (C x H x W), "
                            f"the file takes {wanted}")
        batch = dims[0] if len(dims) == 4 and dims[0] else 1   # a fixed-batch export is calibrated in its batches
        extra["calibration"] = calibration_name or f"{len(calibration)} crops given by the caller"
    elif calibration is not None:
        raise ConfigError("dynamic int8 takes no calibration crops (its activation ranges are computed at run time)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp.onnx", dir=dst.parent)
    os.close(fd)
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.ERROR)  # onnxruntime.quantization logs a "consider pre-processing" hint on every call
        if mode == "dynamic":
            quantize_dynamic(src, tmp, weight_type=QuantType.QInt8, per_channel=per_channel,
                             op_types_to_quantize=list(op_types), reduce_range=reduce_range)
        else:
            # repeating crops to fill the last batch leaves the MinMax ranges as they are
            order = np.resize(np.arange(len(calibration)), -(-len(calibration) // batch) * batch)
            batches = [{input_name: np.ascontiguousarray(calibration[order[i:i + batch]])}
                       for i in range(0, len(order), batch)]

            class _Reader(CalibrationDataReader):
                def __init__(self):
                    self._it = iter(batches)

                def get_next(self):
                    return next(self._it, None)

            quantize_static(src, tmp, _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=list(op_types), reduce_range=reduce_range)
        quantised = onnx.load(tmp)
    finally:
        root.setLevel(level)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _save(_checked(quantised, dst), dst, props, "int8" if mode == "static" else "int8-dynamic", extra)


def _synthetic_calibration(src: Path, props: dict[str, str], count: int) -> tuple[np.ndarray, str]:
    """Synthetic person crops in the input size / normalisation / channel order the file's metadata states."""
    from ..valset import calibration_set
    from .metadata import ExportMetadata

    try:
        meta = ExportMetadata.from_props(props, "input", [])
    except ValueError as exc:
        raise CheckpointError(f"{src}: {exc}") from None
    if meta is None:
        raise ConfigError(f"{src}: has no kdpose metadata (input size, normalisation); pass calibration crops")
    if meta.input_channels != 3:
        raise ConfigError(f"{src}: takes {meta.input_channels}-channel input; synthetic calibration renders RGB "
                          "people: pass calibration crops")
    return calibration_set(tuple(meta.input_size), meta.mean, meta.std, meta.channel_order, meta.skeleton,
                           count=count)
