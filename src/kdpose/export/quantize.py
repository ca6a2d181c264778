"""Smaller / faster variants of an exported ONNX file: fp16 weights and dynamic int8 quantisation.

Both keep float32 inputs and outputs and the kdpose metadata (with ``kdpose.precision`` updated), so a runner
uses them exactly like the fp32 file. fp16 is meant for GPUs (onnxruntime's CPU provider runs most fp16 ops
through inserted casts, i.e. slower than fp32); dynamic int8 (weights int8, activations quantised per batch at
run time) needs no data; static int8 (calibrated activation ranges) is usually the faster CPU option. The
accuracy cost is measured by ``benchmarks/bench_export.py accuracy``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, DataError
from .metadata import PREFIX


def _load(src: Path):
    import onnx

    if not src.is_file():
        raise CheckpointError(f"{src}: no such ONNX file")
    try:
        return onnx.load(str(src))
    except Exception as exc:
        raise CheckpointError(f"{src}: not a valid ONNX file ({type(exc).__name__})") from None


def _save(proto, dst: Path, src_props: dict[str, str], precision: str) -> Path:
    """Write ``proto`` atomically with the source file's metadata and the new precision."""
    from ..utils.io import atomic_write

    props = {**src_props, PREFIX + "precision": precision}
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
    half = convert_float_to_float16(proto, keep_io_types=True)
    return _save(half, dst, props, "fp16")


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike, per_channel: bool = True,
                  op_types: tuple[str, ...] = ("Conv", "MatMul", "Gemm"),
                  calibration: np.ndarray | None = None) -> Path:
    """int8 quantisation of ``src`` into ``dst`` with ``onnxruntime.quantization``.

    Without ``calibration`` (the default) it is *dynamic*: int8 weights, activation ranges computed per batch at
    run time (``ConvInteger``/``MatMulInteger``); no data needed, but on CPUs without fast int8 convolutions it
    can be slower than fp32. With ``calibration`` -- (N, C, H, W) float32 normalised inputs, ideally real crops --
    it is *static* (QDQ format, activation ranges fixed from the calibration set, ``QLinearConv`` kernels),
    usually the faster choice for CNNs on CPUs.

    Args:
        per_channel: one weight scale per output channel (much smaller error for conv weights).
        op_types: op types to quantise; ``("MatMul", "Gemm")`` leaves the convolutions in float32.
        calibration: inputs for static quantisation; None for dynamic.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)

    src, dst = Path(src), Path(dst)
    proto = _load(src)
    props = {p.key: p.value for p in proto.metadata_props}
    input_name = proto.graph.input[0].name
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp.onnx", dir=dst.parent)
    os.close(fd)
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.ERROR)  # onnxruntime.quantization logs a "consider pre-processing" hint on every call
        if calibration is None:
            quantize_dynamic(src, tmp, weight_type=QuantType.QInt8, per_channel=per_channel,
                             op_types_to_quantize=list(op_types))
        else:
            batches = [{input_name: np.ascontiguousarray(b[None], np.float32)} for b in np.asarray(calibration)]

            class _Reader(CalibrationDataReader):
                def __init__(self):
                    self._it = iter(batches)

                def get_next(self):
                    return next(self._it, None)

            quantize_static(src, tmp, _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=list(op_types))
        quantised = onnx.load(tmp)
    finally:
        root.setLevel(level)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _save(quantised, dst, props, "int8" if calibration is None else "int8-static")
