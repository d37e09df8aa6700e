"""Generating latent trajectories and observations: the implicit and the explicit sampler.

Shapes (ldx/shapes.py): N series, T time, D features, Z latent, H width, M Langevin steps.

Implicit (DDIM-like), one `lax.scan` over k for the latents, then every x_k at once:

    z_0 ~ p(z_0);  h_k = GRU(h_{k-1}, z_{k-1});  c^_k = W_c h_k + b_c
    (first_step="initial": z_1 = z_0 and the recursion makes z_2..z_T)
    z_k = m(z_{k-1}, c^_k) + eta * sigma * eps_k        (eta = 0: deterministic given z_0)
    x_k ~ p(x_k | f_theta(z_k))   (or its mean when decode_noise is False)

The dynamics never read x, so the scan carries only (h, z) and the decoder and the observation
noise run once on all z [N, T, Z] after it (Poisson counts by the inversion sampler of
poisson.py).

eta = 1 draws exactly from the trained generative model; eta = 0 follows its mean path, the
counterpart of DDIM with sigma = 0.

Explicit (the ablation): the same latent scan and decoding, but each z_k is reached by M steps
of unadjusted Langevin dynamics on log p(z_k | z_{<k}) = log N(mu_k, sigma^2 I), started from
N(0, I):

    z <- z - (delta / 2) (z - mu_k) / sigma^2 + sqrt(delta) xi,   delta = step_size * sigma^2

which converges geometrically (factor 1 - step_size / 2 per step) to N(mu_k, sigma^2 / (1 -
step_size / 4)): the eta = 1 distribution up to an O(step_size) variance bias.

`step_model` is the same generative model (eta = 1) one bin at a time, for completion by SMC
(ldx/smc.py, ldx/complete.py): particles carry (h_k, z_k), z_k is drawn from the transition,
and bin k's observed entries weigh them by the observation likelihood; the missing entries are
drawn from p(x_k | z_k), exactly, as the features are independent given z_k.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from ldx.errors import check_config
from ldx.ldidp.model import LDIDP
from ldx.ldidp.objective import obs_loglik
from ldx.ldidp.poisson import poisson
from ldx.smc import StepModel

SAMPLERS = ("implicit", "explicit")


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Typed `config.sample` of an `ldidp` run.

    Attributes:
      sampler: "implicit" (one step per time bin) or "explicit" (M Langevin steps per bin).
      eta: implicit sampler stochasticity in [0, 1]; 0 is deterministic given z_0.
      langevin_steps: M, explicit sampler steps per time bin.
      langevin_step_size: delta / sigma^2 of the explicit sampler, in (0, 2).
      decode_noise: draw x_k ~ p(x_k | f(z_k)) (True) or return its mean.
      batch_size: series per compiled sampling call.
    """

    sampler: str = "implicit"
    eta: float = 0.0
    langevin_steps: int = 100
    langevin_step_size: float = 0.1
    decode_noise: bool = True
    batch_size: int = 1000

    def __post_init__(self):
        check_config(
            self,
            "sample",
            dict(sampler=SAMPLERS),
            ("langevin_steps", "batch_size"),
            (
                ("eta", 0.0 <= self.eta <= 1.0, "in [0, 1]"),
                ("langevin_step_size", 0.0 < self.langevin_step_size < 2.0, "in (0, 2)"),
            ),
        )


def observe(model: LDIDP, z: jax.Array, key: jax.Array, decode_noise: bool) -> jax.Array:
    """x ~ p(x | f_theta(z)), or its mean E[x | z]; one decoder call, one noise draw.

    Args:
      model: the LDIDP module.
      z: latents. # [..., Z]
      key: observation-noise key (unused when decode_noise is False).
      decode_noise: sample observations (True) or return their means.

    Returns:
      Observations or their means. # [..., D]
    """
    cfg = model.cfg
    out = model.decode(z)  # [..., D]
    if cfg.observation == "gaussian":
        noise = cfg.obs_std * jax.random.normal(key, out.shape, out.dtype)
        return out + noise if decode_noise else out
    if cfg.observation == "bernoulli":
        p = jax.nn.sigmoid(out)
        return jax.random.bernoulli(key, p).astype(out.dtype) if decode_noise else p
    rate = jnp.exp(out)
    return poisson(key, rate).astype(out.dtype) if decode_noise else rate


def latent_scan(
    model: LDIDP, z0: jax.Array, keys: jax.Array | None, draw_z, seq_len: int
) -> jax.Array:
    """The latent recursion: h_k, c^_k from the GRU, z_k = draw_z(mu_k, key_k), k = 1..T.

    Args:
      model: the LDIDP module.
      z0: initial latents. # [N, Z]
      keys: one key per time bin [T], or None with draw_z ignoring its key.
      draw_z: (mu_k [N, Z], key or None) -> z_k [N, Z].
      seq_len: T.

    Returns:
      Latents z_1..z_T (z_1 = z0 with first_step="initial"). # [N, T, Z]
    """

    def step(carry, key):
        h, z_prev = carry
        h, c_hat = model.dynamics(h, z_prev)  # [N, H], [N, Z]
        z = draw_z(model.transition_mean(z_prev, c_hat), key)  # [N, Z]
        return (h, z), z

    t = model.transition_bins(seq_len)
    keys = None if keys is None else keys[seq_len - t :]
    _, z = jax.lax.scan(step, (model.initial_state(z0), z0), keys, length=t)
    return model.join_path(z0, jnp.swapaxes(z, 0, 1))


def _rollout(model, z0, key, seq_len, draw_z, decode_noise, stochastic=True):
    """Latent scan, then all T observations in one batched decode and one noise draw.

    The dynamics do not depend on x, so only the latent recursion is sequential. With
    stochastic False draw_z gets no key (no per-bin keys are made).

    Returns:
      (z, x): latents z_1..z_T [N, T, Z] and observations [N, T, D].
    """
    k_z, k_x = jax.random.split(key)
    keys = jax.random.split(k_z, seq_len) if stochastic else None
    z = latent_scan(model, z0, keys, draw_z, seq_len)  # [N, T, Z]
    return z, observe(model, z, k_x, decode_noise)  # [N, T, D]


def implicit_rollout(
    model: LDIDP, z0: jax.Array, key: jax.Array, seq_len: int, eta: float, decode_noise=True
):
    """The implicit sampler from given z_0 [N, Z]: (z [N, T, Z], x [N, T, D]).

    At eta = 0 the latent path depends on z0 only, not on `key`.
    """
    sigma = model.cfg.sigma

    def draw_z(mu, k):
        if eta == 0:
            return mu
        return mu + eta * sigma * jax.random.normal(k, mu.shape, mu.dtype)

    return _rollout(model, z0, key, seq_len, draw_z, decode_noise, stochastic=eta > 0)


def langevin(mu: jax.Array, sigma: float, key: jax.Array, steps: int, step_size: float):
    """M unadjusted Langevin steps on log N(mu, sigma^2 I) from z ~ N(0, I). # [N, Z] -> [N, Z]"""
    delta = step_size * sigma**2
    k_init, k_steps = jax.random.split(key)

    def step(z, k):
        xi = jax.random.normal(k, z.shape, z.dtype)
        return z - 0.5 * delta * (z - mu) / sigma**2 + math.sqrt(delta) * xi, None

    z0 = jax.random.normal(k_init, mu.shape, mu.dtype)
    z, _ = jax.lax.scan(step, z0, jax.random.split(k_steps, steps))
    return z


def explicit_rollout(
    model: LDIDP,
    z0: jax.Array,
    key: jax.Array,
    seq_len: int,
    steps: int,
    step_size: float,
    decode_noise=True,
):
    """The explicit sampler from given z_0 [N, Z]: (z [N, T, Z], x [N, T, D])."""
    sigma = model.cfg.sigma

    def draw_z(mu, k):
        return langevin(mu, sigma, k, steps, step_size)

    return _rollout(model, z0, key, seq_len, draw_z, decode_noise)


def sample(model: LDIDP, cfg: SamplerConfig, key: jax.Array, num: int, seq_len: int):
    """Draws z_0 ~ p(z_0) and runs the configured sampler: (z [N, T, Z], x [N, T, D])."""
    k0, k = jax.random.split(key)
    z0 = model.sample_init(k0, num)
    if cfg.sampler == "implicit":
        return implicit_rollout(model, z0, k, seq_len, cfg.eta, cfg.decode_noise)
    return explicit_rollout(
        model, z0, k, seq_len, cfg.langevin_steps, cfg.langevin_step_size, cfg.decode_noise
    )


def step_model(model: LDIDP, decode_noise: bool = True) -> StepModel:
    """The generative model (eta = 1) bin by bin, as `ldx.smc` completes with it.

    State: (h [P, H], z [P, Z], k), before bin k + 1. The head of bin k is z_k [P, Z]; the
    missing entries are x_k ~ p(x_k | f_theta(z_k)) (its mean if not decode_noise).
    """
    cfg = model.cfg
    keep_first = cfg.first_step == "initial"  # bin 1's latent is z_0 itself

    def init(key, num):
        z0 = model.sample_init(key, num)  # [P, Z]
        return model.initial_state(z0), z0, jnp.zeros((), jnp.int32)

    def step(state, x_prev, key):
        del x_prev  # the dynamics never read x
        h, z, k = state
        h_new, c_hat = model.dynamics(h, z)  # [P, H], [P, Z]
        eps = jax.random.normal(key, z.shape, z.dtype)
        z_new = model.transition_mean(z, c_hat) + cfg.sigma * eps  # [P, Z]
        if keep_first:
            h_new, z_new = jnp.where(k == 0, h, h_new), jnp.where(k == 0, z, z_new)
        return (h_new, z_new, k + 1), z_new

    def observe_bin(z, x, mask, key):
        obs = mask > 0
        x = jnp.where(obs, x, 0.0)  # [D]
        loglik = obs_loglik(cfg.observation, x, model.decode(z), cfg.obs_std)  # [P, D]
        draw = observe(model, z, key, decode_noise)  # [P, D]
        return jnp.where(obs, loglik, 0.0).sum(-1), jnp.where(obs, x, draw)

    return StepModel(init, step, observe_bin, feedback=False)
