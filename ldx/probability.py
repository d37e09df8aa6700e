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
