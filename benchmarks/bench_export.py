"""Deployment benchmark: ONNX vs PyTorch parity, fp16 / int8 error, latency (PyTorch vs onnxruntime, 1 thread and
all threads, batch 1 and 8), achieved GFLOP/s against a measured matmul peak, and the RTMPose paper's CPU column.

    .venv/bin/python benchmarks/bench_export.py [--iters 20] [--json benchmarks/results/export.json]
    .venv/bin/python benchmarks/bench_export.py --quick          # smoke run: rtmpose-t only, few iterations

Models: rtmpose-t/s/m body-17 at 256x192 (h x w) and rtmpose-l whole-body-133 at 256x192. Weights are random
but trained-like (``realistic_random_weights``: BN statistics measured on inputs, unit-scale logits that depend
on the input); latency does not depend on the values, and parity on such weights is a fair test of the export.

Accuracy drop of fp16 / int8 needs a trained model and the synthetic val set:

    .venv/bin/python benchmarks/bench_export.py accuracy --config configs/rtmpose-t_synth-body.yaml \\
        --weights work_dirs/rtmpose-t_synth-body/best.safetensors

evaluates the PyTorch model and its fp32 / fp16 / int8 ONNX files with the recipe's evaluator (COCO OKS AP) and
measures how far each ONNX file moves the decoded keypoints from the PyTorch model's (crop pixels).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kdpose.export.bench import (BenchRow, bench_onnx, bench_torch, format_table, matmul_peak_gflops,
                                 realistic_random_weights)
from kdpose.export.flops import count_flops
from kdpose.export.onnx import _flatten_output, check_parity, export_onnx
from kdpose.export.quantize import quantize_fp16, quantize_int8
from kdpose.export.runtime import OrtRunner
from kdpose.models import create_model
from kdpose.utils.entry import guarded, require_at_least

MODELS = [  # (zoo name, layout, (w, h), label)
    ("rtmpose-t", "coco", (192, 256), "rtmpose-t body"),
    ("rtmpose-s", "coco", (192, 256), "rtmpose-s body"),
    ("rtmpose-m", "coco", (192, 256), "rtmpose-m body"),
    ("rtmpose-l", "coco_wholebody", (192, 256), "rtmpose-l whole-body"),
]
# RTMPose paper, Table 11: ONNXRuntime, 1 thread, batch 1, Intel i7-11700 (ms); GFLOPs there are MACs
PAPER_CPU_MS = {"rtmpose-t body": (0.36, 3.204), "rtmpose-s body": (0.68, 4.481), "rtmpose-m body": (1.93, 11.060),
                "rtmpose-l whole-body": (4.52, 23.410)}


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime

    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "python": platform.python_version(),
            "load_average_start": os.getloadavg()}


def _decode_px(model, arrays: list[np.ndarray]) -> torch.Tensor:
    """Decoded keypoints (B, K, 2) of SimCC outputs given as numpy arrays."""
    from kdpose.codecs.simcc import SimCCOutput

    return model.codec.decode(SimCCOutput(*(torch.from_numpy(a) for a in arrays)))[0]


def parity_section(model, label: str, files: dict[str, Path], batch: int = 8) -> dict:
    """fp32 parity (with float64 reference) and fp16/int8 deviation on one seeded random batch."""
    report = check_parity(model, files["fp32"], batch=batch, fp64_reference=True)
    w, h = model.input_size
    x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = [t.numpy() for t in _flatten_output(model(x))[0]]
    ref_kpts = _decode_px(model, ref)
    out = {"model": label, "fp32_max_abs_diff": report.max_diff, "fp32_keypoint_px_diff": report.keypoint_px_diff,
           "logit_scale": max(report.ref_scale.values()), "fp64_err_torch": report.fp64_err_torch,
           "fp64_err_onnx": report.fp64_err_onnx, "fp32_passed": report.passed}
    for precision in ("fp16", "int8", "int8-static"):
        got = list(OrtRunner(files[precision], threads=1)(x.numpy()))
        diff = (_decode_px(model, got) - ref_kpts).abs().amax(-1)
        out[f"{precision}_max_abs_diff"] = float(max(np.abs(g - r).max() for g, r in zip(got, ref)))
        out[f"{precision}_kpt_px_mean"] = float(diff.mean())
        out[f"{precision}_kpt_px_max"] = float(diff.max())
        out[f"{precision}_kpt_within_1px"] = float((diff <= 1.0).float().mean())
    return out


def latency_section(model, label: str, files: dict[str, Path], threads_list, batches, warmup, iters,
                    max_seconds: float) -> list:
    rows = []
    compute = count_flops(model)
    common = dict(params_m=compute.params / 1e6, gflops=compute.gflops, gmacs=compute.gmacs)
    for threads in threads_list:
        for batch in batches:
            lat = bench_torch(model, batch, threads, warmup, iters, max_seconds)
            rows.append(BenchRow(label, "torch", batch, threads, lat.median_ms, lat.p90_ms, cpu_ms=lat.cpu_ms,
                                 **common))
        for backend, key in (("onnxruntime", "fp32"), ("onnxruntime-int8", "int8"),
                             ("onnxruntime-int8-static", "int8-static")):
            runner = OrtRunner(files[key], threads=threads)
            for batch in batches:
                lat = bench_onnx(runner, batch, warmup, iters, max_seconds)
                rows.append(BenchRow(label, backend, batch, threads, lat.median_ms, lat.p90_ms, cpu_ms=lat.cpu_ms,
                                     **common))
            print(f"  {label}: {backend} threads={threads or 'all'} done", file=sys.stderr, flush=True)
    return rows


def run_benchmark(args) -> dict:
    torch.manual_seed(0)
    models = MODELS[:1] if args.quick else MODELS
    iters, warmup = (3, 1) if args.quick else (args.iters, args.warmup)
    threads_list = [1, None]
    batches = [1, 8]
    info = machine_info()
    peaks = {str(t or "all"): matmul_peak_gflops(t, n=1024) for t in threads_list}
    result = {"machine": info, "matmul_peak_gflops": peaks, "parity": [], "latency": [], "sizes_mib": {}}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for name, layout, size, label in models:
            print(f"{label}: export + quantise", file=sys.stderr, flush=True)
            model = realistic_random_weights(create_model(name, layout=layout, input_size=size).eval())
            start = time.perf_counter()
            fp32 = export_onnx(model, Path(tmp) / f"{name}.onnx", model_name=name)
            export_s = time.perf_counter() - start
            w, h = size
            calib = torch.randn(16, 3, h, w, generator=torch.Generator().manual_seed(2)).numpy()
            files = {"fp32": fp32, "fp16": quantize_fp16(fp32, Path(tmp) / f"{name}.fp16.onnx"),
                     "int8": quantize_int8(fp32, Path(tmp) / f"{name}.int8.onnx", mode="dynamic"),
                     "int8-static": quantize_int8(fp32, Path(tmp) / f"{name}.int8s.onnx", calibration=calib)}
            result["sizes_mib"][label] = {k: round(v.stat().st_size / 2**20, 2) for k, v in files.items()}
            result["sizes_mib"][label]["export_s"] = round(export_s, 2)
            result["parity"].append(parity_section(model, label, files))
            rows = latency_section(model, label, files, threads_list, batches, warmup, iters, args.max_seconds)
            result["latency"] += [r.as_dict() for r in rows]
    # peak again at the end: the machine is shared, so the load may have changed during the run
    result["matmul_peak_gflops_end"] = {str(t or "all"): matmul_peak_gflops(t, n=1024) for t in threads_list}
    result["machine"]["load_average_end"] = os.getloadavg()
    return result


def markdown(result: dict) -> str:
    lines = [f"Machine: {result['machine']['cpu']}, {result['machine']['logical_cpus']} logical CPUs, "
             f"torch {result['machine']['torch']}, onnxruntime {result['machine']['onnxruntime']}; load average "
             f"{result['machine']['load_average_start'][0]:.1f} at start, "
             f"{result['machine']['load_average_end'][0]:.1f} at end (shared machine).",
             "Matmul peak (float32 1024^3 torch.mm, best of 20): " + ", ".join(
                 f"{k} thread(s) {v:.1f} -> {result['matmul_peak_gflops_end'][k]:.1f} GFLOP/s (start -> end)"
                 for k, v in result["matmul_peak_gflops"].items()), "",
             "### Parity (batch 8, seeded random inputs; logits of order 1)", "",
             "| model | max abs logit diff torch vs ORT | decoded kpt diff (px) | torch fp32 err vs fp64 "
             "| ORT fp32 err vs fp64 | fp16 max logit diff | fp16 kpt px mean / max | int8 max logit diff "
             "| int8 kpt px mean / max | int8-static kpt px mean / max |", "|" + "---|" * 10]
    for p in result["parity"]:
        lines.append(f"| {p['model']} | {p['fp32_max_abs_diff']:.2e} | {p['fp32_keypoint_px_diff']:.3f} | "
                     f"{p['fp64_err_torch']:.2e} | {p['fp64_err_onnx']:.2e} | {p['fp16_max_abs_diff']:.2e} | "
                     f"{p['fp16_kpt_px_mean']:.2f} / {p['fp16_kpt_px_max']:.1f} | {p['int8_max_abs_diff']:.2e} | "
                     f"{p['int8_kpt_px_mean']:.2f} / {p['int8_kpt_px_max']:.1f} | "
                     f"{p['int8-static_kpt_px_mean']:.2f} / {p['int8-static_kpt_px_max']:.1f} |")
    rows = [BenchRow(**{k: v for k, v in r.items() if k in BenchRow.__dataclass_fields__})
            for r in result["latency"]]
    peaks = {None if k == "all" else int(k): v for k, v in result["matmul_peak_gflops"].items()}
    lines += ["", "### Latency (one forward pass, median / p90 over the timed runs)", "", format_table(rows, peaks)]
    lines += ["", "### vs the RTMPose paper (Table 11: ONNXRuntime, 1 thread, batch 1, Intel i7-11700)", "",
              "| model | paper GFLOPs (=GMACs) | kdpose GMACs | paper CPU ms | kdpose ORT wall ms | kdpose ORT CPU ms "
              "| CPU ms / paper ms |", "|---|---|---|---|---|---|---|"]
    for label, (paper_gmacs, paper_ms) in PAPER_CPU_MS.items():
        mine = [r for r in rows if r.model == label and r.backend == "onnxruntime" and r.threads == 1
                and r.batch == 1]
        if mine:
            r = mine[0]
            lines.append(f"| {label} | {paper_gmacs:.2f} | {r.gmacs:.3f} | {paper_ms:.2f} | {r.median_ms:.2f} | "
                         f"{r.cpu_ms:.2f} | {r.cpu_ms / paper_ms:.2f}x |")
    sizes = result["sizes_mib"]
    lines += ["", "File sizes (MiB) fp32 / fp16 / int8 / int8-static, export time: " + "; ".join(
        f"{k} {v['fp32']} / {v['fp16']} / {v['int8']} / {v['int8-static']}, {v['export_s']} s"
        for k, v in sizes.items())]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ accuracy (trained)
class _OnnxAsModule(torch.nn.Module):
    """Makes an ONNX file look like the PoseModel it came from (same NamedTuple output) for the evaluator."""

    def __init__(self, path: Path, output_type):
        super().__init__()
        self.runner = OrtRunner(path)
        self.output_type = output_type

    def forward(self, x: torch.Tensor):
        return self.output_type(*(torch.from_numpy(a) for a in self.runner(x.cpu().numpy())))


def run_accuracy(args) -> dict:
    from kdpose.data import TopDownDataset, collate_topdown
    from kdpose.tasks import build_model
    from kdpose.tasks.topdown import load_samples
    from kdpose.engine.config import load_recipe
    from kdpose.engine.validate import PoseEvaluator
    from kdpose.models import load_weights

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cfg = load_recipe(args.config)
    cfg.model.init_weights = ""  # --weights replaces everything; the recipe's start point need not exist here
    model = build_model(cfg.model)
    load_weights(model, args.weights)
    model.eval()
    samples, ann = load_samples(cfg.data, cfg.data.val, "val", "eval")
    val_set = TopDownDataset(samples, model.codec, skip_bad_images=True)
    evaluator = PoseEvaluator(val_set, collate_topdown, ann, model.codec, model.skeleton, layout=cfg.data.layout,
                              batch_size=cfg.data.val_batch_size, flip_test=False)
    w, h = model.input_size
    with torch.no_grad():
        output_type = type(model(torch.zeros(1, 3, h, w)))
    out = {"config": args.config, "weights": args.weights, "val_instances": len(samples)}
    with tempfile.TemporaryDirectory(prefix="bench-acc-") as tmp:
        fp32 = export_onnx(model, Path(tmp) / "m.onnx")
        calib = np.stack([np.asarray(val_set[i].inputs) for i in range(min(32, len(val_set)))])
        files = {"onnx-fp32": fp32, "onnx-fp16": quantize_fp16(fp32, Path(tmp) / "m.fp16.onnx"),
                 "onnx-int8": quantize_int8(fp32, Path(tmp) / "m.int8.onnx", mode="dynamic"),
                 "onnx-int8-static": quantize_int8(fp32, Path(tmp) / "m.int8s.onnx", calibration=calib)}
        out["torch"] = evaluator(model, torch.device("cpu"))
        crops = torch.stack([torch.as_tensor(val_set[i].inputs) for i in range(min(256, len(val_set)))])
        with torch.no_grad():
            ref, _ = model.codec.decode(model(crops))
        for key, path in files.items():
            onnx_model = _OnnxAsModule(path, output_type)
            out[key] = evaluator(onnx_model, torch.device("cpu"))
            got, _ = model.codec.decode(onnx_model(crops))
            shift = (got - ref).norm(dim=-1)  # crop pixels, every keypoint of up to 256 val crops
            out[key]["kpt_shift_vs_torch_px"] = {"mean": float(shift.mean()), "p99": float(shift.quantile(0.99)),
                                                 "max": float(shift.max())}
    print(json.dumps({k: ({"AP": v.get("AP"), **({"shift": v["kpt_shift_vs_torch_px"]}
                                                 if "kpt_shift_vs_torch_px" in v else {})}
                          if isinstance(v, dict) else v) for k, v in out.items()}, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="speed", choices=["speed", "accuracy"])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=8.0,
                        help="stop timing a configuration after this long (at least 5 runs)")
    parser.add_argument("--quick", action="store_true", help="rtmpose-t only, 3 iterations (smoke test)")
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument("--config", help="accuracy: training recipe (its val split and evaluator)")
    parser.add_argument("--weights", help="accuracy: trained weights of the recipe's model")
    args = parser.parse_args(argv)
    require_at_least(parser, args, iters=1, warmup=0)
    if not args.max_seconds > 0:
        parser.error(f"--max-seconds must be > 0, got {args.max_seconds}")
    if args.mode == "accuracy" and not (args.config and args.weights):
        parser.error("accuracy needs --config and --weights (a trained model)")
    from kdpose.cli.main import require_extra
    from kdpose.utils.io import check_output_file

    if args.json:
        check_output_file(args.json, "--json", "export.json")
    for module in ("onnx", "onnxruntime"):  # every mode exports and runs ONNX files: say so before any work
        require_extra(module, "benchmarks/bench_export.py")
    if args.mode == "accuracy":
        result = run_accuracy(args)
    else:
        result = run_benchmark(args)
        print(markdown(result))
    if args.json:
        from kdpose.utils.io import write_json

        write_json(args.json, result, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(main))
