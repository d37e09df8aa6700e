"""Sequential Monte Carlo over time: completions of a partly observed window from any model
that generates a window step by step (both families: ldx/ld/generate.py, ldx/ldidp/samplers.py).

Shapes follow ldx/shapes.py; here P is the number of particles, K of completions.

The model is a `StepModel`. `init(key, P)` draws P particles' latent state from the prior;
`step(state, x_prev [P, D], key)` advances it one step (drawing any latent transition from the
model's own dynamics) and returns the head of p(x_t | state); `observe(head, x_t, mask_t, key)`
returns each particle's log-likelihood of x_t's observed entries and a draw of the others from
their conditional given the observed ones. The target is

    p(latents, X_miss | X_obs)  propto  p(latents) prod_t p(x_t | latents, x_<t),

observed entries fixed. Each particle is weighted by p(x_t,obs | its past) and draws x_t,miss
from p(x_t,miss | x_t,obs, its past), the fully adapted proposal for x_t, so the weights are
exact and the estimator is consistent as P grows (a bootstrap filter for the latents, whose
transitions are proposed from the prior). The particles are resampled (systematic) when the
effective sample size falls below `ess_threshold * P`; the K completions are drawn from the
final weights and traced back through the ancestors.

The LD/PSLD head (`gaussian_observe`) is `(mean, logvar)` (diagonal) or `(mean, logvar,
factor)`, the low-rank covariance Sigma = S (I + U U^T) S of `ldx.nn.decoders.GaussianHead`:
the observed entries' Gaussian marginal weighs, and the missing ones are drawn independently
(diagonal) or by Matheron's rule, y ~ N(mu, Sigma), x = y + Sigma O (O Sigma O)^-1 O (x_obs - y).

Why no move step for LD/PSLD: z is static and its prior (a diffusion model) has no tractable
density, so the usual MCMC rejuvenation of z is not available; after a few observed steps the
particles share few distinct z (weight degeneracy). `ldx` uses many particles instead, and
reports the smallest ESS and the number of distinct ancestors of the K completions so a user
can see it. LDIDP's latent z_k moves at every step (its transition noise), so its current
particles stay diverse, but their paths still coalesce back in time; as its steps never read x,
each completion's missing entries are drawn anew from its own traced-back head (`feedback`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ldx.probability import LOG_2PI, gaussian_loglik


class StepModel(NamedTuple):
    """A step-by-step generative model as SMC sees it (see the module docstring).

    Attributes:
      init: init(key, P) -> state, a pytree of P particles' latents and decoder state (a leaf
        without a particle axis, e.g. a step counter, is shared).
      step: step(state, x_prev [P, D], key) -> (state, head). The first call's x_prev is zeros.
      observe: observe(head, x [D], mask [D], key) -> (loglik [P] of x's observed entries,
        x_t [P, D]: x where observed, else a draw from the head's conditional).
      feedback: whether `step` reads x_prev. If not (LDIDP), the K completions' unobserved
        entries are drawn anew, each from its own traced-back head, so completions that share
        a latent path still get independent observation noise (the same target: given the
        latent path, x_miss ~ p(x_miss | path)); if so, x_<t is part of the path and is traced
        back with it.
    """

    init: Callable
    step: Callable
    observe: Callable
    feedback: bool = True


def log_ess(logw: jax.Array) -> jax.Array:
    """log of the effective sample size (sum w)^2 / sum w^2 of log weights [P]."""
    return 2.0 * jax.nn.logsumexp(logw) - jax.nn.logsumexp(2.0 * logw)


def systematic_resample(key: jax.Array, logw: jax.Array, num: int) -> jax.Array:
    """`num` ancestor indices [num] by systematic resampling of the log weights [P]."""
    w = jax.nn.softmax(logw)
    cdf = jnp.cumsum(w)
    u = (jax.random.uniform(key, ()) + jnp.arange(num)) / num  # [num]
    return jnp.minimum(
        jnp.searchsorted(cdf, u * cdf[-1], side="right", method="compare_all"), logw.shape[0] - 1
    )


def gaussian_observe(head, x: jax.Array, mask: jax.Array, key: jax.Array, noise=1.0):
    """`StepModel.observe` of a Gaussian head: the log-likelihood of the observed entries and a
    draw of the rest, for P particles.

    Args:
      head: (mean, logvar) [P, D] each, or (mean, logvar, factor [P, D, r]).
      x: this step's values [D] (anything where not observed).
      mask: 1 where observed [D].
      key: PRNG key of the draw.
      noise: scale of the draw of the unobserved entries (0 takes their conditional mean).

    Returns:
      (loglik [P] of x's observed entries, x_t [P, D]: x where observed, else the draw).
    """
    mean, logvar = head[:2]
    obs = mask > 0
    x = jnp.where(obs, x, 0.0)
    d = mean.shape[-1]
    rank = head[2].shape[-1] if len(head) == 3 else 0
    eps = jax.random.normal(key, (*mean.shape[:-1], d + rank), mean.dtype)  # [P, D + r]
    if len(head) == 2:  # diagonal: the entries are independent given the particle
        loglik = jnp.where(obs, gaussian_loglik(x, mean, logvar), 0.0).sum(-1)
        draw = mean + noise * jnp.exp(0.5 * logvar) * eps[..., :d]
        return loglik, jnp.where(obs, x, draw)
    factor = head[2]
    std = jnp.exp(0.5 * logvar)  # [P, D]
    cov = (
        std[..., :, None]
        * (jnp.eye(d) + jnp.einsum("...dr,...er->...de", factor, factor))
        * std[..., None, :]
    )  # [P, D, D]
    o = obs.astype(mean.dtype)  # [D]
    # Sigma_OO on the observed block, the identity on the rest: its Cholesky factor gives
    # log det Sigma_OO and Sigma_OO^-1 with fixed shapes.
    block = cov * o[:, None] * o[None, :] + jnp.diag(1.0 - o)  # [P, D, D]
    chol = jnp.linalg.cholesky(block)
    solve = lambda r: jax.scipy.linalg.cho_solve((chol, True), r[..., None])[..., 0]  # noqa: E731
    resid = o * (x - mean)  # [P, D]
    white = jax.scipy.linalg.solve_triangular(chol, resid[..., None], lower=True)[..., 0]
    logdet = 2.0 * jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
    loglik = -0.5 * (o.sum() * LOG_2PI + logdet + jnp.square(white).sum(-1))
    y = mean + noise * std * (eps[..., :d] + jnp.einsum("...dr,...r->...d", factor, eps[..., d:]))
    y = y + jnp.einsum("...de,...e->...d", cov, o * solve(o * (x - y)))  # Matheron's rule
    return loglik, jnp.where(obs, x, y)


def _batch_axes(init: Callable, key: jax.Array, num: int):
    """The particle axis of each leaf of init's state (None for leaves without one)."""
    a = jax.eval_shape(lambda k: init(k, num), key)
    b = jax.eval_shape(lambda k: init(k, num + 1), key)

    def axis(u, v):
        diff = [i for i, (m, n) in enumerate(zip(u.shape, v.shape)) if m != n]
        return diff[0] if diff else None

    return jax.tree.map(axis, a, b)


def _gather(state, axes, idx: jax.Array):
    return jax.tree.map(
        lambda leaf, ax: leaf if ax is None else jnp.take(leaf, idx, axis=ax), state, axes
    )


class Completion(NamedTuple):
    """What `smc_complete` returns for one window.

    Attributes:
      samples: K completions [K, T, D]; observed entries equal the input's.
      log_evidence: the SMC estimate of log p(x_obs) (unbiased in p, not in log p).
      min_ess: the smallest effective sample size before any resampling, in [1, P].
      num_ancestors: distinct particles at step 0 that the K completions descend from.
    """

    samples: jax.Array
    log_evidence: jax.Array
    min_ess: jax.Array
    num_ancestors: jax.Array


def smc_complete(
    model: StepModel,
    x: jax.Array,
    mask: jax.Array,
    key: jax.Array,
    num_particles: int,
    num_completions: int,
    ess_threshold: float = 0.5,
) -> Completion:
    """K completions of one window x [T, D] whose entries with mask [T, D] = 1 are observed.

    Args:
      model: the `StepModel`.
      x: the window [T, D] (anything where not observed).
      mask: 1 where observed [T, D].
      key: PRNG key.
      num_particles: P.
      num_completions: K, drawn from the final weights (with replacement).
      ess_threshold: resample when ESS < ess_threshold * P (1 resamples every step).

    Returns:
      a `Completion`.
    """
    k_init, k_steps, k_out = jax.random.split(key, 3)
    num = num_particles
    axes = _batch_axes(model.init, k_init, num)
    state = model.init(k_init, num)
    steps, d = x.shape

    def body(carry, inputs):
        state, x_prev, logw, logz, min_ess = carry
        x_t, mask_t, key_t = inputs
        k_step, k_obs, k_res = jax.random.split(key_t, 3)
        state, head = model.step(state, x_prev, k_step)
        loglik, x_new = model.observe(head, x_t, mask_t, k_obs)
        logw = logw + loglik
        logz = logz + jax.nn.logsumexp(logw) - jax.nn.logsumexp(logw - loglik)
        lr = log_ess(logw)
        resample = lr < math.log(ess_threshold * num)
        anc = jnp.where(resample, systematic_resample(k_res, logw, num), jnp.arange(num))
        state = _gather(state, axes, anc)
        logw = jnp.where(resample, jnp.zeros_like(logw), logw)
        carry = (state, x_new[anc], logw, logz, jnp.minimum(min_ess, lr))
        return carry, (x_new if model.feedback else head, anc)

    init = (state, jnp.zeros((num, d), x.dtype), jnp.zeros(num), jnp.zeros(()), jnp.log(num))
    keys = jax.random.split(k_steps, steps)
    (_, _, logw, logz, min_ess), (outs, ancs) = jax.lax.scan(body, init, (x, mask, keys))
    k_pick, k_draw = jax.random.split(k_out)
    idx = jax.random.categorical(k_pick, logw, shape=(num_completions,))  # [K]

    def back(idx, anc):
        idx = anc[idx]
        return idx, idx

    first, path = jax.lax.scan(back, idx, ancs, reverse=True)  # path [T, K]: particle at t
    at_path = lambda leaf: leaf[jnp.arange(steps)[:, None], path]  # noqa: E731  [T, P, ..] -> [T, K, ..]
    if model.feedback:
        out = at_path(outs)  # [T, K, D]
    else:
        heads = jax.tree.map(at_path, outs)
        redraw = lambda h, x_t, m_t, k: model.observe(h, x_t, m_t, k)[1]  # noqa: E731
        out = jax.vmap(redraw)(heads, x, mask, jax.random.split(k_draw, steps))  # [T, K, D]
    distinct = jnp.zeros(num, bool).at[first].set(True).sum()
    return Completion(jnp.swapaxes(out, 0, 1), logz, jnp.exp(min_ess), distinct)
