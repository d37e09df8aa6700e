"""The time-series latent diffusion model: encoder, latent code, decoder, prior.

Shapes (ldx/shapes.py): B batch, T time, D features, Z latent, H width.

One module serves every method. `posterior="gaussian"` gives the VAE of LD and
its baselines (q(z | X) = N(mu, diag sigma^2)); `posterior="deterministic"`
gives PSLD's bounded code v = bound(W f_enc(X)). The prior is a DDPM whose
noise network is a 1-D U-net over z.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from ldx.errors import ConfigError, check_config
from ldx.nn import UNet1D, make_decoder, make_encoder
from ldx.nn.encoders import POOLINGS

BACKBONES = ("gru", "lstm", "transformer")
POSTERIORS = ("gaussian", "deterministic")
BOUNDS = ("tanh", "l2", "none")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Typed model hyper-parameters (the boundary converts `config.model` to this).

    The defaults equal configs/default.py (tests/layout_test.py checks it).

    Attributes:
      features: D, set from the data.
      backbone: encoder and decoder family, one of BACKBONES.
      latent_dim: Z.
      width: H, hidden width of encoder and decoder.
      num_layers: recurrent layers / Transformer blocks, encoder and decoder each.
      num_heads: attention heads (Transformer only).
      pooling: encoder summary, "last" state or "mean" over time.
      skip_z: feed z to every decoder step (the skip-connection baseline; method ld_skip sets
        it, any method may).
      posterior: "gaussian" (VAE) or "deterministic" (PSLD).
      bound: how a deterministic code is kept bounded: "tanh" (each coordinate
        in (-1, 1)), "l2" (scaled to norm sqrt(Z), unit RMS) or "none".
      logvar_min: lower bound of the decoder's log-variance.
      logvar_max: upper bound of the decoder's log-variance.
      noise_rank: r, rank of the decoder's cross-feature noise coupling (0 = diagonal Gaussian;
        see `ldx.nn.decoders.GaussianHead`).
      unet_channels: channels per U-net level.
      unet_emb: width of the U-net step embedding.
    """

    features: int
    backbone: str = "gru"
    latent_dim: int = 16
    width: int = 64
    num_layers: int = 1
    num_heads: int = 4
    pooling: str = "last"
    skip_z: bool = False
    posterior: str = "gaussian"
    bound: str = "tanh"
    logvar_min: float = -14.0
    logvar_max: float = 2.0
    noise_rank: int = 0
    unet_channels: tuple[int, ...] = (32, 64)
    unet_emb: int = 64

    def __post_init__(self):
        object.__setattr__(self, "unet_channels", tuple(self.unet_channels))
        check_config(
            self,
            "model",
            dict(backbone=BACKBONES, posterior=POSTERIORS, bound=BOUNDS, pooling=POOLINGS),
            ("features", "latent_dim", "width", "num_layers", "num_heads", "unet_emb"),
            conditions=(("noise_rank", self.noise_rank >= 0, ">= 0"),),
        )
        levels = len(self.unet_channels)
        if not levels or self.latent_dim % 2 ** (levels - 1):
            raise ConfigError(
                f"config.model.latent_dim={self.latent_dim} must be divisible by "
                f"2**(len(unet_channels) - 1) = {2 ** max(levels - 1, 0)} "
                f"(unet_channels={self.unet_channels})."
            )
        if not self.logvar_min < self.logvar_max:
            raise ConfigError(
                f"config.model.logvar_min={self.logvar_min} must be < logvar_max={self.logvar_max}."
            )
        if self.backbone == "transformer" and self.width % self.num_heads:
            raise ConfigError(
                f"config.model.width={self.width} must be divisible by "
                f"num_heads={self.num_heads} for the transformer backbone."
            )


class LatentDiffusionModel(nnx.Module):
    """Encoder -> latent code -> autoregressive decoder, plus a DDPM prior over z."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        self.encoder = make_encoder(
            cfg.backbone,
            cfg.features,
            cfg.width,
            cfg.num_layers,
            cfg.num_heads,
            cfg.pooling,
            rngs=rngs,
        )
        out = 2 * cfg.latent_dim if cfg.posterior == "gaussian" else cfg.latent_dim
        self.to_latent = nnx.Linear(cfg.width, out, rngs=rngs)
        self.decoder = make_decoder(
            cfg.backbone,
            cfg.features,
            cfg.latent_dim,
            cfg.width,
            cfg.num_layers,
            cfg.num_heads,
            cfg.skip_z,
            (cfg.logvar_min, cfg.logvar_max),
            cfg.noise_rank,
            rngs=rngs,
        )
        self.prior = UNet1D(cfg.latent_dim, cfg.unet_channels, cfg.unet_emb, rngs=rngs)

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        """x [B, T, D] -> (mean [B, Z], logvar [B, Z]) or, deterministic, (v [B, Z], None)."""
        out = self.to_latent(self.encoder(x))
        if self.cfg.posterior == "gaussian":
            mean, logvar = jnp.split(out, 2, axis=-1)
            return mean, logvar
        if self.cfg.bound == "tanh":
            return jnp.tanh(out), None
        if self.cfg.bound == "l2":
            norm = jnp.linalg.norm(out, axis=-1, keepdims=True)
            return out * jnp.sqrt(out.shape[-1]) / jnp.maximum(norm, 1e-6), None
        return out, None

    def decode(self, z: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Teacher-forced p(x_t | z, x_<t): (mean, logvar), each [B, T, D]."""
        return self.decoder(z, x)

    def eps(self, z: jax.Array, i: jax.Array) -> jax.Array:
        """The prior's noise prediction eps_theta(z^i, i), [B, Z]."""
        return self.prior(z, i)
