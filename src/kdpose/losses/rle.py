"""Residual Log-likelihood Estimation (Li et al., ICCV 2021, https://arxiv.org/abs/2107.11291).

The regressor predicts a location ``mu`` and a scale ``sigma`` per keypoint; the error is normalised,
``e = (mu - t) / sigma``, and its negative log-likelihood is read from a learned density: a 2-D RealNVP flow
``log phi(e)`` (trained jointly, unused at test time) plus a residual Laplace term. This is MMPose's ``RLELoss``
(v0.29, the version SDPose calls: ``mmpose/models/losses/regression_loss.py`` with the flow of
``mmpose/models/utils/realnvp.py``; how SDPose-Reg uses it: docs/sdpose.md):

    loss = sum_{b,k,c} w_bk * (log sigma_bkc - log phi(e_bk) + log(2 sigma_bkc) + |e_bkc|) / B

``log phi`` is one value per keypoint, counted once per coordinate (MMPose broadcasts it over x and y), and the sum is
divided by the batch size only (``size_average``). ``q_distribution="gaussian"`` replaces the Laplace residual with
``log(sigma sqrt(2 pi)) + e^2 / 2``.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _coupling_net(hidden: int, final_tanh: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(2, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden), nn.LeakyReLU(),
                               nn.Linear(hidden, 2)]
    if final_tanh:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class RealNVP(nn.Module):
    """2-D RealNVP density (Dinh et al.): affine coupling layers over a standard normal prior.

    Layer i keeps the coordinates where ``mask[i] == 1`` and moves the others:
    ``y = m * x + (1 - m) * (x * exp(s(m * x)) + t(m * x))``. ``log_prob`` runs the inverse pass from the last layer
    to the first and adds the log-determinant. Defaults are RLE's: 6 layers with masks ``[0, 1], [1, 0]`` alternating,
    scale net ``Linear(2, 64)-LeakyReLU-Linear(64, 64)-LeakyReLU-Linear(64, 2)-Tanh``, translation net the same
    without Tanh, Linear weights xavier-uniform with gain 0.01 (the flow starts close to the identity); the biases
    keep PyTorch's default initialisation, as MMPose's ``RealNVP.init_weights`` (which only re-initialises weights).
    """

    def __init__(self, num_layers: int = 6, hidden: int = 64):
        super().__init__()
        masks = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).repeat(num_layers // 2 + 1, 1)[:num_layers]
        self.register_buffer("mask", masks, persistent=False)
        self.scale_nets = nn.ModuleList(_coupling_net(hidden, final_tanh=True) for _ in range(num_layers))
        self.shift_nets = nn.ModuleList(_coupling_net(hidden, final_tanh=False) for _ in range(num_layers))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=0.01)  # biases: nn.Linear's default (MMPose)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> latent. y (M, 2) -> (z (M, 2), log|det dz/dy| (M,))."""
        z = y
        log_det = y.new_zeros(y.shape[0])
        for i in reversed(range(len(self.scale_nets))):
            keep = self.mask[i]
            fixed = keep * z
            s = self.scale_nets[i](fixed) * (1 - keep)
            t = self.shift_nets[i](fixed) * (1 - keep)
            z = fixed + (1 - keep) * (z - t) * torch.exp(-s)
            log_det = log_det - s.sum(dim=1)
        return z, log_det

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """log density of points y (M, 2) -> (M,)."""
        z, log_det = self.inverse(y)
        log_prior = -0.5 * z.pow(2).sum(dim=1) - math.log(2 * math.pi)
        return log_prior + log_det


def rle_loss(mu: torch.Tensor, sigma: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, flow: RealNVP,
             q_distribution: str = "laplace", residual: bool = True, size_average: bool = True) -> torch.Tensor:
    """RLE negative log-likelihood (module docstring).

    Args:
        mu: (B, K, 2) predicted normalised coordinates.
        sigma: (B, K, 2) predicted scales in the same units, > 0 (e.g. sigmoid of a raw output).
        target: (B, K, 2) normalised ground truth.
        weight: (B, K) or (B, K, 2) per-keypoint weights (0 for unlabelled / out-of-crop keypoints).
        flow: the density of the normalised error.
    Returns:
        scalar loss.
    """
    b, k, _ = mu.shape
    error = (mu - target.to(mu.dtype)) / (sigma + 1e-9)
    log_phi = flow.log_prob(error.reshape(-1, 2)).reshape(b, k, 1)
    loss = torch.log(sigma) - log_phi
    if residual:
        if q_distribution == "laplace":
            loss = loss + torch.log(sigma * 2) + error.abs()
        elif q_distribution == "gaussian":
            loss = loss + torch.log(sigma * math.sqrt(2 * math.pi)) + 0.5 * error.pow(2)
        else:
            raise ValueError(f"q_distribution must be 'laplace' or 'gaussian', got {q_distribution!r}")
    w = weight.to(mu.dtype)
    loss = loss * (w[..., None] if w.dim() == 2 else w)
    return loss.sum() / b if size_average else loss.sum()


class RLELoss(nn.Module):
    """Task loss of RLE regression heads: ``(RegressionOutput, Batch) -> {"loss", "loss_rle"}``.

    Reads ``output.coords`` (mu) and ``output.sigma`` (normalised scales) and the codec's ``RegressionTarget``
    (normalised keypoints + weight). The flow's parameters live here, so whoever owns this module (a training task,
    not the deployed model) trains them.
    """

    def __init__(self, loss_weight: float = 1.0, q_distribution: str = "laplace", residual: bool = True,
                 size_average: bool = True):
        super().__init__()
        if q_distribution not in ("laplace", "gaussian"):
            raise ValueError(f"q_distribution must be 'laplace' or 'gaussian', got {q_distribution!r}")
        self.flow = RealNVP()
        self.loss_weight = float(loss_weight)
        self.q_distribution = q_distribution
        self.residual = residual
        self.size_average = size_average

    def forward(self, output, batch) -> dict[str, torch.Tensor]:
        target = batch.target
        loss = self.loss_weight * rle_loss(output.coords, output.sigma, target.keypoints, target.weight, self.flow,
                                           self.q_distribution, self.residual, self.size_average)
        return {"loss": loss, "loss_rle": loss.detach()}
