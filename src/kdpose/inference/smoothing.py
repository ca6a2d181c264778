"""One-Euro filter (Casiez, Roussel and Vogel, CHI 2012), vectorised over any number of signals.

The RTMPose paper's video pipeline smooths every keypoint of every track with it. Definition, per signal:

    alpha(cutoff, dt) = 1 / (1 + tau / dt),   tau = 1 / (2 pi cutoff)
    dx_t      = (x_t - xhat_{t-1}) / dt
    dxhat_t   = alpha(d_cutoff, dt) * dx_t + (1 - alpha(d_cutoff, dt)) * dxhat_{t-1}
    cutoff_t  = min_cutoff + beta * |dxhat_t|
    xhat_t    = alpha(cutoff_t, dt) * x_t + (1 - alpha(cutoff_t, dt)) * xhat_{t-1}

with ``xhat_0 = x_0`` and ``dxhat_0 = 0``. Slow motion gets a low cut-off (little jitter); fast motion raises the
cut-off (little lag). Time is in seconds, so ``min_cutoff``/``d_cutoff`` are in Hz and ``beta`` in 1/pixel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroParams:
    """Filter settings. Defaults suit keypoints in pixels at video frame rates.

    Attributes:
        min_cutoff: cut-off frequency (Hz) when still; lower = smoother, more lag.
        beta: speed coefficient (1/pixel); higher = less lag on fast motion.
        d_cutoff: cut-off frequency (Hz) of the speed estimate.
    """

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    """alpha = 1 / (1 + tau / dt) with tau = 1 / (2 pi cutoff); broadcasts over ``cutoff``."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter over an array of signals of fixed shape (e.g. (K, 2) keypoints of one track).

    Call it with the new sample and its timestamp (seconds); it returns the filtered sample (same shape).
    Timestamps must increase; a repeated or earlier timestamp returns the previous output unchanged.
    ``valid`` (a mask broadcast to the sample's shape) marks the elements that are measurements: the others pass
    through raw and leave the filter, and an element valid again starts afresh (``xhat = x``), as the first sample.
    """

    def __init__(self, params: OneEuroParams = OneEuroParams()):
        self.params = params
        self._x: np.ndarray | None = None  # last output
        self._dx: np.ndarray | None = None  # last filtered derivative
        self._live: np.ndarray | None = None  # elements valid at the last call (the ones whose state counts)
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._live = self._t = None

    def __call__(self, x: np.ndarray, t: float, valid: np.ndarray | None = None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        live = np.ones(x.shape, bool) if valid is None else np.broadcast_to(np.asarray(valid, bool), x.shape)
        if self._x is None:
            self._x, self._dx, self._live, self._t = x.copy(), np.zeros_like(x), live.copy(), float(t)
            return x.copy()
        if x.shape != self._x.shape:
            raise ValueError(f"OneEuroFilter: sample shape {x.shape} differs from the first one {self._x.shape}")
        dt = float(t) - self._t
        if dt <= 0:
            return self._x.copy()
        p = self.params
        a_d = smoothing_factor(p.d_cutoff, dt)
        dx = a_d * (x - self._x) / dt + (1.0 - a_d) * self._dx
        a = smoothing_factor(p.min_cutoff + p.beta * np.abs(dx), dt)
        x_hat = a * x + (1.0 - a) * self._x
        going_on = live & self._live
        self._x = np.where(going_on, x_hat, x)
        self._dx = np.where(going_on, dx, 0.0)
        self._live, self._t = live.copy(), float(t)
        return self._x.copy()
