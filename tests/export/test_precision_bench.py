"""Per-precision GEMM peaks and ``kdpose bench --precision / --int8`` (#27)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")

from kdpose.cli.main import main  # noqa: E402
from kdpose.errors import ConfigError  # noqa: E402
from kdpose.export.peaks import PEAK_KINDS, cpu_report, gemm_peak  # noqa: E402

from ..conftest import benchmark_fixture  # noqa: E402

precision_bench = benchmark_fixture("benchmarks/bench_precision.py", "bench_precision_script")


@pytest.mark.parametrize("kind", PEAK_KINDS)
def test_gemm_peaks_run_for_every_kind(kind):
    assert gemm_peak(kind, threads=1, n=32, repeats=1) > 0


def test_gemm_peak_bad_arguments_and_cpu_report():
    with pytest.raises(ConfigError, match="unknown GEMM peak 'ort-fp8'"):
        gemm_peak("ort-fp8")
    report = cpu_report()
    assert set(report["flags"]) >= {"avx2", "amx_bf16", "amx_int8", "avx512_bf16"}
    assert report["native_bf16"] == (report["flags"]["amx_bf16"] or report["flags"]["avx512_bf16"])


def test_bench_precision_rows_and_peaks(tmp_path, capsys):
    out = tmp_path / "b.json"
    rc = main(["bench", "rtmpose-t", "--input-size", "64x64", "--batch", "1", "--threads", "1", "--warmup", "0",
               "--iters", "1", "--precision", "fp32,bf16", "--int8", "dynamic", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    data = json.loads(out.read_text())
    backends = {r["backend"]: r["extra"]["precision"] for r in data["rows"]}
    assert backends == {"torch": "fp32", "torch-bf16": "bf16", "onnxruntime": "fp32",
                        "onnxruntime-int8-dynamic": "int8-dynamic"}
    assert set(data["precision_peaks_1_thread"]) == {"bf16"} and "matmul peak (bf16, torch-bf16)" in text
    # torch alone with --int8: the int8 file is still made from an fp32 export (it quantised the name "rtmpose-t")
    rc = main(["bench", "rtmpose-t", "--input-size", "64x64", "--batch", "1", "--threads", "1", "--warmup", "0",
               "--iters", "1", "--backend", "torch", "--int8", "dynamic", "--json", str(out)])
    assert rc == 0, capsys.readouterr()
    assert {r["backend"] for r in json.loads(out.read_text())["rows"]} == {"torch", "onnxruntime-int8-dynamic"}
    assert main(["bench", "rtmpose-t", "--precision", "fp8"]) == 2
    assert "--precision: unknown value(s) fp8" in capsys.readouterr().err


def test_precision_bench_pose_model(precision_bench):
    """--pose-model: a shipped tag brings its trained weights and input size (a meaningful guard), a model name is
    built at 256x192 with random weights, and a tag with --weights is refused in one line."""
    import torch

    from kdpose.models import load_model

    tag = "rtmpose-m.synth-standard_128x96"
    model, name, trained = precision_bench._pose_model(tag, None)
    assert (name, trained, tuple(model.input_size)) == ("rtmpose-m", True, (96, 128))
    shipped = load_model(tag)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), shipped.state_dict().values()))
    model, name, trained = precision_bench._pose_model("rtmpose-t", None)
    assert (name, trained, tuple(model.input_size)) == ("rtmpose-t", False, (192, 256))
    with pytest.raises(SystemExit, match="shipped tag with its own weights"):
        precision_bench._pose_model(tag, "w.safetensors")


def test_onednn_kernels_name_the_implementation(precision_bench):
    """The AMX probe reads the implementation column of oneDNN's verbose log (it once read the primitive kind, so an
    AMX CPU reported no AMX kernels). Lines as oneDNN 3 prints them on an AMX Xeon."""
    log = "\n".join([
        "onednn_verbose,v1,info,cpu,isa:Intel AVX10.1 and Intel AMX with bfloat16 and 8-bit integer support",
        "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:bf16::blocked:abcd::f0 dst:bf16::blocked:"
        "acdb::f0,attr-scratchpad:user,,8x64x64x48,1.59",
        "onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx10_1_512_amx,forward_training,src:bf16:a:"
        "blocked:acdb::f0 wei:bf16:a:blocked:AcdB16b16a2b::f0,,alg:convolution_direct,mb8_ic64oc64,2.1",
        "onednn_verbose,v1,primitive,exec,cpu,matmul,brg_matmul:avx10_1_512_amx,undef,src:bf16::blocked:ab::f0 wei:"
        "bf16::blocked:ab::f0,attr-scratchpad:user,,512x512:512x512,0.34",
        "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,forward_training,src:f32::blocked:abcd::f0,,,1.0",
    ])
    kernels = precision_bench.onednn_bf16_kernels(log)
    assert kernels == ["convolution brg_conv_fwd:avx10_1_512_amx", "matmul brg_matmul:avx10_1_512_amx",
                       "reorder jit:uni"]
    assert precision_bench.onednn_bf16_kernels("no oneDNN output") == []
