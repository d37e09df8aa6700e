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


def lowrank_gaussian_loglik(
    x: jax.Array, mean: jax.Array, logvar: jax.Array, factor: jax.Array
) -> jax.Array:
    """log N(x; mean, S (I + U U^T) S) of vectors; S = diag(exp(logvar / 2)), U = factor [.., D, r].

    Not elementwise: it sums over the last axis (D), as the covariance couples it. With
    y = S^-1 (x - mean) and C = I_r + U^T U, the matrix determinant lemma and Woodbury give

        log det Sigma = sum(logvar) + log det C,
        (x - mean)^T Sigma^-1 (x - mean) = y^T y - (U^T y)^T C^-1 (U^T y),

    O(D r^2 + r^3) instead of O(D^3). # [..., D] -> [...]
    """
    y = (x - mean) * jnp.exp(-0.5 * logvar)  # [..., D]
    gram = jnp.einsum("...dr,...ds->...rs", factor, factor)  # [..., r, r]
    cap = jnp.eye(factor.shape[-1], dtype=y.dtype) + gram
    chol = jnp.linalg.cholesky(cap)  # [..., r, r]
    uy = jnp.einsum("...dr,...d->...r", factor, y)  # [..., r]
    w = jax.scipy.linalg.solve_triangular(chol, uy[..., None], lower=True)[..., 0]
    quad = jnp.square(y).sum(axis=-1) - jnp.square(w).sum(axis=-1)
    logdet = logvar.sum(axis=-1) + 2.0 * jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
    return -0.5 * (x.shape[-1] * LOG_2PI + logdet + quad)


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
