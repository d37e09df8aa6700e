"""The LDIDP evidence lower bound: likelihoods, closed-form KL terms, the posterior scan.

Shapes (ldx/shapes.py): B batch, T time, D features, Z latent, H width.

    log p(x_{1:T}) >= E_q[ sum_k log p(x_k | z_k) ]
                      - KL(q(z_0 | x) || p(z_0))
                      - sum_k E_q[ KL(q(z_k | z_{k-1}, x) || p(z_k | z_{<k})) ]

With equal fixed variances sigma^2 the k-th KL is closed form,
KL_k = ||m(z_{k-1}, c_k) - m(z_{k-1}, c^_k)||^2 / (2 sigma^2) = abar ||c_k - c^_k||^2 / (2 sigma^2),
evaluated at one reparameterised sample z_{k-1} ~ q (one `lax.scan` over k). KL_0 is closed
form for p(z_0) = N(0, I) and -H[q(z_0 | x)] - log p(z_0) at the same sample z_0 for the
learned mixture prior.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from ldx.errors import ConfigError
from ldx.ldidp.model import LDIDP
from ldx.probability import bernoulli_loglik, gaussian_kl, gaussian_loglik_std, poisson_loglik


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    """Typed `config.objective` of an `ldidp` run.

    Attributes:
      kl_weight: beta, the final weight of the KL terms (1 is the ELBO).
      kl_warmup_steps: beta ramps linearly from 0 over this many steps (0: no ramp).
      input_dropout: probability that an encoder input entry is zeroed during training (the
        rest are scaled by 1 / (1 - p)); a regulariser for small spike data sets.
      init_kl_weight: weight of KL(q(z_0 | x) || p(z_0)) in the training loss relative to the
        transitions' KL (1: the ELBO; < 1 lessens the pull of the mixture prior on the first
        bin's latent, issue 22). The reported `elbo` and `kl` always use weight 1.
    """

    kl_weight: float = 1.0
    kl_warmup_steps: int = 0
    input_dropout: float = 0.0
    init_kl_weight: float = 1.0

    def __post_init__(self):
        if self.kl_weight < 0 or self.kl_warmup_steps < 0 or self.init_kl_weight < 0:
            raise ConfigError(
                "config.objective.kl_weight, kl_warmup_steps and init_kl_weight must be >= 0."
            )
        if not 0.0 <= self.input_dropout < 1.0:
            raise ConfigError(
                f"config.objective.input_dropout={self.input_dropout} must be in [0, 1)."
            )


def obs_loglik(observation: str, x: jax.Array, out: jax.Array, obs_std: float) -> jax.Array:
    """Elementwise log p(x | f_theta(z)) for the observation model. # [..., D]"""
    if observation == "gaussian":
        return gaussian_loglik_std(x, out, obs_std)
    if observation == "bernoulli":
        return bernoulli_loglik(x, out)
    return poisson_loglik(x, out)


def posterior(model: LDIDP, x: jax.Array, eps0: jax.Array, eps: jax.Array):
    """Runs q(z_{0:T} | x) and the prior's predictions along one sample path (one lax.scan).

    With eps0 = 0 and eps = 0 the path is the posterior mean: every q-transition mean is linear
    in z_{k-1} with a coefficient (rho) that does not depend on x, so E_q[z_k] follows the same
    recursion with the noise removed.

    Args:
      model: the LDIDP module.
      x: observations. # [B, T, D]
      eps0: standard normal noise of z_0. # [B, Z]
      eps: standard normal noise of z_1..z_T. # [B, T, Z]

    Returns:
      (z, kl0, kl): latents z_1..z_T [B, T, Z], KL(q(z_0|x) || p(z_0)) [B] and the per-step
      KL(q(z_k | z_{k-1}, x) || p(z_k | z_{<k})) [B, T], each summed over Z. With
      first_step="initial", z_1 = z_0 and kl[:, 0] = 0 (bin 1's KL is kl0).
    """
    cfg = model.cfg
    c, mu0, std0 = model.encode(x[..., : cfg.din])  # [B, T, Z], [B, Z], [B, Z]
    z0 = mu0 + std0 * eps0  # [B, Z]
    kl0 = model.init_kl(mu0, std0, z0)  # [B]

    def step(carry, inputs):
        h, z_prev = carry  # [B, H], [B, Z]
        c_k, eps_k = inputs  # [B, Z], [B, Z]
        h, c_hat = model.dynamics(h, z_prev)
        mu_q = model.transition_mean(z_prev, c_k)  # [B, Z]
        mu_p = model.transition_mean(z_prev, c_hat)  # [B, Z]
        z = mu_q + cfg.sigma * eps_k
        kl = gaussian_kl(mu_q, cfg.sigma, mu_p, cfg.sigma).sum(-1)  # [B]
        return (h, z), (z, kl)

    t = x.shape[1]
    skip = t - model.transition_bins(t)  # 1 if z_1 = z_0 ("initial"): c_1, eps_1 unused
    xs = (jnp.swapaxes(c[:, skip:], 0, 1), jnp.swapaxes(eps[:, skip:], 0, 1))  # [T', B, Z]
    _, (z, kl) = jax.lax.scan(step, (model.initial_state(z0), z0), xs)
    z, kl = jnp.swapaxes(z, 0, 1), jnp.swapaxes(kl, 0, 1)  # [B, T', Z], [B, T']
    if skip:  # bin 1's KL is kl0
        kl = jnp.concatenate([jnp.zeros_like(kl[:, :1]), kl], axis=1)
    return model.join_path(z0, z), kl0, kl


def posterior_mean(model: LDIDP, x: jax.Array) -> jax.Array:
    """E_q[z_{1:T} | x], the inferred latents. # [B, T, D] -> [B, T, Z]"""
    b, t = x.shape[:2]
    z_dim = model.cfg.latent_dim
    z, _, _ = posterior(model, x, jnp.zeros((b, z_dim)), jnp.zeros((b, t, z_dim)))
    return z


def log_joint(model: LDIDP, x: jax.Array, z: jax.Array) -> jax.Array:
    """log p(x_{1:T}, z_{1:T}) under the generative model, first_step="initial" (z_1 = z_0).

        log p(z_1) + sum_k log p(x_k | z_k) + sum_{k >= 2} log N(z_k; m(z_{k-1}, c^_k), sigma^2 I)

    Its maximiser over z is the MAP path (benchmarks/ldidp_edges.py, `--map_steps`).

    Args:
      model: the LDIDP module (first_step="initial").
      x: observations. # [B, T, D]
      z: latents of bins 1..T. # [B, T, Z]

    Returns:
      the log joint density per window. # [B]
    """
    cfg = model.cfg
    if cfg.first_step != "initial":
        raise ValueError('log_joint needs first_step="initial" (z_0 on the path).')
    ll = obs_loglik(cfg.observation, x, model.decode(z), cfg.obs_std).sum((1, 2))  # [B]
    gauss = -0.5 * cfg.latent_dim * math.log(2 * math.pi * cfg.sigma**2)

    def step(carry, z_k):
        h, z_prev = carry  # [B, H], [B, Z]
        h, c_hat = model.dynamics(h, z_prev)
        d = (z_k - model.transition_mean(z_prev, c_hat)) / cfg.sigma  # [B, Z]
        return (h, z_k), gauss - 0.5 * jnp.sum(jnp.square(d), -1)

    z1 = z[:, 0]
    _, lp = jax.lax.scan(step, (model.initial_state(z1), z1), jnp.swapaxes(z[:, 1:], 0, 1))
    return ll + model.init_log_prob(z1) + lp.sum(0)


def elbo_terms(model: LDIDP, x: jax.Array, key: jax.Array, x_enc: jax.Array | None = None):
    """One-sample ELBO terms per window: (log-likelihood [B], kl0 [B], kl [B, T]).

    Args:
      model: the LDIDP module.
      x: observations scored by the likelihood. # [B, T, D]
      key: draws the reparameterisation noise (split into z_0's and z_{1:T}'s).
      x_enc: what the encoder sees instead of x (e.g. with input dropout). # [B, T, D]
    """
    b, t = x.shape[:2]
    k0, k1 = jax.random.split(key)
    eps0 = jax.random.normal(k0, (b, model.cfg.latent_dim), x.dtype)
    eps = jax.random.normal(k1, (b, t, model.cfg.latent_dim), x.dtype)
    z, kl0, kl = posterior(model, x if x_enc is None else x_enc, eps0, eps)
    out = model.decode(z)  # [B, T, D]
    loglik = obs_loglik(model.cfg.observation, x, out, model.cfg.obs_std).sum((1, 2))  # [B]
    return loglik, kl0, kl


def make_loss_fn(cfg: ObjectiveConfig, num_steps: int):
    """Builds loss_fn(model, x [B, T, D], key, step, stage) -> (loss, metrics).

    loss = mean_B[ -log p(x | z) + beta(step) (w_0 KL_0 + sum_k KL_k) ] / (T D), with
    w_0 = init_kl_weight (1: the ELBO) and
    beta(step) = kl_weight * min(1, step / kl_warmup_steps). Metrics are per window in nats:
    `elbo` (with beta = 1), `nll`, `kl`; and `beta`. `num_steps` is unused (kept for the
    Experiment interface).
    """
    del num_steps

    def loss_fn(model: LDIDP, x: jax.Array, key: jax.Array, step, stage: str = "joint"):
        del stage  # LDIDP trains all parts jointly.
        k_drop, k_elbo = jax.random.split(key)
        x_enc = None
        if cfg.input_dropout > 0:  # The encoder sees dropped inputs; the likelihood scores x.
            keep = jax.random.bernoulli(k_drop, 1.0 - cfg.input_dropout, x.shape)
            x_enc = jnp.where(keep, x / (1.0 - cfg.input_dropout), 0.0)
        loglik, kl0, kl = elbo_terms(model, x, k_elbo, x_enc)
        kl_total = kl0 + kl.sum(-1)  # [B]
        kl_train = cfg.init_kl_weight * kl0 + kl.sum(-1)  # [B]
        if cfg.kl_warmup_steps:
            beta = cfg.kl_weight * jnp.minimum(1.0, step / cfg.kl_warmup_steps)
        else:
            beta = jnp.asarray(cfg.kl_weight)
        t, d = x.shape[1:]
        loss = jnp.mean(-loglik + beta * kl_train) / (t * d)
        metrics = {
            "elbo": jnp.mean(loglik - kl_total),
            "nll": -jnp.mean(loglik),
            "kl": jnp.mean(kl_total),
            "beta": beta,
        }
        return loss, metrics

    return loss_fn
