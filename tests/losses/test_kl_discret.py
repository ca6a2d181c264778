"""KLDiscretLoss: zero on identical distributions, a hand-computed value, MMPose's normalisation, weights."""
from __future__ import annotations

import math

import pytest
import torch

from kdpose.codecs import SimCCOutput, SimCCTarget
from kdpose.losses import KLDiscretLoss, SimCCLoss, simcc_kl


def _target(x, y, w):
    return SimCCTarget(x_labels=x, y_labels=y, weights=w)


def test_zero_for_identical_distributions():
    torch.manual_seed(0)
    labels_x, labels_y = torch.rand(2, 3, 16), torch.rand(2, 3, 12)
    # with beta == label_beta, predicting the labels themselves gives identical softmax distributions
    target = _target(labels_x, labels_y, torch.ones(2, 3))
    loss = KLDiscretLoss()(SimCCOutput(labels_x.clone(), labels_y.clone()), target)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    assert KLDiscretLoss()(SimCCOutput(labels_x * 2, labels_y), target) > 1e-3  # a sharper prediction differs


def _kl_row_mean(pred, label, beta=10.0):
    """Hand computation: T = softmax(beta * label), P = softmax(beta * pred), mean_i T_i (log T_i - log P_i)."""
    zt = sum(math.exp(beta * v) for v in label)
    zp = sum(math.exp(beta * v) for v in pred)
    t = [math.exp(beta * v) / zt for v in label]
    p = [math.exp(beta * v) / zp for v in pred]
    return sum(ti * (math.log(ti) - math.log(pi)) for ti, pi in zip(t, p)) / len(label)


def test_matches_hand_computed_value():
    # N=1, K=2, 2 x bins and 3 y bins, weights (0.5, 1.0)
    px = torch.tensor([[[0.0, 0.1], [0.2, 0.0]]])
    gx = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    py = torch.tensor([[[0.0, 0.3, 0.1], [0.05, 0.0, 0.0]]])
    gy = torch.tensor([[[0.0, 1.0, 0.5], [1.0, 0.2, 0.0]]])
    w = torch.tensor([[0.5, 1.0]])
    expected = sum(wk * (_kl_row_mean(px[0, k].tolist(), gx[0, k].tolist())
                         + _kl_row_mean(py[0, k].tolist(), gy[0, k].tolist()))
                   for k, wk in enumerate(w[0].tolist())) / 2  # divided by K
    got = KLDiscretLoss()(SimCCOutput(px, py), _target(gx, gy, w))
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_normalisation_sums_over_batch_and_divides_by_k():
    torch.manual_seed(0)
    px, py = torch.randn(1, 4, 8), torch.randn(1, 4, 6)
    gx, gy = torch.rand(1, 4, 8), torch.rand(1, 4, 6)
    w = torch.ones(1, 4)
    loss_fn = KLDiscretLoss()
    one = loss_fn(SimCCOutput(px, py), _target(gx, gy, w))
    two = loss_fn(SimCCOutput(px.repeat(2, 1, 1), py.repeat(2, 1, 1)),
                  _target(gx.repeat(2, 1, 1), gy.repeat(2, 1, 1), w.repeat(2, 1)))
    assert two.item() == pytest.approx(2 * one.item(), rel=1e-6)  # MMPose does not average over N
    rows = simcc_kl(px, gx) + simcc_kl(py, gy)
    assert one.item() == pytest.approx(rows.sum().item() / 4, rel=1e-6)


def test_zero_weight_keypoints_do_not_count():
    torch.manual_seed(0)
    px, py = torch.randn(1, 2, 8), torch.randn(1, 2, 6)
    gx, gy = torch.rand(1, 2, 8), torch.rand(1, 2, 6)
    full = KLDiscretLoss()(SimCCOutput(px, py), _target(gx, gy, torch.tensor([[1.0, 0.0]])))
    only_first = (simcc_kl(px[:, :1], gx[:, :1]) + simcc_kl(py[:, :1], gy[:, :1])).sum() / 2
    assert full.item() == pytest.approx(only_first.item(), rel=1e-6)


def test_bin_reduction_sum_is_true_kl():
    torch.manual_seed(0)
    pred, label = torch.randn(3, 10), torch.randn(3, 10)
    summed = simcc_kl(pred, label, bin_reduction="sum")
    assert torch.allclose(summed, simcc_kl(pred, label) * 10)
    ref = torch.distributions.kl_divergence(torch.distributions.Categorical(logits=10 * label),
                                            torch.distributions.Categorical(logits=10 * pred))
    assert torch.allclose(summed, ref, atol=1e-5)
    with pytest.raises(ValueError):
        simcc_kl(pred, label, bin_reduction="max")


def test_simcc_loss_reads_batch_target_and_backpropagates():
    class _Batch:  # only the attribute the loss reads
        target = _target(torch.rand(2, 3, 8), torch.rand(2, 3, 6), torch.ones(2, 3))

    px = torch.randn(2, 3, 8, requires_grad=True)
    out = SimCCLoss()(SimCCOutput(px, torch.randn(2, 3, 6)), _Batch())
    assert set(out) == {"loss", "loss_kpt"} and out["loss_kpt"].item() == pytest.approx(out["loss"].item())
    out["loss"].backward()
    assert px.grad is not None and px.grad.abs().sum() > 0
