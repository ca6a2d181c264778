"""RLE loss and its RealNVP flow: hand-computed values, a normalised density, gradients, the task-loss wrapper."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from kdpose.codecs.regression import RegressionOutput, RegressionTarget
from kdpose.losses.rle import RealNVP, RLELoss, rle_loss

torch.set_num_threads(1)
LOG_2PI = math.log(2 * math.pi)


def _identity_flow(num_layers: int = 6) -> RealNVP:
    flow = RealNVP(num_layers)
    for p in flow.parameters():
        nn.init.zeros_(p)  # s = tanh(0) = 0, t = 0: every coupling layer is the identity
    return flow


def test_realnvp_structure_matches_rle():
    flow = RealNVP()
    assert flow.mask.tolist() == [[0, 1], [1, 0]] * 3
    assert isinstance(flow.scale_nets[0][-1], nn.Tanh) and not isinstance(flow.shift_nets[0][-1], nn.Tanh)
    # 6 layers x 2 nets x (2*64+64 + 64*64+64 + 64*2+2) parameters
    assert sum(p.numel() for p in flow.parameters()) == 6 * 2 * (192 + 4160 + 130)
    assert "mask" not in flow.state_dict()


def test_realnvp_init_matches_mmpose():
    # MMPose RealNVP.init_weights: xavier-uniform (gain 0.01) on Linear weights only; biases keep nn.Linear's default
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (not zero)
    torch.manual_seed(0)
    flow = RealNVP()
    for m in flow.modules():
        if isinstance(m, nn.Linear):
            fan_in, fan_out = m.in_features, m.out_features
            assert m.weight.abs().max() <= 0.01 * math.sqrt(6.0 / (fan_in + fan_out)) + 1e-9
            bound = 1.0 / math.sqrt(fan_in)
            assert m.bias.abs().max() <= bound and m.bias.abs().max() > 0.1 * bound


def test_identity_flow_is_standard_normal():
    y = torch.tensor([[0.0, 0.0], [1.0, -2.0]])
    expected = torch.tensor([-LOG_2PI, -LOG_2PI - 0.5 * 5.0])
    torch.testing.assert_close(_identity_flow().log_prob(y), expected)


def test_one_coupling_layer_by_hand():
    # mask [0, 1]: y is kept, x is moved; final Linear weights 0 -> s, t are the (masked) biases
    flow = RealNVP(num_layers=1)
    nn.init.zeros_(flow.scale_nets[0][-2].weight)
    nn.init.zeros_(flow.shift_nets[0][-1].weight)
    with torch.no_grad():
        flow.scale_nets[0][-2].bias.copy_(torch.tensor([0.5, 9.0]))   # 9.0 is masked out
        flow.shift_nets[0][-1].bias.copy_(torch.tensor([0.3, 9.0]))
    s = math.tanh(0.5)                        # 0.462117
    zx = (1.0 - 0.3) * math.exp(-s)           # 0.440973
    expected = -LOG_2PI - 0.5 * (zx ** 2 + 0.25) - s   # = -2.5222188
    assert expected == pytest.approx(-2.5222188, abs=1e-6)
    assert flow.log_prob(torch.tensor([[1.0, -0.5]])).item() == pytest.approx(expected, abs=1e-6)


def test_flow_density_integrates_to_one():
    torch.manual_seed(0)
    flow = RealNVP()
    for m in flow.modules():  # a clearly non-identity flow
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight, gain=1.0)
            nn.init.normal_(m.bias, std=0.3)
    step = 0.05
    axis = torch.arange(-9.0, 9.0, step) + step / 2
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        mass = flow.log_prob(grid).exp().sum().item() * step * step
    assert mass == pytest.approx(1.0, abs=5e-3)


def test_rle_loss_hand_computed():
    # mu = (0.5, 0.25), t = (0.4, 0.25), sigma = (0.2, 0.5): e = (0.5, 0); identity flow: log phi = -log 2pi - 0.125
    mu = torch.tensor([[[0.5, 0.25]]])
    sigma = torch.tensor([[[0.2, 0.5]]])
    target = torch.tensor([[[0.4, 0.25]]])
    log_phi = -LOG_2PI - 0.125
    x = math.log(0.2) - log_phi + math.log(0.4) + 0.5
    y = math.log(0.5) - log_phi + math.log(1.0) + 0.0
    assert x + y == pytest.approx(1.206878, abs=1e-6)
    loss = rle_loss(mu, sigma, target, torch.ones(1, 1), _identity_flow())
    assert loss.item() == pytest.approx(x + y, abs=1e-5)
    gauss = rle_loss(mu, sigma, target, torch.ones(1, 1), _identity_flow(), q_distribution="gaussian")
    gx = math.log(0.2) - log_phi + math.log(0.2 * math.sqrt(2 * math.pi)) + 0.125
    gy = math.log(0.5) - log_phi + math.log(0.5 * math.sqrt(2 * math.pi))
    assert gauss.item() == pytest.approx(gx + gy, abs=1e-5)


def test_rle_loss_weight_and_batch_average():
    flow = _identity_flow()
    mu = torch.tensor([[[0.5, 0.25], [0.1, 0.1]], [[0.5, 0.25], [0.9, 0.9]]])
    target = torch.tensor([[[0.4, 0.25], [0.3, 0.3]], [[0.4, 0.25], [0.2, 0.2]]])
    sigma = torch.tensor([[[0.2, 0.5], [0.1, 0.1]], [[0.2, 0.5], [0.1, 0.1]]])
    weight = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # the second keypoints are unlabelled
    # two copies of the hand-computed keypoint, summed then divided by the batch size 2
    assert rle_loss(mu, sigma, target, weight, flow).item() == pytest.approx(1.206878, abs=1e-5)
    assert rle_loss(mu, sigma, target, weight, flow, size_average=False).item() == pytest.approx(2 * 1.206878,
                                                                                               abs=1e-5)


def test_rle_gradients_reach_mu_sigma_and_flow():
    torch.manual_seed(0)
    flow = RealNVP()
    mu = torch.rand(2, 3, 2, requires_grad=True)
    logits = torch.zeros(2, 3, 2, requires_grad=True)
    rle_loss(mu, logits.sigmoid(), torch.rand(2, 3, 2), torch.ones(2, 3), flow).backward()
    assert mu.grad.abs().sum() > 0 and logits.grad.abs().sum() > 0
    assert all(p.grad is not None for p in flow.parameters())
    # the error pulls mu towards the target: loss decreases along -grad
    assert torch.isfinite(mu.grad).all()


def test_rle_task_loss_module():
    loss_fn = RLELoss()
    output = RegressionOutput(coords=torch.full((1, 2, 2), 0.5), scores=torch.ones(1, 2),
                              sigma=torch.full((1, 2, 2), 0.1))
    batch = SimpleNamespace(target=RegressionTarget(keypoints=torch.full((1, 2, 2), 0.5), weight=torch.ones(1, 2)))
    out = loss_fn(output, batch)
    assert set(out) == {"loss", "loss_rle"}
    # e = 0: each coordinate log(sigma) + log(2 sigma) - log phi(0) with the (near-identity) initial flow
    log_phi0 = loss_fn.flow.log_prob(torch.zeros(1, 2)).item()
    assert out["loss"].item() == pytest.approx(4 * (math.log(0.1) + math.log(0.2)) - 4 * log_phi0, abs=1e-4)
    with pytest.raises(ValueError):
        RLELoss(q_distribution="cauchy")
