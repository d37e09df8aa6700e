"""Training objectives for LD, its posterior-collapse baselines, and PSLD.

Shapes (ldx/shapes.py): B batch, T time, D features, Z latent.

Every objective is built by `make_loss_fn` and has the signature

    loss_fn(model, x [B, T, D], key, step, stage) -> (loss, metrics)

`stage` is "joint" (all terms), "autoencoder" (all but the prior's DDPM loss)
or "prior" (only the DDPM loss, on a stopped-gradient latent) so that LD can
be trained jointly or in two stages.

LD and baselines (a VAE with a DDPM prior fitted to its latents):

    L = E_q[-log p(X | z)] + beta(step) * KL(q(z | X) || N(0, I)) + L_DM(z)

* `ld`: beta constant. `ld_kl_annealing`: beta ramps 0 -> beta linearly
  (Bowman et al. 2016) or cyclically (Fu et al. 2019). `ld_masking`: every
  decoder input x_{t-1} is zeroed with probability p (Semeniuta et al. 2017).
  `ld_skip`: z is fed to every decoder step (the model's `skip_z`).

PSLD (the paper's framework) with a deterministic bounded code v = z^0 and
z^i = sqrt(abar_i) v + sqrt(1 - abar_i) eps:

    L_VI = E_{i ~ U{0..N}} [ -w_i log p(X | z^i) ],  w_i = abar_{gamma i} ("index")
                                                      or abar_i^gamma ("power")
    L_DM = E_i || eps - eps_theta(z^i, i) ||^2 on v
    L_CS = E_{i ~ U{L-M..L}} [ (1 - abar_{ceil(i / eta)}) log p(X | z^i) ]

L_CS rewards a low likelihood from a near-noise latent, so it is unbounded
below. By default it is bounded: each time step's log-likelihood is floored at
that of a decoder that knows neither z nor the past ("marginal_step": a
per-feature Gaussian fitted to the batch), below which lowering it earns
nothing. "marginal" floors the whole window's log-likelihood instead; a decoder
can then meet the floor by failing only the first steps of a noisy pass (where
z matters most) while its later steps ignore z, which is what LD-like collapse
at late steps looked like in docs/dependency_analysis.md. The two decoder passes
(informative and noisy z) run as one batched call of B + C rows: L_CS is
estimated on the first C = cs_batch_fraction * B windows of the (randomly drawn)
batch, the same expected loss as giving every window both passes (fraction 1,
the paper's estimator) with more variance. The default 0.25 makes a PSLD step
cost about an LD step; docs/dependency_analysis.md compares it with 1.0.

`cs_latent="other_code"` (default "noise", the paper's; an experiment) makes the noisy pass
read the clean code of the window's neighbour in the batch, z = roll(v, 1) over the first C
windows, instead of z^i: L_CS then rewards every step for failing, down to its floor, when the
code is another window's (the fifth session's "L_CS on another window's code").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from ldx.diffusion import Schedule, eps_loss
from ldx.errors import ConfigError, check_config
from ldx.probability import gaussian_loglik, lowrank_gaussian_loglik, standard_normal_kl

METHODS = ("ld", "ld_kl_annealing", "ld_masking", "ld_skip", "psld")
STAGES = ("joint", "autoencoder", "prior")
KL_SCHEDULES = ("linear", "cyclical")
VI_WEIGHTS = ("index", "power")
CS_BOUNDS = ("marginal", "marginal_step", "constant", "none")
CS_LATENTS = ("noise", "other_code")


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    """Typed objective hyper-parameters; see `configs/default.py` for each field."""

    method: str = "ld"
    kl_weight: float = 1.0
    prior_weight: float = 1.0
    prior_grad_to_encoder: bool = False
    kl_schedule: str = "linear"
    kl_warmup_steps: int = 1000
    kl_cycles: int = 4
    kl_ramp_fraction: float = 0.5
    mask_rate: float = 0.3
    num_vi_steps: int = 50
    gamma: float = 2.0
    vi_weight: str = "index"
    cs_window: int = 100
    cs_eta: float = 1.0
    cs_weight: float = 1.0
    cs_bound: str = "marginal_step"
    cs_floor: float = 0.0
    cs_batch_fraction: float = 0.25
    cs_latent: str = "noise"
    input_noise: float = 0.01
    scheduled_sampling: float = 0.0

    def __post_init__(self):
        check_config(
            self,
            "objective",
            dict(
                method=METHODS,
                kl_schedule=KL_SCHEDULES,
                vi_weight=VI_WEIGHTS,
                cs_bound=CS_BOUNDS,
                cs_latent=CS_LATENTS,
            ),
            conditions=(
                ("mask_rate", 0.0 <= self.mask_rate < 1.0, "in [0, 1)"),
                ("cs_eta", self.cs_eta > 0, "> 0"),
                ("gamma", self.gamma >= 0, ">= 0"),
                ("kl_ramp_fraction", 0 < self.kl_ramp_fraction <= 1, "in (0, 1]"),
                ("kl_cycles", self.kl_cycles >= 1, ">= 1"),
                ("num_vi_steps", self.num_vi_steps >= 0, ">= 0"),
                ("cs_window", self.cs_window >= 0, ">= 0"),
                ("cs_batch_fraction", 0 < self.cs_batch_fraction <= 1, "in (0, 1]"),
                ("input_noise", self.input_noise >= 0, ">= 0"),
                ("scheduled_sampling", 0 <= self.scheduled_sampling <= 1, "in [0, 1]"),
            ),
        )


def step_loglik(
    x: jax.Array, mean: jax.Array, logvar: jax.Array, factor: jax.Array | None = None
) -> jax.Array:
    """Per-step log N(x_t; mean_t, Sigma_t). # [..., T, D] -> [..., T]

    Sigma_t = diag(exp(logvar_t)) without `factor`; with factor U [..., T, D, r] it is the
    decoder head's low-rank form S (I + U U^T) S (`probability.lowrank_gaussian_loglik`).
    """
    if factor is not None:
        return lowrank_gaussian_loglik(x, mean, logvar, factor)
    return gaussian_loglik(x, mean, logvar).sum(axis=-1)


def window_loglik(
    x: jax.Array, mean: jax.Array, logvar: jax.Array, factor: jax.Array | None = None
) -> jax.Array:
    """Per-window log N(x; mean, Sigma), summed over T. # [..., T, D] -> [...]"""
    return step_loglik(x, mean, logvar, factor).sum(axis=-1)


def kl_weight_fn(cfg: ObjectiveConfig, num_steps: int) -> Callable[[jax.Array], jax.Array]:
    """beta(step) for the method: constant, linear warm-up or cyclical (Fu et al. 2019)."""
    beta = cfg.kl_weight
    if cfg.method != "ld_kl_annealing":
        return lambda step: jnp.asarray(beta, jnp.float32)
    if cfg.kl_schedule == "linear":
        if cfg.kl_warmup_steps <= 0:  # no warm-up: the full weight from step 0
            return lambda step: jnp.asarray(beta, jnp.float32)
        return lambda step: beta * jnp.minimum(step / cfg.kl_warmup_steps, 1.0).astype(jnp.float32)
    period = max(num_steps // cfg.kl_cycles, 1)

    def cyclical(step):
        tau = jnp.mod(step, period) / period  # position inside the cycle, [0, 1)
        return beta * jnp.minimum(tau / cfg.kl_ramp_fraction, 1.0).astype(jnp.float32)

    return cyclical


def noisy_inputs(cfg: ObjectiveConfig, x: jax.Array, key) -> jax.Array:
    """The decoder's teacher-forced inputs: x + input_noise * N(0, I) (the targets stay clean).

    Training on slightly corrupted histories teaches the decoder not to amplify its own errors
    when it is run on its samples (exposure bias); 0 is plain teacher forcing.
    """
    if not cfg.input_noise:
        return x
    return x + cfg.input_noise * jax.random.normal(key, x.shape, x.dtype)


def self_fed_inputs(model, z: jax.Array, x_in: jax.Array, rate: float, key) -> jax.Array:
    """Parallel scheduled sampling: each time step's decoder input is, with probability `rate`,
    the decoder's own draw for that step instead of x_t. # [B, Z], [B, T, D] -> [B, T, D]

    The draws come from one teacher-forced pass without gradient, x~_t ~ p(x_t | z, x_<t)
    (Bengio et al. 2015, in the one-pass parallel form of Duckworth et al. 2019): training
    histories then carry the decoder's own one-step errors, at their own scale per feature and
    step, which is what its inputs are when it samples (exposure bias). The targets stay x.
    """
    if not rate:
        return x_in
    k_eps, k_pick = jax.random.split(key)
    head = model.decoder.head
    params = jax.lax.stop_gradient(model.decode(z, x_in))
    eps = jax.random.normal(k_eps, x_in.shape[:-1] + (x_in.shape[-1] + head.rank,), x_in.dtype)
    drawn = jax.lax.stop_gradient(head.sample(params, eps))  # [B, T, D]
    pick = jax.random.bernoulli(k_pick, rate, x_in.shape[:-1] + (1,))
    return jnp.where(pick, drawn, x_in)


def _prior_loss(model, schedule: Schedule, z: jax.Array, key, grad_to_encoder: bool):
    z = z if grad_to_encoder else jax.lax.stop_gradient(z)
    return eps_loss(model.eps, schedule, z, key)


def _ld_loss(cfg, schedule, beta_fn, model, x, key, step, stage):
    k_z, k_mask, k_prior = jax.random.split(key, 3)
    k_in = jax.random.fold_in(key, 1)  # folded in, so runs without input noise keep their keys
    mean, logvar = model.encode(x)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(k_z, mean.shape, mean.dtype)
    prior = _prior_loss(model, schedule, z, k_prior, cfg.prior_grad_to_encoder)
    if stage == "prior":
        return prior, {"prior": prior}
    x_in = noisy_inputs(cfg, x, k_in)
    x_in = self_fed_inputs(model, z, x_in, cfg.scheduled_sampling, jax.random.fold_in(key, 2))
    if cfg.method == "ld_masking":
        keep = jax.random.bernoulli(k_mask, 1.0 - cfg.mask_rate, x.shape[:-1] + (1,))
        x_in = x_in * keep  # zeroes whole time steps x_t, i.e. the decoder input at t + 1
    nll = -window_loglik(x, *model.decode(z, x_in)).mean()
    kl = standard_normal_kl(mean, logvar).mean()
    beta = beta_fn(step)
    loss = nll + beta * kl
    if stage == "joint":
        loss = loss + cfg.prior_weight * prior
    return loss, {"nll": nll, "kl": kl, "kl_weight": beta, "prior": prior}


def psld_vi_weight(cfg: ObjectiveConfig, schedule: Schedule, i: jax.Array) -> jax.Array:
    """w_i = abar_{round(gamma i)} ("index", clipped at L) or abar_i ** gamma ("power")."""
    abar = schedule.alpha_bars
    if cfg.vi_weight == "index":
        j = jnp.clip(jnp.round(cfg.gamma * i).astype(jnp.int32), 0, schedule.num_steps)
        return abar[j]
    return abar[i] ** cfg.gamma


def psld_cs_weight(cfg: ObjectiveConfig, schedule: Schedule, i: jax.Array) -> jax.Array:
    """1 - abar_{ceil(i / eta)}, index clipped to [0, L]."""
    j = jnp.clip(jnp.ceil(i / cfg.cs_eta).astype(jnp.int32), 0, schedule.num_steps)
    return 1.0 - schedule.alpha_bars[j]


def marginal_loglik(x: jax.Array, per_step: bool = False) -> jax.Array:
    """Log-lik. under a per-feature Gaussian fitted to the batch: [B, T, D] -> [B] (or [B, T])."""
    mean = x.mean(axis=(0, 1))
    var = x.var(axis=(0, 1)) + 1e-6
    ll = step_loglik(x, mean, jnp.log(var))  # [B, T]
    return jax.lax.stop_gradient(ll if per_step else ll.sum(axis=-1))


def _psld_loss(cfg, schedule, model, x, key, step, stage):
    del step
    k_vi, k_cs, k_eps, k_prior = jax.random.split(key, 4)
    k_in = jax.random.fold_in(key, 1)
    L = schedule.num_steps
    batch = x.shape[0]
    v, _ = model.encode(x)  # [B, Z], bounded
    prior = _prior_loss(model, schedule, v, k_prior, cfg.prior_grad_to_encoder)
    if stage == "prior":
        return prior, {"prior": prior}
    n_cs = max(1, round(cfg.cs_batch_fraction * batch))  # windows with a noisy pass, C
    if cfg.cs_latent == "other_code" and n_cs < 2:
        raise ConfigError(
            f"objective.cs_batch_fraction={cfg.cs_batch_fraction} of batch {batch} gives C = "
            f"{n_cs} noisy-pass window; cs_latent='other_code' needs C >= 2."
        )
    i_vi = jax.random.randint(k_vi, (batch,), 0, cfg.num_vi_steps + 1)
    i_cs = jax.random.randint(k_cs, (n_cs,), max(L - cfg.cs_window, 0), L + 1)
    i = jnp.concatenate([i_vi, i_cs])  # [B + C]
    abar = schedule.alpha_bars[i][:, None]
    eps = jax.random.normal(k_eps, (batch + n_cs,) + v.shape[1:], v.dtype)
    z = jnp.sqrt(abar) * jnp.concatenate([v, v[:n_cs]]) + jnp.sqrt(1.0 - abar) * eps
    if cfg.cs_latent == "other_code":  # the noisy pass reads the neighbour's clean code
        z = jnp.concatenate([z[:batch], jnp.roll(v[:n_cs], 1, axis=0)])
    x2 = jnp.concatenate([x, x[:n_cs]])  # [B + C, T, D]: one decoder call for both passes
    x_in = noisy_inputs(cfg, x2, k_in)
    x_in = self_fed_inputs(model, z, x_in, cfg.scheduled_sampling, jax.random.fold_in(key, 2))
    ll_steps = step_loglik(x2, *model.decode(z, x_in))  # [B + C, T]
    ll = ll_steps.sum(axis=-1)
    ll_vi, ll_cs = ll[:batch], ll[batch:]
    vi = -(psld_vi_weight(cfg, schedule, i_vi) * ll_vi).mean()
    if cfg.cs_bound == "marginal_step":  # every step of a noisy pass floored on its own
        floor = marginal_loglik(x, per_step=True)[:n_cs]
        ll_cs = jnp.maximum(ll_steps[batch:], floor).sum(axis=-1)
    elif cfg.cs_bound == "marginal":
        ll_cs = jnp.maximum(ll_cs, marginal_loglik(x)[:n_cs])
    elif cfg.cs_bound == "constant":
        ll_cs = jnp.maximum(ll_cs, cfg.cs_floor * x.shape[1] * x.shape[2])
    cs = (psld_cs_weight(cfg, schedule, i_cs) * ll_cs).mean()
    loss = vi + cfg.cs_weight * cs
    metrics = {"vi": vi, "cs": cs, "prior": prior, "nll": -ll_vi.mean()}
    if stage == "joint":
        loss = loss + cfg.prior_weight * prior
    return loss, metrics


def make_loss_fn(cfg: ObjectiveConfig, schedule: Schedule, num_steps: int):
    """Returns loss_fn(model, x, key, step, stage="joint") -> (scalar loss, metrics dict)."""

    def loss_fn(model, x, key, step, stage: str = "joint"):
        if stage not in STAGES:
            raise ValueError(f"Unknown stage {stage!r}; expected one of {STAGES}.")
        if cfg.method == "psld":
            return _psld_loss(cfg, schedule, model, x, key, step, stage)
        return _ld_loss(cfg, schedule, beta_fn, model, x, key, step, stage)

    beta_fn = kl_weight_fn(cfg, num_steps)
    return loss_fn
