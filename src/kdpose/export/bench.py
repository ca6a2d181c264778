"""Latency measurement helpers shared by ``kdpose bench`` and ``benchmarks/bench_export.py``.

Latency is wall-clock time of one forward pass on a fixed input (no pre/post-processing), after warm-up,
reported as median and 90th percentile over ``iters`` runs. Achieved GFLOP/s = model FLOPs x batch / median
time, compared with a measured float32 matmul peak of the same machine and thread count.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np


@dataclass(frozen=True)
class Latency:
    """Wall-clock statistics of repeated calls, in milliseconds."""

    median_ms: float
    p90_ms: float
    mean_ms: float
    iters: int
    cpu_ms: float = float("nan")    # median process CPU time per call (all threads summed)


def time_fn(fn: Callable[[], object], warmup: int = 5, iters: int = 30, max_seconds: float | None = None,
            min_iters: int = 5) -> Latency:
    """Call ``fn`` ``warmup`` times untimed, then ``iters`` times timed; returns the statistics.

    Besides wall-clock time it records the process CPU time of each call: on a shared machine wall time includes
    waiting for a core, while single-threaded CPU time is close to the time on an idle machine. With
    ``max_seconds`` the timed loop stops once that much time has passed and ``min_iters`` calls were made."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    begin = time.perf_counter()
    for i in range(iters):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
        if max_seconds is not None and i + 1 >= min_iters and time.perf_counter() - begin > max_seconds:
            break
    wall = np.asarray(times)
    return Latency(float(np.median(wall)), float(np.percentile(wall, 90)), float(wall.mean()), len(wall),
                   float(np.median(cpu)))


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (None: leave it)."""
    import torch

    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def matmul_peak_gflops(threads: int | None = None, n: int = 1024, repeats: int = 20) -> float:
    """Measured float32 GEMM throughput (GFLOP/s) of this machine with ``threads`` torch threads: the best of
    ``repeats`` (n x n) @ (n x n) products, 2 n^3 FLOPs each. A practical upper bound for conv/matmul models.
    Single-threaded, the CPU time of the call counts too (it excludes time spent waiting for a busy core)."""
    import torch

    with torch_threads(threads), torch.inference_mode():
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=gen)
        b = torch.randn(n, n, generator=gen)
        torch.mm(a, b)
        best = float("inf")
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            torch.mm(a, b)
            wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            best = min(best, wall, cpu if threads == 1 and cpu > 0 else wall)
    return 2 * n**3 / best / 1e9


def realistic_random_weights(model, seed: int = 0):
    """Re-initialise ``model`` in place with random weights whose outputs behave like a trained network's: of
    order 1 and different for different inputs. Fan-in normal conv/linear weights, BN statistics measured on
    random inputs, then the layers that produce the outputs directly (e.g. RTMPose's ``cls_x``/``cls_y``) rescaled
    to unit output standard deviation. Zoo inits (RTMPose's N(0, 0.001) head) give ~1e-9 logits and arbitrary BN
    statistics give input-independent outputs; a parity check or an int8 error measure on those means nothing.
    Latency does not depend on the values. Returns the model (in its original train/eval mode)."""
    import torch
    from torch import nn

    from .onnx import _flatten_output

    gen = torch.Generator().manual_seed(seed)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for mod in layers:
            mod.weight.normal_(0.0, mod.weight[0].numel() ** -0.5, generator=gen)
            if mod.bias is not None:
                mod.bias.normal_(0.0, 0.1, generator=gen)
        # BN statistics from the data (train-mode passes, cumulative average): with arbitrary running stats the
        # input signal decays layer after layer and the outputs end up the same for every image
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 and m.running_mean is not None]
        momenta = [m.momentum for m in norms]
        for mod in norms:
            mod.reset_running_stats()
            mod.momentum = None
        w, h = model.input_size
        in_channels = model.info.in_channels
        was_training = model.training
        model.train()
        try:
            for _ in range(2):
                model(torch.randn(8, in_channels, h, w, generator=gen))
        finally:
            for mod, momentum in zip(norms, momenta):
                mod.momentum = momentum
            model.train(was_training)
        # find the layers whose output tensor *is* a model output (same storage) and normalise their scale
        produced: dict[int, nn.Module] = {}
        hooks = [m.register_forward_hook(lambda mod, inp, out: produced.__setitem__(out.data_ptr(), mod))
                 for m in layers]
        model.eval()
        try:
            x = torch.randn(4, in_channels, h, w, generator=gen)
            outputs, _ = _flatten_output(model(x))
        finally:
            for hook in hooks:
                hook.remove()
            model.train(was_training)
        for out in outputs:
            mod = produced.get(out.data_ptr())
            if mod is not None and float(out.std()) > 0:
                scale = 1.0 / float(out.std())
                mod.weight.mul_(scale)
                if mod.bias is not None:
                    mod.bias.mul_(scale)
    return model


@dataclass
class BenchRow:
    """One (model, backend, batch, threads) measurement."""

    model: str
    backend: str
    batch: int
    threads: int | None
    median_ms: float
    p90_ms: float
    params_m: float | None = None
    gflops: float | None = None         # per image, FLOPs (2 x MACs)
    gmacs: float | None = None          # per image, MACs (what papers call GFLOPs)
    cpu_ms: float | None = None         # median process CPU time per call, all threads summed
    extra: dict = field(default_factory=dict)

    @property
    def per_image_ms(self) -> float:
        return self.median_ms / self.batch

    @property
    def achieved_gflops_s(self) -> float | None:
        """FLOPs actually executed per second at the median latency."""
        if self.gflops is None:
            return None
        return self.gflops * self.batch / (self.median_ms / 1e3)

    @property
    def gflops_per_core(self) -> float | None:
        """FLOPs per CPU-second (CPU time, all threads): per-core efficiency, robust to a busy machine."""
        if self.gflops is None or not self.cpu_ms or self.cpu_ms != self.cpu_ms:  # None, 0 or NaN
            return None
        return self.gflops * self.batch / (self.cpu_ms / 1e3)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["per_image_ms"] = self.per_image_ms
        d["achieved_gflops_s"] = self.achieved_gflops_s
        d["gflops_per_core"] = self.gflops_per_core
        return d


def bench_torch(model, batch: int, threads: int | None, warmup: int = 5, iters: int = 30,
                max_seconds: float | None = None) -> Latency:
    """Latency of ``model(x)`` for a (batch, C, H, W) input under ``torch.inference_mode``."""
    import torch

    w, h = model.input_size
    x = torch.randn(batch, model.info.in_channels, h, w, generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch_threads(threads), torch.inference_mode():
        return time_fn(lambda: model(x), warmup, iters, max_seconds)


def bench_onnx(runner, batch: int, warmup: int = 5, iters: int = 30, max_seconds: float | None = None) -> Latency:
    """Latency of ``runner.run(x)`` (an ``OrtRunner``; its thread count was fixed when it was created)."""
    w, h = runner.meta.input_size
    x = np.random.default_rng(0).standard_normal((batch, runner.meta.input_channels, h, w)).astype(np.float32)
    return time_fn(lambda: runner.run(x), warmup, iters, max_seconds)


def format_table(rows: Sequence[BenchRow], peak_gflops: dict[int | None, float] | None = None,
                 precision_peaks: dict[str, float] | None = None) -> str:
    """A Markdown table of ``rows``. With ``peak_gflops`` ({threads: GFLOP/s}, must include 1) the per-core
    FLOP rate (CPU time) is given as a percentage of the single-thread matmul peak; a row whose ``extra`` names a
    ``precision`` found in ``precision_peaks`` ({precision: 1-thread G(FL)OP/s}, e.g. bf16, int8) is compared
    with that precision's peak instead."""
    head = ["model", "params (M)", "GMACs", "GFLOPs", "backend", "threads", "batch", "median ms", "p90 ms",
            "CPU ms", "ms / image", "GFLOP/s", "GFLOP/s per core"]
    if peak_gflops and peak_gflops.get(1):
        head.append("% of 1-thread matmul peak")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        core = r.gflops_per_core
        cells = [r.model, _f(r.params_m, 2), _f(r.gmacs, 3), _f(r.gflops, 3), r.backend,
                 "all" if r.threads is None else str(r.threads), str(r.batch), _f(r.median_ms, 2), _f(r.p90_ms, 2),
                 _f(r.cpu_ms, 2), _f(r.per_image_ms, 2), _f(r.achieved_gflops_s, 1), _f(core, 1)]
        if len(cells) < len(head):
            peak = (precision_peaks or {}).get(r.extra.get("precision", "fp32")) or peak_gflops[1]
            cells.append(_f(100 * core / peak, 1) if core is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def plot_accuracy(points: Sequence[dict], path: str, x: str = "gflops") -> str:
    """Save an AP-vs-compute scatter (the RTMPose paper's Figure 1 style) as PNG.

    Args:
        points: dicts with ``model``, ``ap`` and the x key (``gflops``/``gmacs``/``latency_ms``), optional
            ``params_m`` (marker area).
        x: which key is the x axis.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    from ..utils.io import atomic_write

    labels = {"gflops": "GFLOPs (2 x MACs) per image", "gmacs": "GMACs per image ('GFLOPs' in papers)",
              "latency_ms": "latency per image (ms)"}
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    xs = [p[x] for p in points]
    ys = [p["ap"] for p in points]
    sizes = [40 + 8 * float(p.get("params_m") or 1.0) for p in points]
    ax.scatter(xs, ys, s=sizes, alpha=0.6)
    ax.plot(xs, ys, alpha=0.4)
    for p in points:
        ax.annotate(p["model"], (p[x], p["ap"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.margins(x=0.12, y=0.1)  # room for the labels of the extreme points
    ax.set_xlabel(labels.get(x, x))
    ax.set_ylabel("AP")
    ax.grid(alpha=0.3)
    ax.set_title("accuracy vs " + ("compute" if x != "latency_ms" else "latency") + " (marker area ~ params)")
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return path
