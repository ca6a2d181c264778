"""Deployment: ONNX export with metadata (``onnx``), the onnxruntime runner (``runtime``), int8 / fp16
quantisation (``quantize``) and size / FLOPs / latency / per-precision matmul-peak measurement (``flops``,
``bench``, ``peaks``).

Names are imported lazily: ``kdpose.export.runtime`` must stay usable without importing torch."""
from __future__ import annotations

import importlib

_LAZY = {
    "export_onnx": "kdpose.export.onnx",
    "check_parity": "kdpose.export.onnx",
    "read_metadata": "kdpose.export.onnx",
    "ParityReport": "kdpose.export.onnx",
    "ExportMetadata": "kdpose.export.metadata",
    "OrtRunner": "kdpose.export.runtime",
    "quantize_fp16": "kdpose.export.quantize",
    "quantize_int8": "kdpose.export.quantize",
    "gemm_peak": "kdpose.export.peaks",
    "count_flops": "kdpose.export.flops",
    "count_params": "kdpose.export.flops",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kdpose.export' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = sorted(_LAZY)
