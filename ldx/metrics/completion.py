"""Scores of completions (forecasting, imputation) and the simple baselines they are compared with.

Shapes follow ldx/shapes.py; N windows, K completions per window. Every score is the mean over
the unobserved entries (mask 0) of all windows, on whatever scale the inputs are in (the
benchmark uses the normalised [0, 1] scale of the training split).

    crps            the ensemble CRPS, energy form: mean_k |X_k - y| - 1/(2 K^2) sum_jk |X_j - X_k|
    completion_scores  MSE of the completions' mean, MAE of their median, CRPS
    last_value, linear_interpolation   point baselines (a point forecast's CRPS is its MAE)
"""

from __future__ import annotations

import numpy as np


def crps(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Elementwise CRPS of an ensemble, the energy form (all K^2 pairs, a V-statistic).

    With X_(1) <= ... <= X_(K) sorted, sum_jk |X_j - X_k| = 2 sum_i (2i - K - 1) X_(i), so it
    costs O(K log K), not O(K^2). For K = 1 it is |X - y|.

    Args:
      samples: the ensemble, K along axis 0. # [K, ...]
      y: the truth. # [...]

    Returns:
      CRPS per entry. # [...]
    """
    x = np.sort(np.asarray(samples, np.float64), axis=0)
    k = x.shape[0]
    spread = np.tensordot(2.0 * np.arange(1, k + 1) - k - 1, x, axes=(0, 0)) / k**2
    return np.abs(x - np.asarray(y, np.float64)).mean(axis=0) - spread


def completion_scores(samples: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict:
    """MSE (of the mean), MAE (of the median) and CRPS over the unobserved entries.

    Args:
      samples: completions. # [N, K, T, D]
      truth: the full windows. # [N, T, D]
      mask: 1 where observed. # [N, T, D]

    Returns:
      {"mse", "mae", "crps": means over mask == 0; "crps_se": the standard error of the
       CRPS over windows (windows' mean CRPS, their sample sd / sqrt(N))}.
    """
    miss = ~np.asarray(mask, bool)
    samples = np.asarray(samples, np.float64)
    err = np.where(miss, crps(np.moveaxis(samples, 1, 0), truth), 0.0)  # [N, T, D]
    per_window = err.sum((1, 2)) / np.maximum(miss.sum((1, 2)), 1)  # [N]
    mean, median = samples.mean(axis=1), np.median(samples, axis=1)
    return dict(
        mse=float(np.square(mean - truth)[miss].mean()),
        mae=float(np.abs(median - truth)[miss].mean()),
        crps=float(err[miss].mean()),
        crps_se=float(per_window.std(ddof=1) / np.sqrt(len(per_window)))
        if len(per_window) > 1
        else float("nan"),
    )


def _fill(x: np.ndarray, mask: np.ndarray, fallback: np.ndarray, fill_one) -> np.ndarray:
    """Applies fill_one(t_observed, values, t_all) to each (window, feature) series."""
    n, t, d = x.shape
    out = np.empty((n, t, d), np.float64)
    steps = np.arange(t)
    for i in range(n):
        for j in range(d):
            seen = mask[i, :, j].astype(bool)
            if not seen.any():  # a missing feature: its training mean
                out[i, :, j] = fallback[j]
            else:
                out[i, :, j] = fill_one(steps[seen], x[i, seen, j], steps)
    return np.where(mask, x, out)


def last_value(x: np.ndarray, mask: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Each unobserved entry takes its feature's last observed value before it (the first
    observed one if none precedes it); a feature never observed in a window takes `fallback`.

    Args:
      x: windows. # [N, T, D]
      mask: 1 where observed. # [N, T, D]
      fallback: per-feature value, e.g. the training mean. # [D]

    Returns:
      the filled windows. # [N, T, D]
    """

    def one(ts, values, steps):
        before = np.searchsorted(ts, steps, side="right") - 1
        return values[np.maximum(before, 0)]

    return _fill(x, mask, fallback, one)


def linear_interpolation(x: np.ndarray, mask: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Each feature linearly interpolated between its observed entries, held constant beyond
    the first and last (so for forecasting it equals `last_value`). Arguments as there."""
    return _fill(x, mask, fallback, lambda ts, values, steps: np.interp(steps, ts, values))
