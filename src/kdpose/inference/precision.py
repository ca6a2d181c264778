"""Numeric precision of inference: which precisions exist, which runner can execute which, and the torch path.

Precisions (the ``kdpose.precision`` value of an exported ONNX file, and ``PoseEstimator(precision=...)``):

========  ==========================================================================================
``fp32``  float32 everywhere (the exported file rtmlib and every RTMPose runner load).
``bf16``  bfloat16 matrix maths, float32 accumulation and outputs. Fast only on CPUs with native bf16 (Intel
          AMX / AVX512-BF16: oneDNN through PyTorch) and on recent GPUs; onnxruntime's CPU provider has no bf16
          kernels, so bf16 is a torch-backend precision, and an ONNX file marked bf16 is refused on the CPU.
``fp16``  float16 (CUDA; ``kdpose export --fp16`` files keep float32 inputs and outputs).
``int8``  static int8 (QDQ, activation ranges calibrated on person crops): onnxruntime's CPU path (VNNI / AMX
          int8 kernels where the CPU has them).
``int8-dynamic``  activations quantised per batch at run time (``kdpose export --int8 dynamic``): measures
          onnxruntime's ``ConvInteger`` path, which is slower than fp32 on most CPUs; kept for comparison.
========  ==========================================================================================

Whatever the precision, model outputs are cast to float32 before decoding: keypoints are always decoded in fp32.

This module imports neither torch nor onnxruntime at import time (the ONNX path must stay torch-free).
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Callable

from kdpose.errors import ConfigError
from kdpose.export.precision import FILE_PRECISIONS, check_runnable, file_precision  # noqa: F401  (file precisions)

log = logging.getLogger("kdpose")

TORCH_PRECISIONS = ("fp32", "bf16", "fp16", "auto")


def check_onnx_request(requested: str | None, precision: str, path: Any) -> None:
    """An .onnx file runs in its own precision: ``requested`` must be None, ``auto`` or that precision."""
    if requested in (None, "auto") or requested == precision:
        return
    if requested not in TORCH_PRECISIONS and requested not in FILE_PRECISIONS:   # 'int8' is known: a file's precision
        raise ConfigError(f"unknown precision '{requested}' (use {', '.join(TORCH_PRECISIONS)})")
    raise ConfigError(f"{path}: an .onnx file runs in the precision it was exported in ({precision}); precision="
                      f"'{requested}' applies to PyTorch models (zoo names): run the zoo model, or export that "
                      "variant")


def native_bf16_cpu() -> bool:
    """The CPU computes bf16 in hardware: AMX or AVX512-BF16 (``kdpose.engine.precision.cpu_has_native_bf16``)."""
    from kdpose.engine.precision import cpu_has_native_bf16

    return cpu_has_native_bf16()


def candidates(device: str) -> list[str]:
    """Precisions worth trying on ``device``, fastest first; fp32 (always runnable) last."""
    kind = device.lower().partition(":")[0]
    if kind == "cuda":
        return ["fp16", "fp32"]
    if kind == "cpu" and native_bf16_cpu():
        return ["bf16", "fp32"]
    return ["fp32"]


def resolve_precision(requested: str | None, device: str,
                      guard: Callable[[str], bool] | None = None) -> tuple[str, str]:
    """(precision, why) of a PyTorch model for ``requested`` on ``device``.

    ``auto`` takes the fastest precision of :func:`candidates` whose accuracy guard passes (``guard(precision)
    -> bool``; without a guard only fp32 qualifies). On a CPU without native bf16 (e.g. AVX2-only: bf16 is
    emulated there, several times slower than fp32) ``auto`` is fp32 without running anything.
    Explicit ``fp16`` needs CUDA; explicit ``bf16`` on a CPU without native bf16 runs, with a warning.
    """
    requested = "fp32" if requested is None else requested
    if requested not in TORCH_PRECISIONS:
        raise ConfigError(f"unknown precision '{requested}' (use {', '.join(TORCH_PRECISIONS)})")
    kind = device.lower().partition(":")[0]
    if requested == "fp16" and kind != "cuda":
        raise ConfigError(f"precision 'fp16' is for CUDA devices, not '{device}' (on a CPU use bf16 where it has "
                          "AMX / AVX512-BF16, else fp32)")
    if requested == "bf16" and kind == "cpu" and not native_bf16_cpu():
        log.warning("kdpose: precision bf16 on a CPU without native bf16 (no AMX / AVX512-BF16): emulated, "
                    "several times slower than fp32")
        return "bf16", "requested (emulated on this CPU)"
    if requested != "auto":
        return requested, "requested"
    for precision in candidates(device):
        if precision == "fp32":
            break
        if guard is None:
            continue
        if guard(precision):
            return precision, f"auto: fastest on {kind} with the accuracy guard passed"
        log.info("kdpose: %s failed the accuracy guard, trying the next precision", precision)
    if kind == "cpu" and not native_bf16_cpu():
        return "fp32", "auto: this CPU has no native bf16 (AMX / AVX512-BF16), fp32 is its fastest path"
    return "fp32", "auto: no faster precision passed the accuracy guard"


def _dtype(precision: str):
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def lowered_copy(model: Any, precision: str):
    """A copy of ``model`` whose convolution and linear weights are stored in the low precision.

    Autocast rounds these weights to bf16 / fp16 on every call anyway; storing them rounded once gives the same
    numbers without re-casting every weight per forward. Normalisation layers keep their float32 parameters (and
    autocast runs its float32 ops in float32). On the CPU the copy is also put in channels-last memory format,
    the layout oneDNN's bf16 (AMX) convolutions run fastest in (another summation order: bf16-rounding-sized
    differences from NCHW)."""
    import torch
    from torch import nn

    dtype = _dtype(precision)
    low = copy.deepcopy(model).eval()
    for module in low.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            module.to(dtype)
    device = next(low.parameters(), torch.empty(0)).device
    if device.type == "cpu":
        low = low.to(memory_format=torch.channels_last)
    return low


class PrecisionModel:
    """``model`` run in ``precision`` (fp32, bf16 or fp16): ``forward(x)`` takes float32 input and returns the head
    output with every floating tensor in float32 (decoding stays fp32). ``input_size`` / ``in_channels`` / ``codec``
    / ``skeleton`` are the wrapped model's, so benchmarks and backends treat it like the model."""

    def __init__(self, model: Any, precision: str = "fp32"):
        if precision not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"PrecisionModel runs fp32, bf16 or fp16, not '{precision}'")
        self.model = model.eval()
        self.precision = precision
        self._low = None if precision == "fp32" else lowered_copy(model, precision)
        for name in ("input_size", "in_channels", "codec", "skeleton", "model_name", "info"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def eval(self):
        return self

    def parameters(self):
        return self.model.parameters()

    def forward(self, x):
        import torch

        from kdpose.engine.precision import to_float32

        if self._low is None:
            return self.model(x)
        dtype = _dtype(self.precision)
        if x.device.type == "cpu" and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=dtype):
            return to_float32(self._low(x))

    __call__ = forward

    def __repr__(self) -> str:
        return f"PrecisionModel({type(self.model).__name__}, precision={self.precision})"
