"""2-D embeddings for pictures of real vs generated windows: PCA and a small exact t-SNE.

Shapes (ldx/shapes.py): N points, F features.

TimeGAN / Diffusion-TS embed each window by its mean over features (a [T] vector); the
evaluation report does the same. Both functions are NumPy only: the t-SNE here is the exact
O(N^2) algorithm (van der Maaten & Hinton 2008), fine for the ~2000 points a report draws,
so scikit-learn is not needed.
"""

from __future__ import annotations

import numpy as np

from ldx.errors import DataError


def pca(fit: np.ndarray, *others: np.ndarray, dim: int = 2) -> list[np.ndarray]:
    """Projects arrays on the top `dim` principal axes of `fit`.

    Args:
      fit: the points that define the axes (centred on their mean). # [N, F]
      *others: more points projected on the same axes. # [M, F]
      dim: number of components.

    Returns:
      the projections of fit and then of each of others. # [N, dim], [M, dim], ...
    """
    fit = np.asarray(fit, np.float64)
    mean = fit.mean(0)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)  # rows: axes, by variance
    axes = vt[:dim].T  # [F, dim]
    return [(np.asarray(x, np.float64) - mean) @ axes for x in (fit, *others)]


def _conditional_p(sq_dists: np.ndarray, perplexity: float, iters: int = 64) -> np.ndarray:
    """Rows p_{j|i} = exp(-beta_i d_ij) / sum_k exp(-beta_i d_ik), beta_i set by bisection so
    that each row's entropy is log(perplexity) (nats). # [N, N] -> [N, N], zero diagonal"""
    n = len(sq_dists)
    off = ~np.eye(n, dtype=bool)
    nearest = np.min(np.where(off, sq_dists, np.inf), axis=1, keepdims=True)
    d = np.where(off, sq_dists - nearest, 0.0)  # shift per row: p is unchanged, exp is stable
    target = np.log(perplexity)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    beta = np.ones(n)
    for _ in range(iters):
        p = np.exp(-beta[:, None] * d) * off  # [N, N]
        s = p.sum(1)
        entropy = np.log(s) + beta * (p * d).sum(1) / s  # H = log S + beta E[d]
        high = entropy > target  # too flat: sharpen (raise beta)
        lo = np.where(high, beta, lo)
        hi = np.where(high, hi, beta)
        beta = np.where(np.isinf(hi), beta * 2.0, (lo + hi) / 2.0)
    return p / s[:, None]


def tsne(
    x: np.ndarray,
    seed: int = 0,
    perplexity: float = 30.0,
    num_iters: int = 300,
    exaggeration: float = 12.0,
    exaggeration_iters: int = 100,
) -> np.ndarray:
    """Exact t-SNE of `x` into 2-D.

    P: symmetrised Gaussian affinities p_ij = (p_{j|i} + p_{i|j}) / (2N) with per-point
    bandwidths matching `perplexity`; Q: Student-t affinities q_ij proportional to
    (1 + ||y_i - y_j||^2)^-1. Gradient descent on KL(P || Q),
    dC/dy_i = 4 sum_j (p_ij - q_ij)(y_i - y_j)(1 + ||y_i - y_j||^2)^-1, with momentum 0.5 then
    0.8, per-coordinate adaptive gains, learning rate max(N / exaggeration / 4, 50), and P
    multiplied by `exaggeration` for the first `exaggeration_iters` steps (as scikit-learn).

    Args:
      x: points. # [N, F]
      seed: seeds the initial layout y ~ N(0, 1e-4 I).
      perplexity: effective number of neighbours, < N.
      num_iters: gradient steps.
      exaggeration: early exaggeration factor.
      exaggeration_iters: steps with exaggeration.

    Returns:
      the embedding. # [N, 2]
    """
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    n = len(x)
    if not 1.0 <= perplexity < n - 1:
        raise DataError(f"tsne: perplexity={perplexity} with {n} points, expected 1 <= p < N - 1")
    sq = (x * x).sum(1)
    cond = _conditional_p(np.maximum(sq[:, None] + sq[None] - 2.0 * x @ x.T, 0.0), perplexity)
    p = np.maximum((cond + cond.T) / (2.0 * n), 1e-12)  # [N, N]
    np.fill_diagonal(p, 0.0)
    y = np.random.default_rng(seed).normal(0.0, 1e-2, (n, 2))  # [N, 2]
    velocity, gains = np.zeros_like(y), np.ones_like(y)
    lr = max(n / exaggeration / 4.0, 50.0)
    for it in range(num_iters):
        yy = (y * y).sum(1)
        num = 1.0 / (1.0 + np.maximum(yy[:, None] + yy[None] - 2.0 * y @ y.T, 0.0))  # [N, N]
        np.fill_diagonal(num, 0.0)
        q = np.maximum(num / num.sum(), 1e-12)
        w = ((exaggeration if it < exaggeration_iters else 1.0) * p - q) * num  # [N, N]
        grad = 4.0 * (w.sum(1)[:, None] * y - w @ y)  # [N, 2]
        grow = velocity * grad < 0.0  # still moving against the gradient: speed up
        gains = np.maximum(np.where(grow, gains + 0.2, gains * 0.8), 0.01)
        velocity = (0.5 if it < exaggeration_iters else 0.8) * velocity - lr * gains * grad
        y = y + velocity
    return y - y.mean(0)
