"""Generating series: latent prior sampling, then autoregressive decoding.

Shapes follow ldx/shapes.py. The jitted, device-parallel form of `generate` is
`ldx.batching.make_generate_fn`.

PSLD samples with a random stop: z^L ~ N(0, I), reverse DDPM down to
i* ~ U{0..N} (not to 0), decode from z^{i*}. With the DDIM sampler the chain
runs to 0 and z^{i*} is drawn from q(z^{i*} | z^0), the same marginal when the
reverse process is exact.
"""

from __future__ import annotations

import dataclasses
import functools

import jax

from ldx.diffusion import Schedule, ddim_sample, ddpm_sample, q_sample
from ldx.errors import check_config
from ldx.nn import decode_sample
from ldx.smc import StepModel, gaussian_observe

SAMPLERS = ("ddpm", "ddim")


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """How series are drawn; see `config.sample` in configs/default.py.

    Attributes:
      sampler: "ddim" or "ddpm" (ancestral, all L steps).
      ddim_steps: DDIM steps (at most L).
      ddim_eta: DDIM stochasticity; 0 is deterministic, 1 ancestral on the sub-sequence.
      decode_noise: sample x_t ~ N(mu_t, sigma_t^2) (True) or take mu_t.
      tie_dependent: tie the columns that are an exact affine function of others (a copy, a
        sum) to them inside the decoder's sampling loop (`LDExperiment.tie`).
      stop_max: random stop i* ~ U{0..stop_max}; 0 runs the chain to z^0 (LD).
      batch_size: series per compiled call.
    """

    sampler: str = "ddim"
    ddim_steps: int = 100
    ddim_eta: float = 1.0
    decode_noise: bool = True
    tie_dependent: bool = True
    stop_max: int = 0
    batch_size: int = 1000

    def __post_init__(self):
        check_config(self, "sample", dict(sampler=SAMPLERS), ("batch_size", "ddim_steps"))


def sample_latents(model, schedule: Schedule, cfg: SamplerConfig, key, num: int) -> jax.Array:
    """Draws z [num, Z] from the latent DDPM (down to a random stop if cfg.stop_max > 0)."""
    k_chain, k_stop, k_noise = jax.random.split(key, 3)
    shape = (num, model.cfg.latent_dim)
    stop = jax.random.randint(k_stop, (num,), 0, cfg.stop_max + 1) if cfg.stop_max else None
    if cfg.sampler == "ddpm":
        return ddpm_sample(model.eps, schedule, k_chain, shape, stop=stop)
    z0 = ddim_sample(
        model.eps, schedule, k_chain, shape, num_steps=cfg.ddim_steps, eta=cfg.ddim_eta
    )
    if stop is None:
        return z0
    return q_sample(schedule, z0, stop, jax.random.normal(k_noise, shape, z0.dtype))


def generate(
    model, schedule: Schedule, cfg: SamplerConfig, key, num: int, seq_len: int, tie=None
) -> jax.Array:
    """Draws num series [num, T, D] in normalised units: z from the prior, then X ~ p(X | z)
    (with `tie`, see `decode_sample`)."""
    return generate_with_latents(model, schedule, cfg, key, num, seq_len, tie)[1]


def generate_with_latents(
    model, schedule: Schedule, cfg: SamplerConfig, key, num: int, seq_len: int, tie=None
) -> tuple[jax.Array, jax.Array]:
    """`generate` that also returns the latents: (z [num, Z], x [num, T, D]); x[i] ~ p(X | z[i])."""
    k_z, k_x = jax.random.split(key)
    z = sample_latents(model, schedule, cfg, k_z, num)
    d = model.cfg.features
    return z, decode_sample(model.decoder, z, k_x, seq_len, d, cfg.decode_noise, tie)


def step_model(model, schedule: Schedule, cfg: SamplerConfig, seq_len: int) -> StepModel:
    """The model as `ldx.smc` completes with it: z from the latent sampler, then the decoder
    step by step; unobserved entries drawn with the decoder's noise (its mean if not
    cfg.decode_noise)."""
    decoder = model.decoder

    def init(key, num):
        return decoder.start(sample_latents(model, schedule, cfg, key, num), seq_len)

    def step(state, x_prev, key):
        del key  # z is static: the decoder step is deterministic given it
        state, h = decoder.step(state, x_prev)
        return state, decoder.head(h)

    return StepModel(init, step, functools.partial(gaussian_observe, noise=float(cfg.decode_noise)))
