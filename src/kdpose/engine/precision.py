"""Numeric precision and CPU threads of a run: what ``train.amp: auto`` and ``train.threads: auto`` resolve to.

bf16 autocast is the default wherever the processor computes bf16 natively (Intel AMX / AVX512-BF16, checked
through oneDNN): there it made kdpose's training steps 1.4-2.1x faster at equal accuracy (BENCHMARKS.md "bf16 on
the CPU"). Elsewhere (older CPUs, where bf16 is emulated and slower) and on CUDA (the official recipes train in
fp32) ``auto`` means fp32. Model outputs are cast back to fp32 before decoding, so keypoints are decoded at full
precision.
"""
from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import torch

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when this CPU runs bf16 matrix maths in hardware (the ``amx_bf16`` or ``avx512_bf16`` flag). Other
    CPUs (e.g. AVX2-only, or AVX512 without BF16) emulate bf16 in oneDNN, slower than fp32."""
    return bool(_cpu_flags() & {"amx_bf16", "avx512_bf16"})


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def resolve_amp(requested: str, device: torch.device) -> tuple[str, str]:
    """(``none`` | ``bf16`` | ``fp16``, why) for a ``train.amp`` value on ``device``."""
    if requested != "auto":
        return requested, "set in the recipe"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16", "auto: the CPU has native bf16 (AMX / AVX512-BF16)"
    if device.type == "cpu":
        return "none", "auto: the CPU has no native bf16, fp32 is faster"
    return "none", f"auto: fp32 on {device.type}, as the official recipes train"


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. under taskset or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_threads(requested: int | str, local_world_size: int = 1) -> int:
    """Intra-op threads of one training process: ``auto`` shares the available cores among the processes of
    this node; a positive number is used as given; 0 leaves torch's default."""
    if requested == "auto":
        return max(1, available_cores() // max(1, local_world_size))
    return int(requested)


def autocast(device: torch.device, amp: str):
    """The autocast context of ``amp`` on ``device`` (a no-op for ``none``)."""
    dtype = AMP_DTYPES.get(amp)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def to_float32(output):
    """A model output (tensor, named tuple, tuple/list or dict of them) with floating tensors in fp32."""
    if torch.is_tensor(output):
        return output.float() if output.is_floating_point() else output
    if isinstance(output, tuple) and hasattr(output, "_fields"):
        return type(output)(*(to_float32(v) for v in output))
    if isinstance(output, (tuple, list)):
        return type(output)(to_float32(v) for v in output)
    if isinstance(output, dict):
        return {k: to_float32(v) for k, v in output.items()}
    return output
