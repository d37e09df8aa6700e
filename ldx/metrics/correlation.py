"""Diffusion-TS's correlational score: the difference of the feature cross-correlations.

Shapes (ldx/shapes.py): N windows, T time, D features, K lags; pairs = D (D + 1) / 2 feature
pairs.
"""

from __future__ import annotations

import numpy as np

from ldx.errors import DataError
from ldx.metrics._checks import pair


def cross_correlations(x, max_lag: int = 1) -> np.ndarray:
    """Lagged cross-correlations of the features of a set of windows.

    Each feature is standardised over all windows and time steps together,
    x~_{n,t,d} = (x_{n,t,d} - mean_{n,t} x_{.,.,d}) / std_{n,t} x_{.,.,d} (std with ddof=1, as
    torch's; a constant feature gets std 1), and for each lag l < max_lag and each pair i >= j

        C_l[i, j] = mean_n mean_{t = l..T-1} x~_{n,t,i} x~_{n,t-l,j}.

    Args:
      x: windows. # [N, T, D]
      max_lag: L, the number of lags 0..L-1 (Diffusion-TS uses L = 1: the lag-0 correlations).

    Returns:
      C_l[i, j] for the lower-triangular pairs (i, j) in `np.tril_indices(D)` order. # [K, pairs]
    """
    (x, _) = pair(x, x)
    if not 1 <= max_lag < x.shape[1]:
        raise DataError(f"cross_correlations: max_lag={max_lag}, expected 1 <= max_lag < T")
    std = x.std(axis=(0, 1), ddof=1, keepdims=True)
    x = (x - x.mean(axis=(0, 1), keepdims=True)) / np.where(std > 0, std, 1.0)  # [N, T, D]
    i, j = np.tril_indices(x.shape[2])
    out = []
    for lag in range(max_lag):
        a, b = x[:, lag:, i], x[:, : x.shape[1] - lag, j]  # [N, T - lag, pairs]
        out.append((a * b).mean(axis=(0, 1)))
    return np.stack(out)


def correlational_score(real, fake, max_lag: int = 1) -> float:
    """Diffusion-TS's correlational score (its `CrossCorrelLoss`), lower is better:

        score = (1/10) sum_l sum_{i >= j} | C_l^fake[i, j] - C_l^real[i, j] |

    with C from `cross_correlations`. Diffusion-TS reports L = 1 and averages the score over 5
    random subsets of N/5 windows drawn with replacement; here it is computed once on the full
    sets (`ldx.eval.published.correlational_subsets` gives the published form). The two
    differ in expectation: a subset's correlations carry sampling noise, which the absolute
    differences turn into an upward bias that shrinks as the subsets grow.

    Args:
      real: real windows. # [N, T, D]
      fake: generated windows. # [M, T, D]
      max_lag: L.

    Returns:
      the score, >= 0.
    """
    r, f = pair(real, fake)
    diff = cross_correlations(f, max_lag) - cross_correlations(r, max_lag)  # [K, pairs]
    return float(np.abs(diff).sum() / 10.0)
