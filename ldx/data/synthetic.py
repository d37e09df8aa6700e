"""Synthetic sequences with known latents: 2-D spirals and spikes driven by a Lorenz system.

Shapes (ldx/shapes.py):
N windows (trials), T time, D observed features (neurons), G true latent size.

Each generator returns `(observations, latents)`; the data registry (`ldx.data.load_source`) keeps
the observations, and evaluation regenerates the latents from the same arguments (the generators
are pure functions of them).
"""

from __future__ import annotations

import numpy as np

from ldx.errors import DataError

SPIKE_MODELS = ("poisson", "bernoulli")


def _check_positive(where: str, **values) -> None:
    for field, value in values.items():
        if value < 1:
            raise DataError(f"{where}: {field}={value}, expected an integer >= 1")


def spirals(
    num_samples: int,
    seq_len: int,
    seed: int,
    *,
    noise_std: float = 0.3,
    stride: int = 2,
    num_total: int = 1000,
    stop: float = 6.0 * np.pi,
    a: float = 0.0,
    b: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy clockwise and counter-clockwise 2-D spirals (latent ODE, Chen et al. 2018, App.).

    Two reference spirals on a grid s_j = stop * j / (num_total - 1), j = 0..num_total-1:

        clockwise:          u = stop + 1 - s,  r = a + 50 b / u,  y = (r cos u - 5, r sin u)
        counter-clockwise:  u = s,             r = a + b u,       y = (r cos u + 5, r sin u)

    Window n takes T grid points j0, j0 + s, .., j0 + (T - 1) s of one spiral (fair coin),
    j0 ~ U{0 .. num_total - 2 s T - 1}, and observes x_t = y_t + noise_std * N(0, I). With
    s = 2 and T = 50 a window spans the arc of Chen et al.'s 100-point windows.
    Draw order: `rng = np.random.default_rng(seed)`; directions `rng.random(N) < 0.5`
    (True = clockwise); starts `rng.integers(0, num_total - 2 s T, N)`; noise `rng.normal`.

    Args:
      num_samples: N.
      seq_len: T; needs 2 s T < num_total.
      seed: seed of the NumPy generator.
      noise_std: observation noise standard deviation.
      stride: s, grid points between consecutive observations.
      num_total: grid points per reference spiral.
      stop: last angle of the grid.
      a: spiral offset.
      b: spiral growth.

    Returns:
      (observations, latents): float32 noisy points and the noise-free points. # [N, T, 2] each
    """
    _check_positive("spirals", num_samples=num_samples, seq_len=seq_len, stride=stride)
    if 2 * stride * seq_len >= num_total:
        raise DataError(
            f"spirals: seq_len={seq_len} needs 2 * stride * seq_len < num_total={num_total} "
            f"(stride={stride})"
        )
    cw, ccw = spiral_references(num_total, stop, a, b)  # [J, 2] each
    rng = np.random.default_rng(seed)
    clockwise = rng.random(num_samples) < 0.5  # [N]
    starts = rng.integers(0, num_total - 2 * stride * seq_len, num_samples)  # [N]
    idx = starts[:, None] + stride * np.arange(seq_len)[None]  # [N, T]
    latents = np.where(clockwise[:, None, None], cw[idx], ccw[idx])  # [N, T, 2]
    observations = latents + noise_std * rng.normal(size=latents.shape)
    return observations.astype(np.float32), latents.astype(np.float32)


def spiral_references(
    num_total: int = 1000, stop: float = 6.0 * np.pi, a: float = 0.0, b: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """The clockwise and counter-clockwise reference spirals of `spirals`. # -> 2 x [J, 2]"""
    s = np.linspace(0.0, stop, num_total)  # [J]
    u_cw = stop + 1.0 - s
    r_cw = a + 50.0 * b / u_cw
    cw = np.stack([r_cw * np.cos(u_cw) - 5.0, r_cw * np.sin(u_cw)], -1)  # [J, 2]
    r_ccw = a + b * s
    ccw = np.stack([r_ccw * np.cos(s) + 5.0, r_ccw * np.sin(s)], -1)  # [J, 2]
    return cw, ccw


def spiral_posterior_mean(
    observations: np.ndarray,
    *,
    noise_std: float = 0.3,
    stride: int = 2,
    num_total: int = 1000,
    stop: float = 6.0 * np.pi,
    a: float = 0.0,
    b: float = 0.3,
) -> np.ndarray:
    """E[latents | observations] under the generator of `spirals` (the Bayes-optimal estimate).

    The generator's only unknowns are the direction (fair coin) and the start j0 (uniform on
    0 .. num_total - 2 s T - 1), so the exact posterior is a weighted sum over the 2 (J - 2 s T)
    candidate windows y^c, with weights proportional to exp(-||x - y^c||^2 / (2 noise_std^2)).
    It is the least per-bin squared error any estimator can reach from the observations, a
    reference for inferred latents (benchmarks/ldidp_edges.py).

    Args:
      observations: noisy windows in the generator's units (not min-max scaled). # [N, T, 2]
      noise_std, stride, num_total, stop, a, b: the generator's settings (`spirals`).

    Returns:
      the posterior mean of the noise-free windows. # [N, T, 2]
    """
    x = np.asarray(observations, np.float64)
    n, t, _ = x.shape
    cw, ccw = spiral_references(num_total, stop, a, b)
    idx = np.arange(num_total - 2 * stride * t)[:, None] + stride * np.arange(t)  # [S, T]
    cand = np.concatenate([cw[idx], ccw[idx]]).reshape(-1, 2 * t)  # [2S, 2T]
    flat = x.reshape(n, -1)  # [N, 2T]
    d2 = (flat**2).sum(1)[:, None] + (cand**2).sum(1)[None] - 2 * flat @ cand.T  # [N, 2S]
    logw = -d2 / (2 * noise_std**2)
    w = np.exp(logw - logw.max(1, keepdims=True))
    return ((w / w.sum(1, keepdims=True)) @ cand).reshape(n, t, 2)


def lorenz(
    num_samples: int, seq_len: int, seed: int, *, dt: float = 0.01, stride: int = 3
) -> np.ndarray:
    """Standardised Lorenz trajectories (sigma = 10, rho = 28, beta = 8/3), RK4 with step dt.

    Each trial starts from a point of a long burn-in trajectory (so on the attractor) and keeps
    every `stride`-th RK4 state for T bins. Coordinates are standardised with the mean and
    standard deviation over all trials and bins.

    Returns:
      float32 latents with zero mean and unit variance per coordinate. # [N, T, 3]
    """
    _check_positive("lorenz", num_samples=num_samples, seq_len=seq_len, stride=stride)

    def deriv(y):  # [N, 3]
        x1, x2, x3 = y[:, 0], y[:, 1], y[:, 2]
        return np.stack([10.0 * (x2 - x1), x1 * (28.0 - x3) - x2, x1 * x2 - 8.0 / 3.0 * x3], -1)

    def rk4(y):
        k1 = deriv(y)
        k2 = deriv(y + 0.5 * dt * k1)
        k3 = deriv(y + 0.5 * dt * k2)
        k4 = deriv(y + dt * k3)
        return y + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)

    rng = np.random.default_rng(seed)
    y = rng.normal(size=(num_samples, 3)) * 5.0 + np.array([0.0, 0.0, 25.0])  # [N, 3]
    for _ in range(int(rng.integers(500, 1000))):  # burn-in onto the attractor
        y = rk4(y)
    out = np.empty((seq_len, num_samples, 3))
    for t in range(seq_len):  # data generation, not a hot path
        out[t] = y
        for _ in range(stride):
            y = rk4(y)
    out = out.transpose(1, 0, 2)  # [N, T, 3]
    out = (out - out.mean((0, 1))) / out.std((0, 1))
    return out.astype(np.float32)


def lorenz_spikes(
    num_samples: int,
    seq_len: int,
    num_neurons: int,
    seed: int,
    *,
    spike_model: str = "poisson",
    base_rate: float = 0.3,
    weight_scale: float = 0.6,
) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts of `num_neurons` neurons driven by a 3-D Lorenz latent.

        y_t = lorenz(...)                      # [N, T, 3], standardised
        eta_t = log(base_rate) + C y_t,        C_ij ~ N(0, weight_scale^2)
        poisson:    x_t ~ Poisson(exp(eta_t))
        bernoulli:  x_t ~ Bernoulli(sigmoid(logit(base_rate) + C y_t))

    Draw order: latents from `lorenz(N, T, seed)`, then `rng = np.random.default_rng([seed, 1])`
    draws C (`rng.normal`) and then the spikes.

    Returns:
      (counts, latents): float32 spike counts [N, T, D] and the Lorenz latents [N, T, 3].
    """
    _check_positive("lorenz_spikes", num_neurons=num_neurons)
    if spike_model not in SPIKE_MODELS:
        raise DataError(
            f"lorenz_spikes: spike_model={spike_model!r}, expected one of {SPIKE_MODELS}"
        )
    if not 0.0 < base_rate < (1.0 if spike_model == "bernoulli" else np.inf):
        raise DataError(f"lorenz_spikes: base_rate={base_rate} out of range for {spike_model}")
    latents = lorenz(num_samples, seq_len, seed).astype(np.float64)  # [N, T, 3]
    rng = np.random.default_rng([seed, 1])
    weights = rng.normal(size=(3, num_neurons)) * weight_scale  # [3, D]
    drive = latents @ weights  # [N, T, D]
    if spike_model == "poisson":
        counts = rng.poisson(base_rate * np.exp(drive))
    else:
        logit = np.log(base_rate) - np.log1p(-base_rate) + drive
        counts = rng.random(drive.shape) < 1.0 / (1.0 + np.exp(-logit))
    return counts.astype(np.float32), latents.astype(np.float32)
