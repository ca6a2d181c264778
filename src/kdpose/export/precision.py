"""The precisions an exported ONNX file can be in (its ``kdpose.precision`` metadata) and which onnxruntime providers
execute them. The export runtime checks a file here before running it; ``kdpose.inference.precision`` (PyTorch
precisions, the accuracy guard's choice) builds on these names. No torch here."""
from __future__ import annotations

from typing import Any

from ..errors import CheckpointError

FILE_PRECISIONS = ("fp32", "fp16", "bf16", "int8", "int8-dynamic")
# names older kdpose versions wrote: static int8 was "int8-static", dynamic int8 was plain "int8" before static
# QDQ became the int8 path; a file without the dynamic label but with ConvInteger nodes still runs (same kernels)
_OLD_NAMES = {"int8-static": "int8"}
# precisions an onnxruntime provider cannot execute (no kernels), with what to do instead
_NOT_RUNNABLE = {
    ("bf16", "CPUExecutionProvider"): "onnxruntime's CPU provider has no bf16 kernels; run the fp32 file, or the "
                                      "PyTorch model with precision='bf16' on a CPU with AMX / AVX512-BF16",
}


def file_precision(value: str | None) -> str:
    """The precision an ONNX file's metadata states, in today's names (missing: ``fp32``)."""
    if not value:
        return "fp32"
    return _OLD_NAMES.get(value, value)


def check_runnable(precision: str, provider: str, path: Any) -> None:
    """Raise a one-line :class:`CheckpointError` when ``provider`` cannot execute a file of ``precision``."""
    if precision not in FILE_PRECISIONS:
        raise CheckpointError(f"{path}: precision '{precision}' (from the file's metadata) is not one this kdpose "
                              f"can run ({', '.join(FILE_PRECISIONS)}); it was written by a newer kdpose?")
    why = _NOT_RUNNABLE.get((precision, provider))
    if why is not None:
        raise CheckpointError(f"{path}: precision {precision} cannot run on {provider}: {why}")


__all__ = ["FILE_PRECISIONS", "check_runnable", "file_precision"]
