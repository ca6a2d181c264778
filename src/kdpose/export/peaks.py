"""Matrix-multiply peaks of this machine per precision, to judge a model's achieved rate against (``kdpose bench``,
``benchmarks/bench_precision.py``).

A peak is the best rate of repeated (n x n) @ (n x n) products with the given threads: 2 n^3 operations each, in
GFLOP/s (int8: giga integer operations per second). Kinds:

=============  ===============================================================================================
``torch-fp32``  ``torch.mm`` in float32 (oneDNN / MKL)
``torch-bf16``  ``torch.mm`` in bfloat16 (oneDNN: AMX / AVX512-BF16 where the CPU has them, emulated elsewhere)
``torch-int8``  ``torch._int_mm`` int8 x int8 -> int32
``ort-fp32``    onnxruntime ``MatMul`` in float32 (MLAS, the kernels the fp32 ONNX files run on)
``ort-int8``    onnxruntime ``MatMulInteger`` uint8 x int8 (MLAS's integer GEMM: the kernels static-int8 QDQ files
                run on, VNNI / AMX-int8 where the CPU has them)
=============  ===============================================================================================
"""
from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError

PEAK_KINDS = ("torch-fp32", "torch-bf16", "torch-int8", "ort-fp32", "ort-int8")
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_report() -> dict:
    """What the CPU offers for fast inference: its model name and the relevant instruction-set flags, whether bf16
    is native, torch's dispatch level and the onnxruntime version."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "", "x86_64"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    report = {"cpu": model, "flags": {f: f in flags for f in CPU_FLAGS},
              "native_bf16": bool(flags & {"amx_bf16", "avx512_bf16"}), "amx": "amx_tile" in flags}
    try:
        import torch

        report["torch"] = torch.__version__
        report["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:
        pass
    try:
        import onnxruntime

        report["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return report


def _best_rate(fn, ops: float, repeats: int) -> float:
    fn()  # warm-up (packing, thread pool start)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return ops / best / 1e9


def _torch_peak(kind: str, threads: int | None, n: int, repeats: int) -> float:
    import torch

    from .bench import torch_threads

    gen = torch.Generator().manual_seed(0)
    with torch_threads(threads), torch.inference_mode():
        if kind == "torch-int8":
            a = torch.randint(-128, 128, (n, n), dtype=torch.int8, generator=gen)
            b = torch.randint(-128, 128, (n, n), dtype=torch.int8, generator=gen)
            return _best_rate(lambda: torch._int_mm(a, b), 2 * n**3, repeats)
        dtype = torch.bfloat16 if kind == "torch-bf16" else torch.float32
        a = torch.randn(n, n, generator=gen).to(dtype)
        b = torch.randn(n, n, generator=gen).to(dtype)
        return _best_rate(lambda: torch.mm(a, b), 2 * n**3, repeats)


def _ort_peak(kind: str, threads: int | None, n: int, repeats: int) -> float:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if kind == "ort-int8":
        weight = rng.integers(-128, 128, (n, n), dtype=np.int8)
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
        x = rng.integers(0, 256, (n, n), dtype=np.uint8)
    else:
        weight = rng.standard_normal((n, n)).astype(np.float32)
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
        a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
        x = rng.standard_normal((n, n)).astype(np.float32)
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("a", a_type, [n, n])],
                              [helper.make_tensor_value_info("y", y_type, [n, n])],
                              [numpy_helper.from_array(weight, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
    return _best_rate(lambda: session.run(None, {"a": x}), 2 * n**3, repeats)


def gemm_peak(kind: str, threads: int | None = None, n: int = 1024, repeats: int = 10) -> float:
    """Best GEMM rate of ``kind`` (:data:`PEAK_KINDS`) with ``threads`` (None: the library's default), in G(FL)OP/s."""
    if kind not in PEAK_KINDS:
        raise ConfigError(f"unknown GEMM peak '{kind}' (use {', '.join(PEAK_KINDS)})")
    if n < 16 or repeats < 1:
        raise ConfigError(f"GEMM size must be >= 16 and repeats >= 1, got n={n}, repeats={repeats}")
    if kind.startswith("torch"):
        return _torch_peak(kind, threads, n, repeats)
    return _ort_peak(kind, threads, n, repeats)
