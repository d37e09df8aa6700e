"""Sample-based distances between two sets of windows: Wasserstein (exact, sliced) and MMD.

Shapes (ldx/shapes.py):
N real windows, M generated windows, T time, D features, F = T * D, K projections.

Every function flattens a window x in R^{T x D} to a vector in R^F (row-major, time outer) and
compares the two empirical distributions P = (1/N) sum_i delta_{x_i}, Q = (1/M) sum_j delta_{y_j}.
Inputs are expected on the [0, 1] per-feature scale fitted on the training split (the dataset's
normalised units); the numbers are only comparable across runs on that scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.optimize

from ldx.errors import DataError
from ldx.metrics._checks import flatten, pair


def pairwise_sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ||a_i - b_j||^2, clipped at 0 against round-off.

    Args:
      a: vectors. # [N, F]
      b: vectors. # [M, F]

    Returns:
      float64 distances. # [N, M]
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T  # [N, M]
    return np.maximum(d, 0.0)


def wasserstein(real, fake, p: float = 1.0) -> float:
    """Exact p-Wasserstein distance between two equal-size sets of flattened windows.

    With N = M, optimal transport between two uniform empirical measures is a permutation
    (Birkhoff), so

        W_p(P, Q) = ( min_{pi in S_N} (1/N) sum_i ||x_i - y_{pi(i)}||_2^p )^(1/p),

    solved exactly by `scipy.optimize.linear_sum_assignment` on the N x N cost matrix
    (O(N^3) time, O(N^2) memory: a few seconds for N = 2000). The ground metric is the Euclidean
    norm on R^F. p = 1 is the earth mover's distance (the default); a shift of every coordinate
    by c moves every window by c * sqrt(F), and W_p of such a pair is exactly c * sqrt(F).

    Args:
      real: real windows. # [N, T, D]
      fake: generated windows, as many as real. # [N, T, D]
      p: the order p >= 1.

    Returns:
      W_p in the units of the data (Euclidean length of a flattened window).
    """
    if not p >= 1.0:
        raise DataError(f"wasserstein: p={p}, expected p >= 1")
    r, f = pair(real, fake, same_size=True)
    cost = np.sqrt(pairwise_sq_dists(flatten(r), flatten(f))) ** p  # [N, N]
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    return float(cost[rows, cols].mean() ** (1.0 / p))


def sliced_wasserstein(
    real, fake, seed: int = 0, num_projections: int = 256, p: float = 1.0
) -> float:
    """Sliced p-Wasserstein distance, for sets too large for the exact assignment.

        SW_p(P, Q) = ( E_{theta ~ U(S^{F-1})} W_p^p(theta # P, theta # Q) )^(1/p),

    estimated with `num_projections` directions theta_k (normalised Gaussians from
    `np.random.default_rng(seed)`). Each 1-D W_p is exact: the integral over u in (0, 1) of
    |F^-1(u) - G^-1(u)|^p of the two empirical quantile functions, evaluated on the union of
    their breakpoints, so N and M may differ. SW_p <= W_p; it is a different number, never
    to be reported as `wasserstein`.

    Args:
      real: real windows. # [N, T, D]
      fake: generated windows. # [M, T, D]
      seed: seed of the random directions.
      num_projections: K, number of directions.
      p: the order p >= 1.

    Returns:
      SW_p in the units of the data.
    """
    if not p >= 1.0 or num_projections < 1:
        raise DataError(
            f"sliced_wasserstein: p={p}, num_projections={num_projections}; expected p >= 1 "
            "and num_projections >= 1"
        )
    r, f = pair(real, fake)
    r, f = flatten(r), flatten(f)
    theta = np.random.default_rng(seed).standard_normal((r.shape[1], num_projections))  # [F, K]
    theta /= np.linalg.norm(theta, axis=0, keepdims=True)
    pr, pf = np.sort(r @ theta, axis=0), np.sort(f @ theta, axis=0)  # [N, K], [M, K]
    # Quantile level u falls in bin floor(u N) of real and floor(u M) of fake.
    u = np.union1d(np.arange(len(pr)) / len(pr), np.arange(len(pf)) / len(pf))  # [U]
    widths = np.diff(np.append(u, 1.0))  # [U]
    qr = pr[np.minimum((u * len(pr) + 1e-9).astype(int), len(pr) - 1)]  # [U, K]
    qf = pf[np.minimum((u * len(pf) + 1e-9).astype(int), len(pf) - 1)]  # [U, K]
    per_direction = (widths[:, None] * np.abs(qr - qf) ** p).sum(0)  # [K]
    return float(per_direction.mean() ** (1.0 / p))


def median_bandwidth(real, fake) -> float:
    """The median heuristic: sigma = median of ||z_a - z_b||_2 over distinct pairs a < b of the
    pooled set z = (x_1..x_N, y_1..y_M) of flattened windows (Gretton et al. 2012)."""
    r, f = pair(real, fake)
    z = np.concatenate([flatten(r), flatten(f)])  # [N + M, F]
    d = np.sqrt(pairwise_sq_dists(z, z)[np.triu_indices(len(z), k=1)])  # [(N+M)(N+M-1)/2]
    sigma = float(np.median(d))
    if sigma <= 0.0:
        raise DataError("median_bandwidth: more than half of all pairs of windows are identical")
    return sigma


def mmd(real, fake, bandwidth: float | Sequence[float] | str = "median") -> float:
    """Unbiased estimate of the squared maximum mean discrepancy with an RBF kernel.

    With k(a, b) = sum_s exp(-||a - b||^2 / (2 sigma_s^2)) over the bandwidths sigma_s,

        MMD_u^2 = 1/(N(N-1)) sum_{i != i'} k(x_i, x_i') + 1/(M(M-1)) sum_{j != j'} k(y_j, y_j')
                  - 2/(N M) sum_{i, j} k(x_i, y_j)        (Gretton et al. 2012, eq. 3).

    It is an unbiased estimate of MMD^2, so it can be slightly negative when P = Q.

    Args:
      real: real windows. # [N, T, D]
      fake: generated windows. # [M, T, D]
      bandwidth: "median" (one sigma from `median_bandwidth` of the pooled sets), a fixed sigma,
        or a sequence of fixed sigmas whose kernels are summed (a multi-scale kernel).

    Returns:
      MMD_u^2 (dimensionless, in [-2S/(N-1), 2S] for S bandwidths).
    """
    r, f = pair(real, fake)
    if isinstance(bandwidth, str):
        if bandwidth != "median":
            raise DataError(f"mmd: bandwidth={bandwidth!r}, expected 'median' or numbers")
        sigmas = [median_bandwidth(r, f)]
    else:
        sigmas = [float(s) for s in np.atleast_1d(bandwidth)]
    if not sigmas or min(sigmas) <= 0:
        raise DataError(f"mmd: bandwidth={bandwidth!r}, expected positive numbers")
    x, y = flatten(r), flatten(f)
    n, m = len(x), len(y)

    def kernel(d):  # [A, B] squared distances -> kernel values
        return sum(np.exp(-d / (2.0 * s * s)) for s in sigmas)

    kxx, kyy = kernel(pairwise_sq_dists(x, x)), kernel(pairwise_sq_dists(y, y))
    kxy = kernel(pairwise_sq_dists(x, y))
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * kxy.mean())
