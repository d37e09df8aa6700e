"""Generating series: latent prior sampling, then autoregressive decoding.

Shape legend: N series, T time, D features, Z latent.

PSLD samples with a random stop: z^L ~ N(0, I), reverse DDPM down to
i* ~ U{0..N} (not to 0), decode from z^{i*}. With the DDIM sampler the chain
runs to 0 and z^{i*} is drawn from q(z^{i*} | z^0), the same marginal when the
reverse process is exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import numpy as np
from flax import nnx

from ldx.diffusion import Schedule, ddim_sample, ddpm_sample, q_sample
from ldx.errors import check_config
from ldx.nn import decode_sample

SAMPLERS = ("ddpm", "ddim")


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """How series are drawn; see `config.sample` in configs/default.py.

    Attributes:
      sampler: "ddpm" (ancestral, all L steps) or "ddim".
      ddim_steps: DDIM steps.
      ddim_eta: DDIM stochasticity; 0 is deterministic.
      decode_noise: sample x_t ~ N(mu_t, sigma_t^2) (True) or take mu_t.
      stop_max: random stop i* ~ U{0..stop_max}; 0 runs the chain to z^0 (LD).
      batch_size: series per compiled call.
    """

    sampler: str = "ddpm"
    ddim_steps: int = 50
    ddim_eta: float = 0.0
    decode_noise: bool = True
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
    model, schedule: Schedule, cfg: SamplerConfig, key, num: int, seq_len: int
) -> jax.Array:
    """Draws num series [num, T, D] in normalised units: z from the prior, then X ~ p(X | z)."""
    return generate_with_latents(model, schedule, cfg, key, num, seq_len)[1]


def generate_with_latents(
    model, schedule: Schedule, cfg: SamplerConfig, key, num: int, seq_len: int
) -> tuple[jax.Array, jax.Array]:
    """`generate` that also returns the latents: (z [num, Z], x [num, T, D]); x[i] ~ p(X | z[i])."""
    k_z, k_x = jax.random.split(key)
    z = sample_latents(model, schedule, cfg, k_z, num)
    return z, decode_sample(model.decoder, z, k_x, seq_len, model.cfg.features, cfg.decode_noise)


def make_generate_fn(
    model_fn: Callable[[jax.Array], nnx.Module],
    generate_fn: Callable,
    mesh: jax.sharding.Mesh | None = None,
) -> Callable[[jax.Array, jax.Array, int], jax.Array]:
    """Jits generate_fn(model, key, num) as (flat params [P], key, num) -> [num, T, D].

    Data-parallel: the series are split over the devices of `mesh` (default: this process's
    local devices), parameters replicated. `num` is rounded up to a multiple of the device
    count and the extra series dropped. One compile per rounded `num`.
    """
    from ldx.train import parallel  # ldx.train imports this module.

    mesh = parallel.data_mesh(jax.local_devices()) if mesh is None else mesh
    replicated, batched = parallel.shardings(mesh)
    n = mesh.shape["data"]

    def fn(params, key, num):
        return generate_fn(model_fn(params), key, num)

    jitted = jax.jit(
        fn, static_argnums=2, in_shardings=(replicated, replicated), out_shardings=batched
    )

    def call(params, key, num):
        padded = -(-num // n) * n
        params, key = jax.device_put((params, key), replicated)
        out = jitted(params, key, padded)
        return out if padded == num else out[:num]

    return call


def draw(generate_fn, params, key, num: int, batch_size: int) -> np.ndarray:
    """Calls generate_fn in chunks of batch_size (chunk c uses fold_in(key, c)); [num, T, D]."""
    chunks = []
    for c, start in enumerate(range(0, num, batch_size)):
        n = min(batch_size, num - start)
        chunks.append(np.asarray(generate_fn(params, jax.random.fold_in(key, c), n)))
    return np.concatenate(chunks)[:num]


def save_samples(
    run, num: int, output: str, seed: int = 0, use_ema: bool = True, batch_size: int = 1000
) -> np.ndarray:
    """Draws `num` series from a trained run; writes `output` (.npz) and a PNG beside it.

    The npz holds `samples` [N, T, D] in the data's original units and
    `samples_normalized` in the [0, 1] training scale. Returns the normalised samples.
    """
    import os

    from ldx.plotting import plot_samples

    exp = run.experiment
    fn = make_generate_fn(run.model_fn, exp.generate)
    fake = draw(fn, run.params(use_ema), jax.random.key(seed), num, batch_size)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = output + ".tmp.npz"
    np.savez(tmp, samples=exp.dataset.scaler.inverse_transform(fake), samples_normalized=fake)
    os.replace(tmp, output)
    plot_samples(exp.dataset.test, fake, os.path.splitext(output)[0] + ".png")
    return fake
