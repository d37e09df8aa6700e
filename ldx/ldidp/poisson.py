"""Exact Poisson draws by inversion, much faster than `jax.random.poisson` for small rates.

Shapes (ldx/shapes.py): any array shape [...] (one draw per rate).

`jax.random.poisson` runs Knuth's algorithm (a fresh uniform for every element at every
iteration) and, on every element, a rejection loop for rates >= 10; on CPU it costs 0.5-2 s per
10^6 draws. Inversion by sequential search needs one uniform per element:

    u ~ U[0, 1),   p_0 = exp(-rate),   p_{k+1} = p_k rate / (k + 1),   F_k = p_0 + ... + p_k
    x = min {k : u < F_k} = #{k >= 0 : u >= F_k}

so P(x = k) = F_k - F_{k-1} = p_k. One `lax.while_loop` advances k for every element at once
(`UNROLL` values of k per fused pass) and stops when every element is done, i.e. after about
max(x) / UNROLL passes: for the spike rates of ldx (a few counts per bin at most) 2-4 passes.

Large rates make the search long (about rate + 5 sqrt(rate) values of k) and exp(-rate) leaves
the float32 normal range above rate ~87, so elements with rate > `INVERSION_MAX_RATE` (60) are
drawn by `jax.random.poisson` instead (exact as well) with an independent key: up to
`LARGE_BUFFER` of them are gathered into a small buffer for it (a few per 10^6 draws on the
spike models of ldx), more take it on the whole array (slow, but still exact). Each element uses
one of the two draws, so the result is exact either way.

float32 caveats: u takes values on a grid of 2^-23 and u - F_k carries a rounding error of about
k 2^-24, so each probability is exact up to ~1e-7 absolute. Tail outcomes below that resolution
are cut off: past the mode, an element whose u - F_k no longer changes when p_k is subtracted
stops there and returns that k, an event of probability ~1e-7 (for rate 30 at k ~ 64).

Why 60: a single element above the threshold costs a gathered `jax.random.poisson` call (a
rejection loop), while inversion up to rate 60 only lengthens the shared search by a few
passes. `benchmarks.ldidp_sampling --poisson_max_rates=30,60` times both on the rates of one
sampling call of a trained spike model (benchmarks/results/ldidp/results.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

INVERSION_MAX_RATE = 60.0  # Elements with larger rates are drawn by jax.random.poisson.
LIMIT_MAX_RATE = 80.0  # Largest allowed max_rate: exp(-rate) stays a normal float32 (> 1e-38).
LARGE_BUFFER = 4096  # Elements above it per call that are gathered for jax.random.poisson.
MAX_ITERS = 1000  # Safety cap on k (only NaN rates reach it; rates <= 60 stop by k ~ 200).
UNROLL = 8  # Search steps per while-loop pass: one fused pass over memory per 8 values of k.


def _inversion(u: jax.Array, rate: jax.Array) -> jax.Array:
    """x = #{k : u >= F_k} by a sequential search over k, all elements at once. # [...] -> [...]

    Carries r = u - F_k (done once r < 0) so that a pass reads and writes three arrays.
    """
    p = jnp.exp(-rate)  # p_0, [...]

    def cond(state):
        k, _, r, _ = state
        return (k < MAX_ITERS) & jnp.any(r >= 0)

    def body(state):
        k, p, r, x = state
        for _ in range(UNROLL):
            k = k + 1
            x = x + (r >= 0).astype(x.dtype)  # still searching: u >= F_{k-1}
            p = p * (rate * (1.0 / k.astype(rate.dtype)))  # p_k
            new = r - p  # u - F_k
            # Past the mode F stops growing in float32 once p_k is below its resolution: the
            # rest of the tail is unreachable, so the element stops here (r = -1 marks done).
            r = jnp.where((k > rate) & (new >= r), -1.0, new)
        return k, p, r, x

    init = (jnp.int32(0), p, u - p, jnp.zeros(rate.shape, jnp.int32))
    return jax.lax.while_loop(cond, body, init)[3]


def _draw_large(key: jax.Array, rate: jax.Array, small: jax.Array, x: jax.Array) -> jax.Array:
    """Fills the elements not in `small` (rate > max_rate) from jax.random.poisson. # [...]

    Up to LARGE_BUFFER such elements are gathered into a fixed-size buffer, so the rejection
    sampler runs on that buffer, not on the whole array; more than that takes the whole array.
    """
    flat_rate = rate.ravel()  # [S]
    cap = min(flat_rate.size, LARGE_BUFFER)
    idx = jnp.nonzero(~small.ravel(), size=cap, fill_value=flat_rate.size)[0]  # [cap]

    def gathered():
        lam = flat_rate.at[idx].get(mode="fill", fill_value=0.0)  # [cap]
        draws = jax.random.poisson(key, lam, dtype=x.dtype)
        return x.ravel().at[idx].set(draws, mode="drop").reshape(x.shape)

    def whole():
        draws = jax.random.poisson(key, jnp.where(small, 0.0, rate), dtype=x.dtype)
        return jnp.where(small, x, draws)

    return jax.lax.cond(jnp.sum(~small) > cap, whole, gathered)


def poisson(
    key: jax.Array, rate: jax.Array, dtype=jnp.int32, max_rate: float = INVERSION_MAX_RATE
) -> jax.Array:
    """Exact Poisson(rate) draws, one per element. # [...] -> [...]

    Elements with rate <= max_rate are drawn by inversion, the others (if any) by
    jax.random.poisson with an independent key.

    Args:
      key: a PRNG key; the same key and rates give the same draws.
      rate: non-negative rates (means). # [...]
      dtype: integer dtype of the result.
      max_rate: largest rate drawn by inversion, in [0, LIMIT_MAX_RATE] (a Python float).

    Returns:
      Counts with rate's shape; 0 where rate == 0.
    """
    if not 0.0 <= max_rate <= LIMIT_MAX_RATE:
        raise ValueError(f"poisson: max_rate={max_rate} must be in [0, {LIMIT_MAX_RATE}].")
    rate = jnp.asarray(rate, jnp.float32)
    if rate.size == 0:
        return jnp.zeros(rate.shape, dtype)
    k_u, k_large = jax.random.split(key)
    small = rate <= max_rate
    u = jax.random.uniform(k_u, rate.shape, rate.dtype)
    x = _inversion(u, jnp.where(small, rate, 0.0)).astype(dtype)
    return jax.lax.cond(jnp.any(~small), lambda: _draw_large(k_large, rate, small, x), lambda: x)
