"""Inference at the hardware's speed (issue 27), side by side in one run: what the CPU offers (AMX, bf16, VNNI), the
matrix-multiply peaks per precision, RTMPose-m crop throughput per precision as a fraction of the matching peak, the
pose stage at N people against a per-person loop on the same fp32 ONNX file, and video frames per second.

    /work/shared/tools/heavy .venv/bin/python benchmarks/bench_precision.py --json /tmp/bench_precision.json
    .venv/bin/python benchmarks/bench_precision.py --quick                # small settings, a few minutes

Sections (all in one process, so every ratio compares numbers from the same minutes of the same machine):

1. **Machine**: CPU model and flags (avx2, avx512_vnni, avx512_bf16, amx_tile / amx_bf16 / amx_int8), torch's
   dispatch level, and whether AMX is really used: for PyTorch, oneDNN's verbose log of a bf16 convolution and
   matmul (the ISA line and the kernels' names, e.g. ``brg_conv_fwd:avx512_core_amx``), and on AMX CPUs the bf16
   GEMM peak again with ``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16`` (AMX off); for onnxruntime (no switch to turn AMX
   off), whether its process asked Linux for the AMX tile state (``arch_prctl(ARCH_GET_XCOMP_PERM)`` bit 18 after
   an int8 GEMM: MLAS requests it when it dispatches its AMX int8 kernels). Each probe runs in a fresh subprocess.
2. **GEMM peaks** (``kdpose.export.peaks``), with the benchmark's thread count: torch fp32 / bf16 / int8,
   onnxruntime fp32 (MatMul) / int8 (MatMulInteger, the kernels of static-int8 QDQ files).
3. **RTMPose-m crops at batch B** (default 8, 256x192): PyTorch fp32 and bf16 (``PrecisionModel``), onnxruntime fp32
   and static int8 (QDQ, calibrated on rendered people): crops/s, achieved G(FL)OP/s (model FLOPs x crops / time)
   and the fraction of the matching peak (bf16 -> torch bf16, int8 -> onnxruntime int8, fp32 -> the same engine's
   fp32 peak).
4. **Accuracy guard** of each faster path of ``--pose-model`` (default RTMPose-t; int8 ONNX, and bf16 torch where
   bf16 is native or ``--bf16-anyway``) against its fp32 file on rendered people (``kdpose.inference.guard``, or
   ``--val``). Random weights (no ``--weights``, not a tag) make this a smoke test only: a random network
   amplifies any rounding, so its guard fails.
5. **Pose stage at N people** (default 6) on a 640x480 frame, ``--pose-model`` (default RTMPose-t 256x192),
   round-robin timing: kdpose batched (fp32 ONNX), a per-person loop on the same file (rtmlib's ``RTMPose`` when
   ``--rtmlib-site`` points to an environment with rtmlib, else kdpose with ``max_batch=1``, labelled "rtmlib-style
   loop"), and kdpose with the fastest path that passed its guard (and the fastest one regardless, labelled
   unguarded). With ``--threads``, rtmlib's session is given the same thread count (rtmlib itself has no setting).
   Two more rows time the model alone on kdpose's fp32 session and crops (one batch; one crop per forward): the first
   over the loop is the fp32 ratio's compute floor, and kdpose fp32 minus it is what kdpose spends outside the
   forward.
6. **Video**: frames/s of kdpose infer's video pipeline (``FrameSource`` reading an mp4 + ``VideoPoseEstimator``:
   tracking, One-Euro) on a rendered 640x480 clip with ``--pose-model``, detector every frame and every 5th. The
   detector is ``--det`` (an official tag, a detector .onnx or built-in weights; its own boxes), else the built-in
   kdpose-det-tiny exported to ONNX with random weights, run for its cost with its boxes replaced by the true ones.

Latency does not depend on the weights; only section 4 does.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inference import load_rtmlib, make_frame  # noqa: E402

from kdpose.utils.entry import guarded, require_at_least  # noqa: E402

XTILEDATA_BIT = 18
_XCOMP_PROBE = """
import ctypes, json, sys
def tile_permitted():
    value = ctypes.c_uint64(0)
    rc = ctypes.CDLL(None).syscall(158, 0x1022, ctypes.byref(value))  # SYS_arch_prctl, ARCH_GET_XCOMP_PERM
    return None if rc != 0 else bool(value.value >> %d & 1)
before = tile_permitted()
from kdpose.export.peaks import gemm_peak
rate = gemm_peak("ort-int8", threads=1, n=256, repeats=2)
print(json.dumps({"tile_state_before": before, "tile_state_after": tile_permitted(), "int8_gops": rate}))
""" % XTILEDATA_BIT
_ONEDNN_PROBE = """
import json, torch
from kdpose.export.peaks import gemm_peak
x = torch.randn(8, 64, 64, 48); w = torch.randn(64, 64, 3, 3)
torch.nn.functional.conv2d(x, w)  # fp32: oneDNN starts and prints the ISA it dispatches to
torch.nn.functional.conv2d(x.bfloat16(), w.bfloat16())
a = torch.randn(512, 512).bfloat16(); a @ a
print("RESULT " + json.dumps({"bf16_gflops": gemm_peak("torch-bf16", threads=%s, n=%d, repeats=3)}))
"""


def _run_probe(code: str, env_extra: dict | None = None, timeout: int = 600) -> tuple[str, str]:
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)
    return proc.stdout, proc.stderr


def onednn_bf16_kernels(verbose: str) -> list[str]:
    """``primitive implementation`` of each bf16 primitive oneDNN executed, from its verbose log: an exec line is
    ``onednn_verbose,v1,primitive,exec,cpu,<primitive>,<implementation>,...``, and the implementation names the ISA
    (``brg_conv_fwd:avx10_1_512_amx`` on an AMX CPU)."""
    found = set()
    for line in verbose.splitlines():
        fields = line.split(",")
        if line.startswith("onednn_verbose") and "exec" in fields and "bf16" in line:
            at = fields.index("exec") + 2  # after the engine (cpu): the primitive kind, then the implementation
            if len(fields) > at + 1:
                found.add(f"{fields[at]} {fields[at + 1]}")
    return sorted(found)


def probe_amx(threads: int | None, has_amx: bool, n: int) -> dict:
    """Does onnxruntime / oneDNN use AMX here? (see the module docstring, section 1)"""
    out: dict = {}
    stdout, stderr = _run_probe(_XCOMP_PROBE)
    try:
        out["onnxruntime"] = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        out["onnxruntime"] = {"error": (stderr.strip().splitlines() or ["no output"])[-1][:200]}
    stdout, stderr = _run_probe(_ONEDNN_PROBE % (threads, n), {"ONEDNN_VERBOSE": "1"})
    text = stdout + stderr
    isa = [line.split("isa:", 1)[1] for line in text.splitlines() if ",isa:" in line]
    kernels = onednn_bf16_kernels(text)
    result = next((json.loads(line[7:]) for line in text.splitlines() if line.startswith("RESULT ")), {})
    out["torch_onednn"] = {"isa": isa[0] if isa else "oneDNN not used (no verbose output)",
                           "bf16_kernels": kernels or ["none: bf16 ran outside oneDNN (emulated)"],
                           "amx_kernels": any("amx" in k for k in kernels), **result}
    if has_amx:
        stdout, _ = _run_probe(_ONEDNN_PROBE % (threads, n), {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"})
        no_amx = next((json.loads(line[7:]) for line in stdout.splitlines() if line.startswith("RESULT ")), {})
        out["torch_bf16_gflops_without_amx"] = no_amx.get("bf16_gflops")
    else:
        out["torch_bf16_gflops_without_amx"] = "not measured: this CPU has no AMX"
    return out


def gemm_peaks(threads: int | None, n: int, bf16_n: int) -> dict:
    from kdpose.export.peaks import PEAK_KINDS, gemm_peak

    return {kind: gemm_peak(kind, threads=threads, n=bf16_n if kind in ("torch-bf16", "torch-int8") else n,
                            repeats=5) for kind in PEAK_KINDS}


def _model(name: str, weights: str | None, input_size: tuple[int, int]):
    from kdpose.export.bench import realistic_random_weights
    from kdpose.models import load_model

    model = load_model(name, weights=weights, layout="coco", input_size=input_size).eval()
    return model if weights else realistic_random_weights(model, seed=0)


def _pose_model(spec: str, weights: str | None):
    """(model, name, trained) of ``--pose-model``: a shipped tag loads its own weights and input size; a model name is
    built at 256x192 with ``--weights`` or realistic random weights."""
    from kdpose.models import PRETRAINED, load_model

    if spec in PRETRAINED:
        if weights:
            raise SystemExit(f"--weights: {spec} is a shipped tag with its own weights; give one or the other")
        if PRETRAINED[spec].loads != "model" or PRETRAINED[spec].layout != "coco":
            raise SystemExit(f"--pose-model: {spec} is not a whole top-down coco model")
        return load_model(spec).eval(), PRETRAINED[spec].model, True
    return _model(spec, weights, (192, 256)), spec, bool(weights)


def _files(model, name: str, tmp: Path, calib_count: int) -> dict[str, Path]:
    from kdpose.export.onnx import export_onnx
    from kdpose.export.quantize import quantize_int8

    fp32 = export_onnx(model, tmp / f"{name}.onnx", model_name=name)
    return {"fp32": fp32, "int8": quantize_int8(fp32, tmp / f"{name}.int8.onnx", calibration_count=calib_count)}


def crop_throughput(model, files: dict, peaks: dict, batch: int, threads: int | None, iters: int,
                    bf16: bool, native_bf16: bool = True) -> list[dict]:
    from kdpose.export.bench import bench_onnx, bench_torch
    from kdpose.export.flops import count_flops
    from kdpose.export.runtime import OrtRunner
    from kdpose.inference.precision import PrecisionModel

    gflops = count_flops(model).gflops
    cases = [("PyTorch fp32", lambda: bench_torch(model, batch, threads, 2, iters), "torch-fp32")]
    if bf16:
        low = PrecisionModel(model, "bf16")
        cases.append(("PyTorch bf16", lambda: bench_torch(low, batch, threads, 1, iters), "torch-bf16"))
    for precision, path in files.items():
        runner = OrtRunner(path, threads=threads)
        cases.append((f"onnxruntime {precision}", lambda r=runner: bench_onnx(r, batch, 2, iters), f"ort-{precision}"))
    rows = []
    for label, fn, peak_kind in cases:
        lat = fn()
        rate = gflops * batch / (lat.median_ms / 1e3)
        rows.append({"path": label, "batch": batch, "ms_per_batch": lat.median_ms, "crops_per_s": 1e3 * batch /
                     lat.median_ms, "achieved_gops": rate, "peak": peak_kind, "peak_gops": peaks[peak_kind],
                     "fraction_of_peak": rate / peaks[peak_kind],
                     "note": "" if native_bf16 or peak_kind != "torch-bf16" else "emulated bf16: not a hardware peak"})
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}), file=sys.stderr)
    return rows


def guard_paths(model, files: dict, val, threads: int | None, bf16: bool) -> dict:
    from kdpose.inference.backends import OnnxBackend, TorchBackend
    from kdpose.inference.guard import accuracy_guard

    reference = OnnxBackend(files["fp32"], threads=threads)
    reports = {"int8": accuracy_guard(reference, OnnxBackend(files["int8"], threads=threads), val, "int8")}
    if bf16:
        torch_fp32 = TorchBackend(model, threads=threads)
        reports["bf16"] = accuracy_guard(torch_fp32, torch_fp32.with_precision("bf16"), val, "bf16")
    for report in reports.values():
        print(report.line(), file=sys.stderr)
    return reports


def interleaved_wall_cpu_ms(fns: dict, repeats: int, warmup: int = 2) -> tuple[dict, dict]:
    """Median wall and CPU (this process, all threads) ms of each callable, timed round-robin. With one thread the
    CPU time does not count the time other jobs hold the cores; with several it counts onnxruntime's spinning."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    wall: dict = {k: [] for k in fns}
    cpu: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c, t = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    return ({k: 1000 * statistics.median(v) for k, v in wall.items()},
            {k: 1000 * statistics.median(v) for k, v in cpu.items()})


def pose_stage(model, files: dict, guards: dict, people: int, repeats: int, threads: int | None, rtmlib_cls,
               bf16: bool) -> dict:
    from kdpose.data.crops import crop_people
    from kdpose.inference.estimator import PoseEstimator

    frame, boxes = make_frame(max(people, 1), seed=0)
    boxes = boxes[:people]
    fp32 = str(files["fp32"])
    ests = {"kdpose fp32": PoseEstimator(fp32, nms_thr=None, threads=threads),
            "kdpose int8": PoseEstimator(str(files["int8"]), nms_thr=None, threads=threads)}
    if bf16:
        ests["kdpose bf16"] = PoseEstimator(model, nms_thr=None, threads=threads, precision="bf16")
    fns = {k: (lambda e=e: e.predict_arrays(frame, bboxes=boxes)) for k, e in ests.items()}
    # the model alone on kdpose's fp32 session and crops: batched, and one crop per forward as the loop runs it
    backend = ests["kdpose fp32"].backend
    runner = backend.runner
    crops = crop_people([frame], [boxes], backend.input_size, backend.mean, backend.std, backend.channel_order).inputs
    batch_key, single_key = f"model only: batch of {people}", f"model only: {people} x batch 1"
    fns[batch_key] = lambda: runner.run(crops)
    fns[single_key] = lambda: [runner.run(crops[i:i + 1]) for i in range(len(crops))]
    if rtmlib_cls is not None:
        rtm = rtmlib_cls(fp32, model_input_size=tuple(model.input_size), backend="onnxruntime", device="cpu")
        if threads:  # rtmlib has no thread setting; without this, --threads 1 timed kdpose on one thread against
            # rtmlib on onnxruntime's default (one per core)
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
            rtm.session = ort.InferenceSession(fp32, sess_options=opts, providers=rtm.session.get_providers())
        frame_rgb = np.ascontiguousarray(frame[..., ::-1])  # rtmlib does not swap BGR -> RGB: same crops as kdpose
        fns["loop: rtmlib"] = lambda: rtm(frame_rgb, bboxes=boxes.tolist())
        loop = "loop: rtmlib"
    else:
        looped = PoseEstimator(fp32, nms_thr=None, threads=threads, max_batch=1)
        fns["loop: rtmlib-style (kdpose, max_batch=1)"] = lambda: looped.predict_arrays(frame, bboxes=boxes)
        loop = "loop: rtmlib-style (kdpose, max_batch=1)"
    ms, cpu_ms = interleaved_wall_cpu_ms(fns, repeats)
    passed = ["kdpose fp32"] + [f"kdpose {p}" for p, r in guards.items() if r.passed and f"kdpose {p}" in ms]
    guarded = min(passed, key=ms.get)
    fastest = min((k for k in ms if k.startswith("kdpose")), key=ms.get)
    return {"people": people, "ms": ms, "cpu_ms": cpu_ms, "loop": loop, "fastest_guarded": guarded,
            "fastest_unguarded": fastest,
            "ratio_fp32": ms["kdpose fp32"] / ms[loop], "ratio_fastest_guarded": ms[guarded] / ms[loop],
            "ratio_fastest_unguarded": ms[fastest] / ms[loop],
            # the fp32 ratio kdpose would have with nothing but the model's forward (its compute floor), and the
            # share of kdpose's fp32 stage spent outside the forward (cropping, normalising, decoding, checks)
            "model_batched": batch_key, "model_single": single_key, "floor_fp32": ms[batch_key] / ms[loop],
            "outside_model_fp32": 1.0 - ms[batch_key] / ms["kdpose fp32"],
            "cpu_ratio_fp32": cpu_ms["kdpose fp32"] / cpu_ms[loop], "cpu_floor_fp32": cpu_ms[batch_key] / cpu_ms[loop]}


def _clip(path: Path, frames: int, people: int) -> list[np.ndarray]:
    """A 640x480 mp4 of rendered people panning sideways; returns the true boxes of every frame."""
    import cv2

    from kdpose.data.synth import SynthConfig, render_scene

    cfg = SynthConfig.from_preset("standard", min_people=people, max_people=people, truncation=0.0)
    scene = render_scene(cfg, (0, 2, 7))
    base = np.stack([np.asarray(i.bbox, np.float32) for i in scene.instances]) if scene.instances else \
        np.zeros((0, 4), np.float32)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    boxes = []
    for i in range(frames):
        dx = 2 * i
        writer.write(np.roll(scene.image, dx, axis=1))
        boxes.append(np.clip(base + [dx, 0, dx, 0], 0, [639, 479, 639, 479]))
    writer.release()
    return boxes


def video_fps(fp32: Path, tmp: Path, frames: int, people: int, det_spec: str | None, threads: int | None) -> dict:
    from kdpose.inference.detectors import resolve_detector, run_detector
    from kdpose.inference.estimator import PoseEstimator
    from kdpose.inference.sources import FrameSource
    from kdpose.inference.video import VideoPoseEstimator

    clip = tmp / "clip.mp4"
    truth = _clip(clip, frames, people)
    if det_spec:
        real, label, replace = resolve_detector(det_spec, score_thr=0.3), det_spec, False
    else:
        from kdpose.cli.export import load_any_model
        from kdpose.export.bench import realistic_random_weights
        from kdpose.export.onnx import export_onnx

        det = realistic_random_weights(load_any_model("kdpose-det-tiny", None, None, (416, 416)), seed=0)
        path = export_onnx(det, tmp / "det.onnx", model_name="kdpose-det-tiny")
        real, replace = resolve_detector(str(path), score_thr=0.3), True
        label = "kdpose-det-tiny 416x416 ONNX, random weights: run for its cost, boxes replaced by the true ones"
    out = {"detector": label}
    for every in (1, 5):
        state = {"i": 0}

        def detector(image):
            boxes, scores = run_detector(real, image)
            if replace:
                boxes, scores = truth[state["i"]], np.ones(len(truth[state["i"]]), np.float32)
            return boxes, scores

        est = PoseEstimator(str(fp32), detector=detector, threads=threads)
        video = VideoPoseEstimator(est, det_every=every)
        source = FrameSource(str(clip))
        found, count = 0, 0
        start = time.perf_counter()
        for frame in source:
            state["i"] = frame.index
            found += len(video.process([frame.image], [frame.index])[0].keypoints)
            count += 1
        elapsed = time.perf_counter() - start
        out[f"detector every {every}"] = {"fps": count / elapsed, "frames": count, "people_per_frame": found / count,
                                          "detector_ms_per_frame": 1e3 * est.timings["detect_s"] / count,
                                          "pose_ms_per_frame": 1e3 * est.timings["pose_s"] / count}
        print(json.dumps(out[f"detector every {every}"]), file=sys.stderr)
    return out


def report(result: dict) -> str:
    m = result["machine"]
    flags = ", ".join(f for f, on in m["flags"].items() if on) or "none of the listed"
    lines = [f"Machine: {m['cpu']}, flags: {flags}; native bf16: {m['native_bf16']}; torch {m.get('torch')} "
             f"({m.get('torch_cpu_capability')}), onnxruntime {m.get('onnxruntime')}; {os.cpu_count()} CPUs, "
             f"threads {result['settings']['threads'] or 'default'}; load average {result['load'][0]:.1f} before / "
             f"{result['load'][1]:.1f} after.", ""]
    amx = result["amx"]
    ort_probe = amx["onnxruntime"]
    lines.append(f"AMX in use: onnxruntime asked for the AMX tile state: {ort_probe.get('tile_state_after')} "
                 f"(before its int8 GEMM: {ort_probe.get('tile_state_before')}); oneDNN (PyTorch) ISA: "
                 f"{amx['torch_onednn']['isa']}, bf16 kernels: {', '.join(amx['torch_onednn']['bf16_kernels'])}; "
                 f"torch bf16 GEMM without AMX: {amx['torch_bf16_gflops_without_amx']}.")
    lines += ["", "| GEMM peak | G(FL)OP/s |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in result["peaks"].items()]
    lines += ["", "| RTMPose-m path | batch | ms / batch | crops/s | achieved G(FL)OP/s | peak | fraction of peak |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['path']} | {r['batch']} | {r['ms_per_batch']:.1f} | {r['crops_per_s']:.1f} | "
              f"{r['achieved_gops']:.1f} | {r['peak']} {r['peak_gops']:.1f} | {100 * r['fraction_of_peak']:.0f} %"
              f"{' (' + r['note'] + ')' if r.get('note') else ''} |"
              for r in result["crops"]]
    lines += ["", f"Guard, pose stage and video model: {result.get('pose_model', 'rtmpose-t 192x256')}."]
    lines += [""] + [f"- {line}" for line in result["guard_lines"]]
    p = result["pose_stage"]
    lines += ["", f"Pose stage, {p['people']} people (ms per frame, median of {result['settings']['repeats']} "
                  "round-robin rounds; CPU: this process's CPU time):", "",
              "| path | ms | / loop | CPU ms | / loop |", "|---|---|---|---|---|"]
    cpu = p.get("cpu_ms", {})
    lines += [f"| {k} | {v:.1f} | {v / p['ms'][p['loop']]:.2f} | "
              + (f"{cpu[k]:.1f} | {cpu[k] / cpu[p['loop']]:.2f} |" if cpu else "- | - |") for k, v in p["ms"].items()]
    lines += ["", f"kdpose fp32 / loop {p['ratio_fp32']:.2f}; fastest guarded ({p['fastest_guarded']}) / loop "
                  f"{p['ratio_fastest_guarded']:.2f}; fastest unguarded ({p['fastest_unguarded']}) / loop "
                  f"{p['ratio_fastest_unguarded']:.2f}."]
    if "floor_fp32" in p:
        lines += [f"Model alone (kdpose's fp32 session, the same crops): {p['model_batched']} "
                  f"{p['ms'][p['model_batched']]:.1f} ms, {p['model_single']} {p['ms'][p['model_single']]:.1f} ms; "
                  f"compute floor of kdpose fp32 / loop {p['floor_fp32']:.2f} (CPU time {p['cpu_floor_fp32']:.2f}); "
                  f"kdpose fp32 outside the forward {100 * p['outside_model_fp32']:.0f} % of its stage."]
    v = result["video"]
    lines += ["", f"Video ({v['detector']}):"]
    for key in ("detector every 1", "detector every 5"):
        r = v[key]
        lines.append(f"- {key}: {r['fps']:.2f} fps ({r['frames']} frames, {r['people_per_frame']:.1f} people/frame, "
                     f"detector {r['detector_ms_per_frame']:.1f} ms/frame, pose {r['pose_ms_per_frame']:.1f} ms/frame)")
    return "\n".join(lines)


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """Refuse a bad value before the minutes of probes and GEMM peaks: counts, the model, weights, detector and val
    files, the output path. Returns the val set when ``--val`` names a file (read here, once)."""
    from kdpose.cli.main import require_extra
    from kdpose.data.synth import SynthConfig
    from kdpose.errors import CheckpointError
    from kdpose.models import MODELS, PRETRAINED
    from kdpose.utils.io import check_output_file

    require_at_least(parser, args, threads=1, batch=1, iters=1, repeats=1, people=1, gemm_n=1, val_images=1,
                     calib_count=1, video_frames=1, video_people=1)
    if args.people > 9:
        parser.error(f"--people must be from 1 to 9 (the frame's 3x3 grid), got {args.people}")
    SynthConfig.from_preset("standard", min_people=args.video_people, max_people=args.video_people)  # ConfigError
    if args.pose_model in PRETRAINED:
        if args.weights:
            parser.error(f"--weights: {args.pose_model} is a shipped tag with its own weights; give one or the other")
        if PRETRAINED[args.pose_model].loads != "model" or PRETRAINED[args.pose_model].layout != "coco":
            parser.error(f"--pose-model: {args.pose_model} is not a whole top-down coco model")
    elif "." in args.pose_model:
        PRETRAINED[args.pose_model]  # UnknownNameError with the close tags
    else:
        MODELS.get(args.pose_model)  # UnknownNameError with the close names
    for flag, path in (("--weights", args.weights), ("--weights-m", args.weights_m)):
        if path and not Path(path).is_file():
            raise CheckpointError(f"{path}: no such weights file ({flag})")
    if args.rtmlib_site is not None and not os.path.isdir(os.path.join(args.rtmlib_site, "rtmlib")):
        parser.error(f"--rtmlib-site {args.rtmlib_site}: no rtmlib folder there (give the site-packages folder of "
                     "an environment with rtmlib installed)")
    if args.json:
        check_output_file(args.json, "--json", "bench_precision.json")
    for module in ("onnx", "onnxruntime"):
        require_extra(module, "benchmarks/bench_precision.py")
    if args.det:
        from kdpose.inference.detectors import resolve_detector

        resolve_detector(args.det, score_thr=0.3)  # an unknown name or a missing file: one line now, not at the end
    if args.val != "synthetic":
        from kdpose.inference.guard import load_val_set

        return load_val_set(args.val, "coco", max_images=args.val_images)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, help="threads of every engine (default: their defaults)")
    parser.add_argument("--batch", type=int, default=8, help="RTMPose-m crops per forward (default 8)")
    parser.add_argument("--iters", type=int, default=10, help="timed forwards per crop-throughput path")
    parser.add_argument("--repeats", type=int, default=15, help="round-robin rounds of the pose stage")
    parser.add_argument("--people", type=int, default=6, help="people in the pose-stage frame (default 6)")
    parser.add_argument("--gemm-n", type=int, default=1024, help="GEMM size of the peaks (bf16/int8 torch: /2 "
                                                                 "where emulated)")
    parser.add_argument("--pose-model", default="rtmpose-t", metavar="NAME|TAG",
                        help="model of the guard, pose stage and video: a model name (256x192, --weights or random "
                             "weights; default rtmpose-t) or a shipped tag (its trained weights and input size, e.g. "
                             "rtmpose-m.synth-standard_128x96)")
    parser.add_argument("--weights", help="weights of --pose-model (a model name) for the guard / pose stage "
                                          "(default: random)")
    parser.add_argument("--weights-m", help="RTMPose-m weights (latency does not depend on them)")
    parser.add_argument("--val", default="synthetic", help="guard val set: 'synthetic' or a COCO keypoint file")
    parser.add_argument("--val-images", type=int, default=16, help="guard val images (default 16)")
    parser.add_argument("--calib-count", type=int, default=64, help="int8 calibration crops (default 64)")
    parser.add_argument("--video-frames", type=int, default=60)
    parser.add_argument("--video-people", type=int, default=4)
    parser.add_argument("--det", help="detector for the video (official tag, .onnx, weights); default: see doc")
    parser.add_argument("--bf16-anyway", action="store_true", help="also time / guard bf16 where it is emulated")
    parser.add_argument("--rtmlib-site", help="site-packages of an environment with rtmlib (default: "
                                              "/tmp/rtmlib_venv/lib/python3*/site-packages; else a kdpose loop)")
    parser.add_argument("--quick", action="store_true", help="small settings: iters 3, repeats 5, GEMM 512, "
                                                             "4 val images, 16 calibration crops, 20 video frames")
    parser.add_argument("--json", help="write every number here")
    args = parser.parse_args()
    if args.quick:
        args.iters, args.repeats, args.gemm_n, args.val_images = 3, 5, 512, 4
        args.calib_count, args.video_frames = 16, 20
    val_file = check_args(parser, args)
    if args.rtmlib_site is None:
        args.rtmlib_site = next(iter(sorted(Path("/tmp/rtmlib_venv/lib").glob("python3*/site-packages"))), None)
    import torch

    from kdpose.export.peaks import cpu_report
    from kdpose.inference.guard import synthetic_val_set

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    machine = cpu_report()
    bf16 = machine["native_bf16"] or args.bf16_anyway
    small_n = args.gemm_n if machine["native_bf16"] else max(64, args.gemm_n // 4)  # emulated bf16 is ~100x slower
    result: dict = {"settings": vars(args), "machine": machine}
    print("probing AMX use ...", file=sys.stderr)
    result["amx"] = probe_amx(args.threads, machine["amx"], small_n)
    print("GEMM peaks ...", file=sys.stderr)
    result["peaks"] = gemm_peaks(args.threads, args.gemm_n, small_n)
    with tempfile.TemporaryDirectory(prefix="kdpose-bench-precision-") as d:
        tmp = Path(d)
        model_m = _model("rtmpose-m", args.weights_m, (192, 256))
        files_m = _files(model_m, "rtmpose-m", tmp, args.calib_count)
        print("RTMPose-m crop throughput ...", file=sys.stderr)
        result["crops"] = crop_throughput(model_m, files_m, result["peaks"], args.batch, args.threads, args.iters,
                                          bf16, machine["native_bf16"])
        model_t, name_t, trained = _pose_model(args.pose_model, args.weights)
        files_t = _files(model_t, name_t, tmp, args.calib_count)
        w, h = model_t.input_size
        result["pose_model"] = f"{args.pose_model} {w}x{h}" + ("" if trained else " (random weights)")
        val = synthetic_val_set("coco", num_images=args.val_images) if val_file is None else val_file
        print("accuracy guard ...", file=sys.stderr)
        guards = guard_paths(model_t, files_t, val, args.threads, bf16)
        result["guard"] = {k: r.as_dict() for k, r in guards.items()}
        result["guard_lines"] = [r.line() + ("" if trained else " [random weights: not an accuracy measure]")
                                 for r in guards.values()]
        print("pose stage ...", file=sys.stderr)
        result["pose_stage"] = pose_stage(model_t, files_t, guards, args.people, args.repeats, args.threads,
                                          load_rtmlib(args.rtmlib_site), bf16)
        print("video ...", file=sys.stderr)
        result["video"] = video_fps(files_t["fp32"], tmp, args.video_frames, args.video_people, args.det,
                                    args.threads)
    result["load"] = [load_before, os.getloadavg()[0]]
    print(report(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    raise SystemExit(guarded(main))
