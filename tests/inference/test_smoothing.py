import math

import numpy as np
import pytest

from kdpose.inference.smoothing import OneEuroFilter, OneEuroParams, smoothing_factor


def reference_one_euro(xs, ts, min_cutoff, beta, d_cutoff):
    """Scalar One-Euro filter written straight from Casiez et al. 2012 (one signal, plain Python)."""

    def alpha(cutoff, dt):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    out = [xs[0]]
    x_prev, dx_prev, t_prev = xs[0], 0.0, ts[0]
    for x, t in zip(xs[1:], ts[1:]):
        dt = t - t_prev
        dx = (x - x_prev) / dt
        dx_hat = alpha(d_cutoff, dt) * dx + (1 - alpha(d_cutoff, dt)) * dx_prev
        cutoff = min_cutoff + beta * abs(dx_hat)
        x_hat = alpha(cutoff, dt) * x + (1 - alpha(cutoff, dt)) * x_prev
        out.append(x_hat)
        x_prev, dx_prev, t_prev = x_hat, dx_hat, t
    return np.array(out)


def test_matches_definition_on_many_signals_at_once():
    rng = np.random.default_rng(0)
    steps, k = 40, 5
    ts = np.cumsum(rng.uniform(0.02, 0.05, steps))  # irregular frame times
    signal = np.cumsum(rng.normal(0, 3, (steps, k, 2)), axis=0) + rng.normal(0, 1, (steps, k, 2))
    params = OneEuroParams(min_cutoff=0.8, beta=0.02, d_cutoff=1.2)
    filt = OneEuroFilter(params)
    got = np.stack([filt(signal[i], ts[i]) for i in range(steps)])
    for j in range(k):
        for c in range(2):
            ref = reference_one_euro(list(signal[:, j, c]), list(ts), 0.8, 0.02, 1.2)
            np.testing.assert_allclose(got[:, j, c], ref, rtol=1e-10, atol=1e-10)


def test_first_sample_passes_through_and_constant_stays_constant():
    filt = OneEuroFilter()
    x = np.array([[3.0, 4.0]])
    np.testing.assert_array_equal(filt(x, 0.0), x)
    for i in range(1, 10):
        np.testing.assert_allclose(filt(x, i / 30), x)


def test_beta_zero_is_exponential_smoothing_with_known_alpha():
    filt = OneEuroFilter(OneEuroParams(min_cutoff=2.0, beta=0.0))
    dt = 1 / 30
    a = float(smoothing_factor(2.0, dt))
    assert a == pytest.approx(1 / (1 + 1 / (2 * math.pi * 2.0) / dt))
    filt(np.zeros(1), 0.0)
    y = filt(np.ones(1), dt)
    assert y[0] == pytest.approx(a)
    y2 = filt(np.ones(1), 2 * dt)
    assert y2[0] == pytest.approx(a + (1 - a) * a)


def test_reduces_jitter_and_follows_fast_motion():
    rng = np.random.default_rng(1)
    t = np.arange(120) / 30
    still = 100 + rng.normal(0, 2.0, 120)
    filt = OneEuroFilter()
    smooth = np.array([filt(np.array([v]), ti)[0] for v, ti in zip(still, t)])
    assert np.std(np.diff(smooth[10:])) < 0.5 * np.std(np.diff(still[10:]))
    # a fast ramp (600 px/s) is followed with a lag of only a few pixels once the speed estimate settles
    filt = OneEuroFilter()
    ramp = 600 * t
    out = np.array([filt(np.array([v]), ti)[0] for v, ti in zip(ramp, t)])
    assert abs(out[-1] - ramp[-1]) < 25


def test_non_increasing_time_returns_previous_and_shape_is_checked():
    filt = OneEuroFilter()
    filt(np.zeros(3), 1.0)
    y = filt(np.ones(3), 2.0)
    np.testing.assert_array_equal(filt(np.full(3, 9.0), 2.0), y)
    with pytest.raises(ValueError):
        filt(np.zeros(4), 3.0)
