"""Log-likelihoods and KL divergences shared by both model families; one name, one meaning.

Every log-likelihood here is elementwise (same shape as x, in nats): callers sum over the axes
their model factorises over. Shapes follow ldx/shapes.py.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_loglik(x: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """Elementwise log N(x; mean, exp(logvar)), the log-variance form (LD decoders)."""
    return -0.5 * (LOG_2PI + logvar + jnp.square(x - mean) * jnp.exp(-logvar))


def _lowrank_terms(x, mean, logvar, factor) -> tuple[jax.Array, jax.Array]:
    """(quad, logdet) of Sigma = S (I + U U^T) S, S = diag(exp(logvar / 2)), U = factor [.., D, r].

    With y = S^-1 (x - mean) and C = I_r + U^T U, the matrix determinant lemma and Woodbury give

        log det Sigma = sum(logvar) + log det C,
        (x - mean)^T Sigma^-1 (x - mean) = y^T y - (U^T y)^T C^-1 (U^T y),

    O(D r^2 + r^3) instead of O(D^3). # [..., D] -> ([...], [...])
    """
    y = (x - mean) * jnp.exp(-0.5 * logvar)  # [..., D]
    gram = jnp.einsum("...dr,...ds->...rs", factor, factor)  # [..., r, r]
    cap = jnp.eye(factor.shape[-1], dtype=y.dtype) + gram
    chol = jnp.linalg.cholesky(cap)  # [..., r, r]
    uy = jnp.einsum("...dr,...d->...r", factor, y)  # [..., r]
    w = jax.scipy.linalg.solve_triangular(chol, uy[..., None], lower=True)[..., 0]
    quad = jnp.square(y).sum(axis=-1) - jnp.square(w).sum(axis=-1)
    logdet = logvar.sum(axis=-1) + 2.0 * jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
    return quad, logdet


def lowrank_gaussian_loglik(
    x: jax.Array, mean: jax.Array, logvar: jax.Array, factor: jax.Array
) -> jax.Array:
    """log N(x; mean, S (I + U U^T) S) of vectors (`_lowrank_terms`). Not elementwise: it sums
    over the last axis (D), as the covariance couples it. # [..., D] -> [...]"""
    quad, logdet = _lowrank_terms(x, mean, logvar, factor)
    return -0.5 * (x.shape[-1] * LOG_2PI + logdet + quad)


def lgamma_ratio(a: jax.Array, h) -> jax.Array:
    """log Gamma(a + h) - log Gamma(a), h >= 0. The difference of two lgammas loses every digit
    in float32 once a reaches ~1e5 (a Student-t fit may approach its Gaussian limit); above
    a = 50 Stirling's series in log1p form is used instead, exact to ~1e-8 there."""
    big = jnp.maximum(a, 50.0)
    series = h * jnp.log(big) + (big + h - 0.5) * jnp.log1p(h / big) - h
    series = series + (1.0 / (big + h) - 1.0 / big) / 12.0
    small = jnp.minimum(a, 50.0)
    return jnp.where(a > 50.0, series, jax.lax.lgamma(small + h) - jax.lax.lgamma(small))


def student_t_logdensity(quad: jax.Array, logdet: jax.Array, n: int, df: jax.Array) -> jax.Array:
    """log of the n-variate Student-t density with df degrees of freedom and scale matrix Sigma,
    from quad = (x - mean)^T Sigma^-1 (x - mean) and logdet = log det Sigma."""
    return (
        lgamma_ratio(0.5 * df, 0.5 * n)
        - 0.5 * (n * jnp.log(math.pi * df) + logdet)
        - 0.5 * (df + n) * jnp.log1p(quad / df)
    )


def student_t_loglik(x: jax.Array, mean: jax.Array, logvar: jax.Array, df: jax.Array) -> jax.Array:
    """Elementwise log t_df(x; mean, scale exp(logvar / 2)) (a scale, not the std: the variance
    is exp(logvar) df / (df - 2))."""
    return student_t_logdensity(jnp.square(x - mean) * jnp.exp(-logvar), logvar, 1, df)


def lowrank_student_t_loglik(
    x: jax.Array, mean: jax.Array, logvar: jax.Array, factor: jax.Array, df: jax.Array
) -> jax.Array:
    """log t_df(x; mean, S (I + U U^T) S) of vectors, the multivariate Student-t (one mixing
    weight for all D features). # [..., D], df [...] -> [...]"""
    quad, logdet = _lowrank_terms(x, mean, logvar, factor)
    return student_t_logdensity(quad, logdet, x.shape[-1], df)


def t_mixing(key: jax.Array, df: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """w ~ Gamma(df / 2, rate df / 2), [*shape, *df.shape]: eps / sqrt(w) with eps ~ N(0, I) is a
    t_df draw (the Student-t as a Gaussian scale mixture)."""
    half = jnp.broadcast_to(0.5 * df, (*shape, *df.shape)).astype(dtype)
    return jax.random.gamma(key, half, dtype=dtype) / half


def gaussian_loglik_std(x: jax.Array, mean: jax.Array, std) -> jax.Array:
    """Elementwise log N(x; mean, std^2), the standard-deviation form (LDIDP observations)."""
    return -0.5 * (LOG_2PI + 2 * jnp.log(std) + jnp.square((x - mean) / std))


def bernoulli_loglik(x: jax.Array, logits: jax.Array) -> jax.Array:
    """Elementwise log Bernoulli(x; sigmoid(logits)) = x logits - softplus(logits), x in {0, 1}."""
    return x * logits - jax.nn.softplus(logits)


def poisson_loglik(x: jax.Array, log_rate: jax.Array) -> jax.Array:
    """Elementwise log Poisson(x; exp(log_rate)) = x log_rate - exp(log_rate) - log x!."""
    return x * log_rate - jnp.exp(log_rate) - jax.lax.lgamma(x + 1.0)


def gaussian_kl(mu_q: jax.Array, std_q, mu_p: jax.Array, std_p) -> jax.Array:
    """Elementwise KL(N(mu_q, std_q^2) || N(mu_p, std_p^2)).

    KL = log(std_p / std_q) + (std_q^2 + (mu_q - mu_p)^2) / (2 std_p^2) - 1/2
    """
    var_q, var_p = jnp.square(std_q), jnp.square(std_p)
    return jnp.log(std_p) - jnp.log(std_q) + (var_q + jnp.square(mu_q - mu_p)) / (2 * var_p) - 0.5


def standard_normal_kl(mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(N(mean, diag exp(logvar)) || N(0, I)), summed over the last axis. # [B, Z] -> [B]"""
    return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(logvar) - 1.0 - logvar, axis=-1)
