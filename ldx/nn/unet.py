"""1-D U-net noise model eps_theta(z^i, i) for the latent DDPM.

The latent z [B, Z] is read as a one-channel signal of length Z, so
convolutions mix neighbouring latent coordinates and the down/up path with
skip connections works as in image U-nets (Ronneberger et al. 2015; Ho et al.
2020). Shapes (ldx/shapes.py): B batch, Z latent length, C channels, E step embedding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from ldx.nn.transformer import sinusoidal_embedding


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class GroupNorm(nnx.Module):
    """Group normalisation (Wu and He 2018) of x [B, Z', C] over Z' and each group of channels.

    The same function and parameters as `nnx.GroupNorm(C, num_groups=G, epsilon=1e-6)`, laid
    out for XLA's CPU backend: per-channel sums over Z', then the group statistics as small
    matmuls with a [C, G] indicator, and the normalisation folded into one per-(example,
    channel) scale and shift. Flax's form (a mean over axes (1, 3) of [B, Z', G, C/G]) made
    the U-net 3x slower on a CPU; see benchmarks/sampling.py.
    """

    def __init__(self, channels: int, groups: int, epsilon: float = 1e-6, *, rngs: nnx.Rngs):
        del rngs  # Deterministic initialisation: scale 1, shift 0.
        self.groups, self.epsilon = groups, epsilon
        self.scale = nnx.Param(jnp.ones((channels,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((channels,), jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        _, length, channels = x.shape  # [B, Z', C]
        member = jnp.repeat(jnp.eye(self.groups, dtype=x.dtype), channels // self.groups, 0)
        count = length * (channels // self.groups)
        mean = x.sum(1) @ member / count  # [B, G]
        var = jnp.maximum((x * x).sum(1) @ member / count - mean * mean, 0.0)  # [B, G]
        inv = jax.lax.rsqrt(var + self.epsilon)  # [B, G]
        scale = (inv @ member.T) * self.scale[...]  # [B, C]
        shift = self.bias[...] - ((mean * inv) @ member.T) * self.scale[...]  # [B, C]
        return x * scale[:, None] + shift[:, None]


class ResBlock(nnx.Module):
    """GN-SiLU-Conv, + step embedding, GN-SiLU-Conv, + (1x1-projected) skip."""

    def __init__(self, c_in: int, c_out: int, emb: int, *, rngs: nnx.Rngs):
        self.norm1 = GroupNorm(c_in, _groups(c_in), rngs=rngs)
        self.conv1 = nnx.Conv(c_in, c_out, kernel_size=(3,), rngs=rngs)
        self.emb = nnx.Linear(emb, c_out, rngs=rngs)
        self.norm2 = GroupNorm(c_out, _groups(c_out), rngs=rngs)
        self.conv2 = nnx.Conv(c_out, c_out, kernel_size=(3,), rngs=rngs)
        self.skip = nnx.Conv(c_in, c_out, kernel_size=(1,), rngs=rngs) if c_in != c_out else None

    def __call__(self, x: jax.Array, emb: jax.Array) -> jax.Array:
        # x [B, Z', C_in], emb [B, E]
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, None, :]
        h = self.conv2(jax.nn.silu(self.norm2(h)))
        return h + (x if self.skip is None else self.skip(x))


class UNet1D(nnx.Module):
    """eps_theta(z [B, Z], i [B]) -> [B, Z].

    Args:
      latent: Z; must be divisible by 2 ** (len(channels) - 1).
      channels: channels per resolution level, e.g. (32, 64).
      emb: width of the step embedding (sinusoidal, then a 2-layer MLP).
    """

    def __init__(
        self, latent: int, channels: tuple[int, ...] = (32, 64), emb: int = 64, *, rngs: nnx.Rngs
    ):
        levels = len(channels)
        if levels < 1 or latent % (2 ** (levels - 1)):
            raise ValueError(
                f"latent_dim={latent} must be divisible by 2**(len(unet_channels)-1)="
                f"{2 ** (levels - 1)} (unet_channels={tuple(channels)})."
            )
        self.emb_dim = emb
        self.emb1 = nnx.Linear(emb, emb, rngs=rngs)
        self.emb2 = nnx.Linear(emb, emb, rngs=rngs)
        self.stem = nnx.Conv(1, channels[0], kernel_size=(3,), rngs=rngs)
        self.down = nnx.List(
            [
                ResBlock(channels[max(lvl - 1, 0)], c, emb, rngs=rngs)
                for lvl, c in enumerate(channels)
            ]
        )
        self.downsample = nnx.List(
            [nnx.Conv(c, c, kernel_size=(3,), strides=(2,), rngs=rngs) for c in channels[:-1]]
        )
        self.mid = ResBlock(channels[-1], channels[-1], emb, rngs=rngs)
        self.up = nnx.List(
            [
                ResBlock(2 * c, c if lvl == 0 else channels[lvl - 1], emb, rngs=rngs)
                for lvl, c in reversed(list(enumerate(channels)))
            ]
        )
        self.upsample = nnx.List(
            [nnx.Conv(c, c, kernel_size=(3,), rngs=rngs) for c in channels[:-1][::-1]]
        )
        self.out_norm = GroupNorm(channels[0], _groups(channels[0]), rngs=rngs)
        self.out = nnx.Conv(
            channels[0], 1, kernel_size=(3,), rngs=rngs, kernel_init=nnx.initializers.zeros_init()
        )

    def __call__(self, z: jax.Array, i: jax.Array) -> jax.Array:
        emb = sinusoidal_embedding(i, self.emb_dim)  # [B, E]
        emb = self.emb2(jax.nn.silu(self.emb1(emb)))
        h = self.stem(z[..., None])  # [B, Z, C0]
        skips = []
        for lvl, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if lvl < len(self.downsample):
                h = self.downsample[lvl](h)  # [B, Z / 2^(lvl+1), C_l]
        h = self.mid(h, emb)
        for lvl, block in enumerate(self.up):
            h = block(jnp.concatenate([h, skips.pop()], axis=-1), emb)
            if lvl < len(self.upsample):
                h = jnp.repeat(h, 2, axis=1)  # nearest-neighbour upsampling
                h = self.upsample[lvl](h)
        return self.out(jax.nn.silu(self.out_norm(h)))[..., 0]
