"""TS2Vec's hierarchical contrastive loss (Yue et al. 2022), used by `ldx.metrics.ts2vec`.

Shape legend: B batch, T time, C representation width, K = 2B (instance) or 2T (temporal).

For two views z1, z2 [B, T, C] of the same windows (aligned on their overlap) the loss at one
scale is alpha * instance + (1 - alpha) * temporal contrast, each a cross-entropy of every
representation against its twin among the other valid ones; the views are then max-pooled by 2
along time and the loss is averaged over the scales until one step is left.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_NEG = -1e9  # stands in for -inf in masked logits; keeps gradients of masked rows finite


def _masked_nll(sim: jax.Array, positive: jax.Array, cols: jax.Array) -> jax.Array:
    """-log softmax of each row at its positive, over the row's other valid columns.

    Args:
      sim: similarities. # [..., K, K]
      positive: each row's similarity to its positive. # [..., K]
      cols: valid columns. # [..., 1, K] or broadcastable

    Returns:
      per-row losses. # [..., K]
    """
    allowed = cols & ~jnp.eye(sim.shape[-1], dtype=bool)  # [..., K, K]
    return jax.nn.logsumexp(jnp.where(allowed, sim, _NEG), axis=-1) - positive


def _instance_loss(z1: jax.Array, z2: jax.Array, valid: jax.Array) -> jax.Array:
    """Each view of a window against the 2B - 1 others at the same step; mean over valid steps.

    z1, z2 [B, T, C], valid [T] -> scalar.
    """
    b = z1.shape[0]
    if b == 1:
        return jnp.zeros((), z1.dtype)
    z = jnp.concatenate([z1, z2], axis=0)  # [2B, T, C]
    sim = jnp.einsum("itc,jtc->tij", z, z)  # [T, 2B, 2B]
    positive = jnp.einsum("itc,itc->ti", z, jnp.roll(z, b, axis=0))  # [T, 2B], row i vs i +- B
    nll = _masked_nll(sim, positive, jnp.ones((1, 1, 2 * b), bool))  # [T, 2B]
    steps = jnp.maximum(jnp.sum(valid), 1)
    return jnp.sum(jnp.where(valid[:, None], nll, 0.0)) / (steps * 2 * b)


def _temporal_loss(z1: jax.Array, z2: jax.Array, valid: jax.Array) -> jax.Array:
    """Each step of a window against the other 2L - 1 steps of its two views; mean over rows.

    z1, z2 [B, T, C], valid [T] -> scalar.
    """
    b, t = z1.shape[:2]
    z = jnp.concatenate([z1, z2], axis=1)  # [B, 2T, C]
    sim = jnp.einsum("btc,bsc->bts", z, z)  # [B, 2T, 2T]
    positive = jnp.einsum("btc,btc->bt", z, jnp.roll(z, t, axis=1))  # [B, 2T], step t vs t +- T
    rows = jnp.concatenate([valid, valid])  # [2T]
    nll = _masked_nll(sim, positive, rows[None, None, :])  # [B, 2T]
    count = jnp.maximum(jnp.sum(rows), 1)
    return jnp.sum(jnp.where(rows[None, :], nll, 0.0)) / (b * count)


def _max_pool2(z: jax.Array) -> jax.Array:
    """Max over disjoint pairs of steps, dropping an odd last step: [B, T, C] -> [B, T // 2, C]."""
    b, t, c = z.shape
    return z[:, : 2 * (t // 2)].reshape(b, t // 2, 2, c).max(axis=2)


def hierarchical_contrastive_loss(
    z1: jax.Array, z2: jax.Array, length: jax.Array | int | None = None, alpha: float = 0.5
) -> jax.Array:
    """TS2Vec's hierarchical contrastive loss between two aligned views.

    z1[i, t] and z2[i, t] represent the same step t of window i seen in two crops. With
    sim(u, v) = u . v (no normalisation, no temperature) and l(u; v, S) = -log(exp sim(u, v) /
    sum_{w in S} exp sim(u, w)), at one scale with L steps:

        instance = mean_{t < L, i, u} l(u; twin(u), {z1[:, t], z2[:, t]} minus u)
        temporal = mean_{i, t < L, u} l(u; twin(u), {z1[i, :L], z2[i, :L]} minus u)

    with u over the two views {z1[i, t], z2[i, t]} of step t of window i
    (twin(u): the same (i, t) in the other view; temporal = 0 when L = 1, instance = 0 when B = 1).
    Scales s = 0, 1, ... max-pool both views over disjoint pairs of steps (L_s = floor(L / 2^s))
    while L_s >= 1, and

        loss = (1 / S) sum_s [alpha instance_s + (1 - alpha) temporal_s],   S = floor(log2 L) + 1.

    Args:
      z1: representations of view 1. # [B, T, C]
      z2: representations of view 2, aligned with z1. # [B, T, C]
      length: L, the valid prefix of both (1 <= L <= T, may be traced); None means T.
      alpha: weight of the instance-wise term.

    Returns:
      the scalar loss.
    """
    length = jnp.asarray(z1.shape[1] if length is None else length, jnp.int32)
    total, scales, s = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32), 0
    while True:  # static: scale s holds T_s = floor(T / 2^s) steps, of which L_s are valid
        ls = jnp.right_shift(length, s)
        valid = jnp.arange(z1.shape[1]) < ls  # [T_s]
        term = alpha * _instance_loss(z1, z2, valid) + (1 - alpha) * _temporal_loss(z1, z2, valid)
        total = total + jnp.where(ls >= 1, term, 0.0)
        scales = scales + (ls >= 1)
        if z1.shape[1] == 1:
            return total / scales
        z1, z2, s = _max_pool2(z1), _max_pool2(z2), s + 1
