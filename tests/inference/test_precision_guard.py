"""Inference precision (fp32 / bf16 / fp16 / auto) and the accuracy guard (AP drop, keypoint shift), with numbers."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from kdpose.data.geometry import get_warp_matrix
from kdpose.errors import ConfigError
from kdpose.inference import precision as prec
from kdpose.inference.backends import TorchBackend
from kdpose.inference.guard import GuardReport, accuracy_guard, synthetic_val_set
from kdpose.skeletons import get_skeleton

from ..export.conftest import make_simcc_model


@pytest.fixture(scope="module")
def val():
    # the hard preset labels small people too, so a few small images give several people
    return synthetic_val_set("coco", num_images=3, seed=0, preset="hard", size=(320, 240), max_people=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class OracleBackend:
    """Predicts the ground truth of ``val`` (crop pixels), moved by ``offset`` px: a model of known accuracy."""

    channel_order = "RGB"
    mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)

    def __init__(self, val, input_size=(48, 64), offset=(0.0, 0.0)):
        self.input_size = input_size
        self.skeleton = get_skeleton("coco")
        crops = val.crops(input_size, self.mean, self.std)
        mats = get_warp_matrix(crops.center, crops.scale, 0.0, input_size)          # image -> crop
        gt = np.concatenate(val.keypoints).astype(np.float64)                     # (N, K, 2) image px
        self.truth = np.einsum("nij,nkj->nki", mats[:, :, :2], gt) + mats[:, None, :, 2] + np.asarray(offset)
        self.next = 0

    def predict(self, inputs, flip=False):
        out = self.truth[self.next:self.next + len(inputs)]
        self.next = (self.next + len(inputs)) % len(self.truth)
        return out.astype(np.float32), np.ones(out.shape[:2], np.float32)


def test_guard_oracle_numbers(val):
    assert val.num_people >= 3
    exact = accuracy_guard(OracleBackend(val), OracleBackend(val), val, "int8")
    assert exact.ap_fp32 == pytest.approx(100.0, abs=1e-6) and exact.ap_drop == 0.0
    assert exact.mean_shift_px == 0.0 and exact.passed
    # every labelled keypoint moved by (3, 4) crop px: mean shift exactly 5 px, and AP falls: the guard fails
    moved = accuracy_guard(OracleBackend(val), OracleBackend(val, offset=(3.0, 4.0)), val, "int8")
    assert moved.mean_shift_px == pytest.approx(5.0, abs=1e-4) and moved.max_shift_px == pytest.approx(5.0, abs=1e-4)
    assert moved.ap_variant < moved.ap_fp32 - 0.5 and not moved.passed
    assert "FAIL" in moved.line() and "mean keypoint shift 5.000 px" in moved.line()
    # a quarter-pixel move stays within the 1 px limit
    small = accuracy_guard(OracleBackend(val), OracleBackend(val, offset=(0.25, 0.0)), val, "bf16")
    assert small.mean_shift_px == pytest.approx(0.25, abs=1e-4) and small.mean_shift_px <= 1.0


def test_guard_report_thresholds():
    base = dict(precision="int8", val_name="v", p99_shift_px=0.0, max_shift_px=0.0, num_people=1)
    assert GuardReport(ap_fp32=70.0, ap_variant=69.5, mean_shift_px=1.0, **base).passed        # both at the limit
    assert not GuardReport(ap_fp32=70.0, ap_variant=69.4, mean_shift_px=0.1, **base).passed    # AP drop 0.6
    assert not GuardReport(ap_fp32=70.0, ap_variant=70.0, mean_shift_px=1.01, **base).passed   # shift
    assert GuardReport(ap_fp32=70.0, ap_variant=71.0, mean_shift_px=0.0, **base).ap_drop == -1.0


def test_guard_same_model_zero_shift_perturbed_model_fails(val):
    model = make_simcc_model()
    ref = TorchBackend(model, threads=1)
    same = accuracy_guard(ref, TorchBackend(make_simcc_model(), threads=1), val, "fp32")
    assert same.mean_shift_px == 0.0 and same.ap_drop == 0.0 and same.passed
    perturbed = make_simcc_model()
    with torch.no_grad():
        for p in perturbed.head.parameters():
            p.add_(0.5 * p.std() * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    report = accuracy_guard(ref, TorchBackend(perturbed, threads=1), val, "int8")
    assert report.mean_shift_px > 1.0 and not report.passed, report.line()


def test_guard_refuses_mismatched_models(val):
    with pytest.raises(ConfigError, match="input size or keypoint count"):
        accuracy_guard(OracleBackend(val), OracleBackend(val, input_size=(32, 48)), val)


def test_precision_model_bf16_decodes_in_fp32():
    model = make_simcc_model()
    x = torch.randn(2, 3, 48, 32, generator=torch.Generator().manual_seed(0))
    low = prec.PrecisionModel(model, "bf16")
    with torch.inference_mode():
        out, ref = low(x), model(x)
    assert out.x.dtype == torch.float32 and out.y.dtype == torch.float32
    assert (out.x - ref.x).abs().max() < 0.05 * ref.x.abs().max()     # bf16 rounding, not another model
    assert next(model.parameters()).dtype == torch.float32            # the caller's model is left in fp32
    backend = TorchBackend(model, threads=1, precision="bf16")
    kpts, scores = backend.predict(x.numpy())
    assert kpts.dtype == np.float32 and scores.dtype == np.float32 and backend.precision == "bf16"


def test_resolve_precision_rules(monkeypatch):
    monkeypatch.setattr(prec, "native_bf16_cpu", lambda: False)
    assert prec.resolve_precision(None, "cpu") == ("fp32", "requested")
    p, why = prec.resolve_precision("auto", "cpu", guard=lambda p: True)
    assert p == "fp32" and "no native bf16" in why                      # AVX2-only: fp32, nothing is run
    with pytest.raises(ConfigError, match="'fp16' is for CUDA"):
        prec.resolve_precision("fp16", "cpu")
    with pytest.raises(ConfigError, match="unknown precision 'int4'"):
        prec.resolve_precision("int4", "cpu")
    assert prec.resolve_precision("bf16", "cpu")[0] == "bf16"            # explicit: runs (emulated, warned)
    monkeypatch.setattr(prec, "native_bf16_cpu", lambda: True)            # an AMX / AVX512-BF16 CPU
    assert prec.resolve_precision("auto", "cpu", guard=lambda p: True)[0] == "bf16"
    assert prec.resolve_precision("auto", "cpu", guard=lambda p: False)[0] == "fp32"
    assert prec.resolve_precision("auto", "cuda", guard=lambda p: p == "fp16")[0] == "fp16"


def test_auto_runs_the_guard_only_where_bf16_is_native(monkeypatch, caplog):
    monkeypatch.setattr(prec, "native_bf16_cpu", lambda: False)
    assert TorchBackend(make_simcc_model(), threads=1, precision="auto").precision == "fp32"
    monkeypatch.setattr(prec, "native_bf16_cpu", lambda: True)
    with caplog.at_level(logging.INFO, logger="kdpose"):
        backend = TorchBackend(make_simcc_model(), threads=1, precision="auto")
    # the tiny model's keypoints do not move in bf16: the guard passes and bf16 is chosen
    assert backend.precision == "bf16" and "accuracy guard bf16 vs fp32" in caplog.text
