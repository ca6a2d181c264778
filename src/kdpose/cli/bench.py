"""``kdpose bench``: parameters, FLOPs and latency (median, p90) per backend / batch / threads, plus a plot."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

NAME = "bench"
HELP = "measure parameters, GFLOPs and latency of models (torch / onnxruntime), optionally plot AP vs cost"

EPILOG = """\
Latency is one forward pass on a fixed batch (no pre/post-processing), median and 90th percentile after warm-up.
GMACs are what papers call "GFLOPs" (MMPose/fvcore count multiply-accumulates); GFLOPs here = 2 x MACs
(torch.utils.flop_counter). "% of matmul peak" compares the achieved FLOP rate with a float32 matmul measured on
this machine with the same thread count; bf16 and int8 rows are compared with the bf16 (torch) and int8
(onnxruntime MatMulInteger) matmul peaks instead. --precision fp32,bf16 times the PyTorch model in each precision
(bf16 is fast only on CPUs with AMX / AVX512-BF16; emulated elsewhere). --int8 also times the static int8 (QDQ)
ONNX file, calibrated on rendered synthetic people; --int8 dynamic the dynamic one (onnxruntime's slow ConvInteger
path). Zoo models are exported to a temporary ONNX file for onnxruntime;
an .onnx file as MODEL is benchmarked with onnxruntime only. --ap NAME=AP adds accuracy for the plot (AP vs
GFLOPs, or vs latency with --plot-x latency, like the RTMPose paper's Figure 1).

Examples:
  kdpose bench rtmpose-t rtmpose-s rtmpose-m --batch 1,8 --threads 1,all
  kdpose bench rtmpose-m --backend onnxruntime --batch 1,8,32 --json bench.json
  kdpose bench rtmpose-l --layout coco_wholebody --int8
  kdpose bench rtmpose-m --batch 8 --precision fp32,bf16 --int8 --threads 2
  kdpose bench rtmpose-t rtmpose-s --ap rtmpose-t=68.5 --ap rtmpose-s=72.2 --plot ap_vs_gflops.png
  kdpose bench model.onnx --batch 1 --threads 1
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("models", nargs="+", metavar="MODEL", help="zoo names or .onnx files")
    parser.add_argument("--backend", default="torch,onnxruntime", help="comma list: torch, onnxruntime")
    parser.add_argument("--batch", default="1,8", help="comma list of batch sizes (default 1,8)")
    parser.add_argument("--threads", default="all", help="comma list of thread counts, 'all' = every core "
                                                         "(default all)")
    parser.add_argument("--layout", help="keypoint layout for zoo names (default: each model's)")
    parser.add_argument("--input-size", help="WxH for zoo names (default: the layout's)")
    parser.add_argument("--weights", help="weights for a single zoo MODEL (latency does not depend on them)")
    parser.add_argument("--int8", nargs="?", const="static", choices=("static", "dynamic"),
                        help="also time the int8 ONNX file: static QDQ (default) or 'dynamic'")
    parser.add_argument("--precision", default="fp32",
                        help="comma list of PyTorch precisions: fp32, bf16, fp16 (CUDA only) (default fp32)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    parser.add_argument("--iters", type=int, default=30, help="timed runs (default 30)")
    parser.add_argument("--ap", action="append", default=[], metavar="MODEL=AP", help="accuracy for the plot")
    parser.add_argument("--plot", help="write an AP-vs-cost PNG here (needs --ap)")
    parser.add_argument("--plot-x", default="gflops", choices=["gflops", "gmacs", "latency"],
                        help="x axis of the plot (latency = ms/image, first backend, batch 1, first threads)")
    parser.add_argument("--json", help="write all measurements as JSON here")


def _csv(text: str, what: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    from kdpose.errors import ConfigError

    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"--{what} is empty")
    if allowed:
        bad = [t for t in items if t not in allowed]
        if bad:
            raise ConfigError(f"--{what}: unknown value(s) {', '.join(bad)} (use {', '.join(allowed)})")
    return items


def _positive_ints(text: str, what: str, allow_all: bool = False) -> list[int | None]:
    from kdpose.errors import ConfigError

    out: list[int | None] = []
    for item in _csv(text, what):
        if allow_all and item == "all":
            out.append(None)
        elif item.isdecimal() and int(item) > 0:
            out.append(int(item))
        else:
            raise ConfigError(f"--{what}: '{item}' is not a positive integer" + (" or 'all'" if allow_all else ""))
    return out


def _parse_ap(items: list[str]) -> dict[str, float]:
    import math

    from kdpose.errors import ConfigError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ConfigError(f"--ap must look like MODEL=AP (e.g. rtmpose-t=68.5), got '{item}'")
        if not math.isfinite(out[name]) or out[name] < 0:
            raise ConfigError(f"--ap {item}: the AP must be a finite number >= 0 (e.g. 68.5 or 0.685)")
    return out


def _label(model: str) -> str:
    """How a MODEL is named in the table, the JSON and the plot (and in --ap): an .onnx file by its stem."""
    return Path(model).stem if model.endswith(".onnx") else model


def _check_before_timing(args: argparse.Namespace, ap: dict[str, float], backends: list[str],
                         precisions: list[str]) -> None:
    """Everything that used to fail only after some timing (minutes of it), checked first: every MODEL and --precision
    fp16 (a later model's unknown name, or fp16 on the CPU, stopped the run after the earlier models were timed), the
    --ap names, --plot-x against the plotted models, and the --json / --plot files.

    Raises:
        ConfigError / UnknownNameError / CheckpointError: one line naming the option or file.
    """
    from kdpose.errors import ConfigError
    from kdpose.export.metadata import require_onnx_file
    from kdpose.models import MODELS, PRETRAINED
    from kdpose.models.loading import check_not_a_file
    from kdpose.utils.io import check_output_file

    for name in args.models:
        if name.endswith(".onnx"):
            require_onnx_file(name)
        elif name not in MODELS:
            check_not_a_file(name)   # a weights file given as MODEL: says to pass it with --weights
            if "." in name:
                PRETRAINED[name]       # UnknownNameError with the close tags
            else:
                MODELS.get(name)       # UnknownNameError with the close names
    if "fp16" in precisions and "torch" in backends and not all(m.endswith(".onnx") for m in args.models):
        from kdpose.inference.precision import resolve_precision

        resolve_precision("fp16", "cpu")  # ConfigError: fp16 is for CUDA devices
    labels = [_label(m) for m in args.models]
    unknown = [name for name in ap if name not in labels]
    if unknown:
        raise ConfigError(f"--ap {unknown[0]}={ap[unknown[0]]:g}: {unknown[0]} is not a benchmarked MODEL "
                          f"(MODELs: {', '.join(labels)}; an .onnx file is named by its stem)")
    if args.plot and args.plot_x in ("gflops", "gmacs"):
        onnx = [m for m in args.models if m.endswith(".onnx") and _label(m) in ap]
        if onnx:
            raise ConfigError(f"--plot-x {args.plot_x}: {onnx[0]} is an ONNX file, which has no FLOP count; plot "
                              "it with --plot-x latency, or drop its --ap")
    if args.json:
        check_output_file(args.json, "--json", "bench.json")
    if args.plot:
        check_output_file(args.plot, "--plot", "ap_vs_gflops.png")


def run(args: argparse.Namespace) -> int:
    from kdpose.cli.export import parse_size
    from kdpose.errors import ConfigError
    from kdpose.export.bench import BenchRow, format_table, matmul_peak_gflops, plot_accuracy

    backends = _csv(args.backend, "backend", ("torch", "onnxruntime"))
    precisions = _csv(args.precision, "precision", ("fp32", "bf16", "fp16"))
    batches = _positive_ints(args.batch, "batch")
    threads_list = _positive_ints(args.threads, "threads", allow_all=True)
    input_size = parse_size(args.input_size)
    ap = _parse_ap(args.ap)
    if args.plot and not ap:
        raise ConfigError("--plot needs accuracy numbers: add --ap MODEL=AP for the models to plot")
    if args.weights and len(args.models) > 1:
        raise ConfigError("--weights applies to one MODEL; benchmark models one at a time to give weights")
    if args.warmup < 0 or args.iters < 1:
        raise ConfigError("--warmup must be >= 0 and --iters >= 1")
    _require_extras(args, backends)
    _check_before_timing(args, ap, backends, precisions)

    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="kdpose-bench-") as tmp:
        for name in args.models:
            rows += _bench_one(name, args, backends, batches, threads_list, input_size, Path(tmp), precisions)
    peaks = {t: matmul_peak_gflops(t) for t in threads_list}
    other_peaks = _precision_peaks(rows)
    print(format_table(rows, peaks, other_peaks))
    print("matmul peak (float32, torch): " + ", ".join(
        f"{'all' if t is None else t} thread(s) {p:.1f} GFLOP/s" for t, p in peaks.items()))
    for precision, peak in other_peaks.items():
        print(f"matmul peak ({precision}, {_PEAK_KIND[precision]}): 1 thread {peak:.1f} G(FL)OP/s")
    if args.json:
        from kdpose.utils.io import write_json

        write_json(args.json, {"rows": [r.as_dict() for r in rows],
                               "matmul_peak_gflops": {str(t or "all"): p for t, p in peaks.items()},
                               "precision_peaks_1_thread": other_peaks,
                               "cpu_count": os.cpu_count()}, indent=1)
        print(f"wrote {args.json}")
    if args.plot:
        points = _plot_points(rows, ap, args.plot_x, backends[0], threads_list[0])  # --ap names: checked first
        plot_accuracy(points, args.plot, x="latency_ms" if args.plot_x == "latency" else args.plot_x)
        print(f"wrote {args.plot}")
    return 0


_PEAK_KIND = {"bf16": "torch-bf16", "int8": "ort-int8"}


def _precision_peaks(rows: list) -> dict[str, float]:
    """1-thread matmul peaks of the low precisions the rows use (bf16: torch, int8: onnxruntime)."""
    from kdpose.export.peaks import gemm_peak

    used = {r.extra.get("precision") for r in rows} & set(_PEAK_KIND)
    return {p: gemm_peak(_PEAK_KIND[p], threads=1, n=512 if p == "bf16" else 1024) for p in sorted(used)}


def _require_extras(args: argparse.Namespace, backends: list[str]) -> None:
    """Fail before measuring anything when a package the options need is missing."""
    from kdpose.cli.main import require_extra

    if args.plot:
        require_extra("matplotlib", "kdpose bench --plot")
    if "onnxruntime" in backends or args.int8 or any(m.endswith(".onnx") for m in args.models):
        other = "or time PyTorch only: --backend torch" if "torch" in backends else ""
        for module in ("onnx", "onnxruntime"):
            require_extra(module, "kdpose bench on onnxruntime", other)


def _bench_one(name, args, backends, batches, threads_list, input_size, tmp: Path, precisions=("fp32",)) -> list:
    from kdpose.export.bench import BenchRow, bench_onnx, bench_torch
    from kdpose.export.runtime import OrtRunner
    from kdpose.inference.precision import PrecisionModel, resolve_precision

    rows = []
    if name.endswith(".onnx"):
        onnx_files = {"onnxruntime": Path(name)}
        model, compute, label = None, None, Path(name).stem
        params_m = _onnx_params(Path(name)) / 1e6
    else:
        from kdpose.cli.export import load_any_model
        from kdpose.export.flops import count_flops
        from kdpose.export.onnx import export_onnx

        model = load_any_model(name, args.weights, args.layout, input_size)
        compute = count_flops(model)
        params_m = compute.params / 1e6
        label = name if args.layout is None else f"{name} ({args.layout})"
        onnx_files = {}
        if "onnxruntime" in backends:
            onnx_files["onnxruntime"] = export_onnx(model, tmp / f"{name}.onnx", model_name=name)
    if args.int8:
        from kdpose.export.quantize import quantize_int8

        fp32_file = onnx_files.get("onnxruntime")
        if fp32_file is None:  # a zoo model timed with torch only: quantised its name, not a file ("no such file")
            from kdpose.export.onnx import export_onnx

            fp32_file = export_onnx(model, tmp / f"{name}.onnx", model_name=name)
        label_int8 = "onnxruntime-int8" if args.int8 == "static" else "onnxruntime-int8-dynamic"
        onnx_files[label_int8] = quantize_int8(fp32_file, tmp / f"{Path(name).stem}.{args.int8}.onnx", mode=args.int8)
    common = dict(params_m=params_m, gflops=compute.gflops if compute else None,
                  gmacs=compute.gmacs if compute else None)
    nets = {}
    if model is not None and "torch" in backends:
        for requested in precisions:
            precision = resolve_precision(requested, "cpu")[0]  # fp16 on the CPU: a one-line error
            nets[precision] = model if precision == "fp32" else PrecisionModel(model, precision)
    for threads in threads_list:
        for precision, net in nets.items():
            for batch in batches:
                lat = bench_torch(net, batch, threads, args.warmup, args.iters)
                rows.append(BenchRow(label, "torch" if precision == "fp32" else f"torch-{precision}", batch, threads,
                                     lat.median_ms, lat.p90_ms, cpu_ms=lat.cpu_ms, extra={"precision": precision},
                                     **common))
        for backend, path in onnx_files.items():
            runner = OrtRunner(path, threads=threads)
            for batch in batches:
                lat = bench_onnx(runner, batch, args.warmup, args.iters)
                rows.append(BenchRow(label, backend, batch, threads, lat.median_ms, lat.p90_ms, cpu_ms=lat.cpu_ms,
                                     extra={"precision": runner.precision}, **common))
    return rows


def _onnx_params(path: Path) -> int:
    """Number of weights stored in an ONNX file (its initializers)."""
    import math

    import onnx

    from kdpose.errors import CheckpointError
    from kdpose.export.metadata import require_onnx_file

    require_onnx_file(path)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a valid ONNX file ({type(exc).__name__})") from None
    return sum(math.prod(t.dims) for t in proto.graph.initializer)


def _plot_points(rows, ap: dict[str, float], x: str, backend: str, threads) -> list[dict]:
    points = []
    for name, value in ap.items():
        match = [r for r in rows if r.model.split(" ")[0] == name]
        if not match:
            continue
        timed = [r for r in match if r.backend == backend and r.threads == threads] or match
        best = min(timed, key=lambda r: r.batch)
        points.append({"model": name, "ap": value, "gflops": best.gflops, "gmacs": best.gmacs,
                       "latency_ms": best.per_image_ms, "params_m": best.params_m})
    key = {"latency": "latency_ms"}.get(x, x)
    if any(p[key] is None for p in points):
        from kdpose.errors import ConfigError

        raise ConfigError(f"--plot-x {x} needs a value every plotted model has (ONNX files have no FLOP count)")
    return sorted(points, key=lambda p: p[key])
