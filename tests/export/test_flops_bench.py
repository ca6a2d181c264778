"""FLOPs/MACs counting, latency statistics, matmul peak, table and plot helpers."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from kdpose.export.bench import BenchRow, format_table, matmul_peak_gflops, plot_accuracy, time_fn
from kdpose.export.flops import count_flops, count_params


class _ConvNet(nn.Module):
    input_size = (16, 8)  # (w, h)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.fc = nn.Linear(8 * 8 * 16, 10)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


def test_flops_are_twice_the_macs_of_conv_and_linear():
    model = _ConvNet()
    compute = count_flops(model)
    conv_macs = 8 * 3 * 9 * 8 * 16           # out_ch * in_ch * k*k * H * W
    fc_macs = 8 * 8 * 16 * 10
    assert compute.macs == conv_macs + fc_macs
    assert compute.flops == 2 * compute.macs
    assert compute.params == count_params(model) == 8 * 3 * 9 + 8 * 8 * 16 * 10 + 10
    assert compute.input_size == (16, 8)


def test_flops_of_tiny_pose_model_scale_with_input(simcc_model):
    small = count_flops(simcc_model)
    assert small.gflops == pytest.approx(small.flops / 1e9)
    assert small.gmacs * 2 == pytest.approx(small.gflops)
    assert small.flops > 0


def test_time_fn_statistics_are_ordered():
    calls = []
    lat = time_fn(lambda: calls.append(sum(range(1000))), warmup=2, iters=9)
    assert len(calls) == 11 and lat.iters == 9
    assert 0 < lat.median_ms <= lat.p90_ms


def test_matmul_peak_is_positive_and_restores_threads():
    before = torch.get_num_threads()
    peak = matmul_peak_gflops(threads=1, n=128, repeats=3)
    assert peak > 0.1
    assert torch.get_num_threads() == before


def test_bench_row_and_table():
    row = BenchRow("m", "onnxruntime", batch=8, threads=1, median_ms=16.0, p90_ms=20.0, params_m=3.3,
                   gflops=0.7, gmacs=0.35, cpu_ms=8.0)
    assert row.per_image_ms == 2.0
    assert row.achieved_gflops_s == pytest.approx(0.7 * 8 / 0.016)
    assert row.gflops_per_core == pytest.approx(0.7 * 8 / 0.008)   # a busy machine: CPU time < wall time
    table = format_table([row], peak_gflops={1: 1400.0})
    header, _, line = table.splitlines()
    assert "% of 1-thread matmul peak" in header and "GMACs" in header and "CPU ms" in header
    assert line == ("| m | 3.30 | 0.350 | 0.700 | onnxruntime | 1 | 8 | 16.00 | 20.00 | 8.00 | 2.00 | 350.0 | 700.0 "
                    "| 50.0 |")
    assert row.as_dict()["per_image_ms"] == 2.0
    no_cpu = BenchRow("m", "torch", batch=1, threads=None, median_ms=1.0, p90_ms=1.0)
    assert no_cpu.gflops_per_core is None and "| all |" in format_table([no_cpu])


def test_time_fn_records_cpu_time():
    lat = time_fn(lambda: sum(i * i for i in range(20000)), warmup=1, iters=5)
    assert 0 < lat.cpu_ms <= lat.median_ms * 1.5 + 1.0


def test_plot_writes_png(tmp_path):
    pts = [{"model": "a", "ap": 60.0, "gflops": 0.7, "params_m": 3.0},
           {"model": "b", "ap": 70.0, "gflops": 3.8, "params_m": 13.0}]
    out = plot_accuracy(pts, str(tmp_path / "fig.png"), x="gflops")
    data = (tmp_path / "fig.png").read_bytes()
    assert out.endswith("fig.png") and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def test_time_fn_time_budget_stops_early_but_keeps_min_iters():
    import time as _time

    lat = time_fn(lambda: _time.sleep(0.02), warmup=0, iters=100, max_seconds=0.01, min_iters=3)
    assert lat.iters == 3 and lat.median_ms >= 19.0
