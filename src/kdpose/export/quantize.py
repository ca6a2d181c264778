"""Smaller / faster variants of an exported ONNX file: fp16 weights and dynamic int8 quantisation.

Both keep float32 inputs and outputs and the kdpose metadata (with ``kdpose.precision`` updated), so a runner
uses them exactly like the fp32 file. fp16 is meant for GPUs (onnxruntime's CPU provider runs most fp16 ops
through inserted casts, i.e. slower than fp32); dynamic int8 (weights int8, activations quantised per batch at
run time) is the CPU option. The accuracy cost is measured by ``benchmarks/bench_export.py``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

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
                  op_types: tuple[str, ...] = ("Conv", "MatMul", "Gemm")) -> Path:
    """Dynamic int8 quantisation of ``src`` into ``dst`` (``onnxruntime.quantization.quantize_dynamic``).

    Args:
        per_channel: one weight scale per output channel (much smaller error for conv weights).
        op_types: op types to quantise; ``("MatMul", "Gemm")`` leaves the convolutions in float32.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(src), Path(dst)
    proto = _load(src)
    props = {p.key: p.value for p in proto.metadata_props}
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp.onnx", dir=dst.parent)
    os.close(fd)
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.ERROR)  # quantize_dynamic logs a "consider pre-processing" hint on every call
        quantize_dynamic(src, tmp, weight_type=QuantType.QInt8, per_channel=per_channel,
                         op_types_to_quantize=list(op_types))
        quantised = onnx.load(tmp)
    finally:
        root.setLevel(level)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _save(quantised, dst, props, "int8")
