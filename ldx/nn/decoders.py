"""Autoregressive decoders p(X | z) = prod_t N(x_t; mu_t, diag sigma_t^2).

Shapes (ldx/shapes.py): B batch, T time, D features, Z latent, H width.

Every decoder exposes the same interface, so objectives, samplers and the
dependency measure never look at the backbone:

* `hidden(z [B, Z], x [B, T, D]) -> h [B, T, H]`: teacher forcing. h[:, t]
  depends on z and x[:, :t] only (causal) and is the representation that
  predicts x[:, t].
* `head(h) -> (mean, logvar)`: the Gaussian head, log-variance bounded.
* `start(z, seq_len) -> state`, `step(state, x_prev [B, D]) -> (state, h [B, H])`:
  step-by-step decoding (the first step's x_prev is ignored, x_0 = 0).
* `skip_z` feeds z to every step, not only the first (Dieng et al. 2019).

RNN decoders take their initial state from z and read x_{t-1}. The Transformer
decoder runs causal self-attention over [z, x_1, ..., x_{T-1}]; its
step-by-step path keeps a KV cache instead of recomputing the prefix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from ldx.nn.recurrent import RNN
from ldx.nn.transformer import Transformer


class GaussianHead(nnx.Module):
    """h -> (mean, logvar) or, with rank r > 0, (mean, logvar, factor).

    logvar = lo + (hi - lo) * sigmoid(raw) bounds each feature's own scale sigma. With r > 0 the
    step's covariance couples the features (their innovations are correlated in most real
    multivariate series, which a diagonal Gaussian cannot draw):

        Sigma = S (I + U U^T) S,  S = diag(sigma) [D, D],  U = factor [D, r],

    so x_t = mean + S (eps_1 + U eps_2) with eps_1 ~ N(0, I_D), eps_2 ~ N(0, I_r). U is unitless,
    so the correlations are learned apart from the scale; the likelihood is
    `ldx.probability.lowrank_gaussian_loglik`.
    """

    def __init__(
        self,
        width: int,
        features: int,
        logvar_bounds: tuple[float, float],
        rank: int = 0,
        *,
        rngs: nnx.Rngs,
    ):
        lo, hi = logvar_bounds
        if not lo < hi:
            raise ValueError(f"logvar_bounds must satisfy lo < hi, got {logvar_bounds}.")
        self.bounds = (float(lo), float(hi))
        self.features, self.rank = features, rank
        self.proj = nnx.Linear(width, (2 + rank) * features, rngs=rngs)

    def __call__(self, h: jax.Array) -> tuple[jax.Array, ...]:
        out = self.proj(h)
        d = self.features
        mean, raw = out[..., :d], out[..., d : 2 * d]
        lo, hi = self.bounds
        logvar = lo + (hi - lo) * jax.nn.sigmoid(raw)
        if not self.rank:
            return mean, logvar
        return mean, logvar, out[..., 2 * d :].reshape(out.shape[:-1] + (d, self.rank))

    def sample(self, params: tuple[jax.Array, ...], eps: jax.Array) -> jax.Array:
        """mean + S (eps_1 + U eps_2) from the head's output; eps [..., D + r] ~ N(0, I)."""
        mean, logvar = params[:2]
        d = self.features
        noise = eps[..., :d]
        if self.rank:
            noise = noise + jnp.einsum("...dr,...r->...d", params[2], eps[..., d:])
        return mean + jnp.exp(0.5 * logvar) * noise


def shift_right(x: jax.Array) -> jax.Array:
    """[x_0 .. x_{T-1}] -> [0, x_0 .. x_{T-2}] along axis 1."""
    return jnp.pad(x, ((0, 0), (1, 0), (0, 0)))[:, :-1]


class RNNDecoder(nnx.Module):
    """GRU/LSTM decoder: initial state tanh-projected from z, input x_{t-1}."""

    def __init__(
        self,
        kind: str,
        features: int,
        latent: int,
        width: int,
        num_layers: int = 1,
        skip_z: bool = False,
        logvar_bounds: tuple[float, float] = (-8.0, 2.0),
        noise_rank: int = 0,
        *,
        rngs: nnx.Rngs,
    ):
        self.skip_z = skip_z
        self.rnn = RNN(kind, features + (latent if skip_z else 0), width, num_layers, rngs=rngs)
        self.init = nnx.Linear(latent, num_layers * self.rnn.state_size, rngs=rngs)
        self.head = GaussianHead(width, features, logvar_bounds, noise_rank, rngs=rngs)

    def _inputs(self, z: jax.Array, x: jax.Array) -> jax.Array:
        if not self.skip_z:
            return x
        if x.ndim == 3:  # teacher forcing: x [B, T, D]; else one step, x [B, D]
            z = jnp.broadcast_to(z[:, None], x.shape[:2] + z.shape[-1:])
        return jnp.concatenate([x, z], axis=-1)

    def hidden(self, z: jax.Array, x: jax.Array) -> jax.Array:
        carry = self.rnn.initial_carry(self.init(z))
        _, h = self.rnn(carry, self._inputs(z, shift_right(x)))
        return h

    def start(self, z: jax.Array, seq_len: int):
        del seq_len  # The recurrent state does not grow with T.
        return self.rnn.initial_carry(self.init(z)), z

    def step(self, state, x_prev: jax.Array):
        carry, z = state
        carry, h = self.rnn.step(carry, self._inputs(z, x_prev))
        return (carry, z), h

    def __call__(self, z, x):
        return self.head(self.hidden(z, x))


class TransformerDecoder(nnx.Module):
    """Causal Transformer over the tokens [z, x_1, ..., x_{T-1}]."""

    def __init__(
        self,
        features: int,
        latent: int,
        width: int,
        num_layers: int = 1,
        num_heads: int = 4,
        skip_z: bool = False,
        logvar_bounds: tuple[float, float] = (-8.0, 2.0),
        noise_rank: int = 0,
        *,
        rngs: nnx.Rngs,
    ):
        self.skip_z = skip_z
        self.embed_z = nnx.Linear(latent, width, rngs=rngs)
        self.embed_x = nnx.Linear(features, width, rngs=rngs)
        self.skip = nnx.Linear(latent, width, rngs=rngs) if skip_z else None
        self.body = Transformer(width, num_layers, num_heads, rngs=rngs)
        self.head = GaussianHead(width, features, logvar_bounds, noise_rank, rngs=rngs)

    def hidden(self, z: jax.Array, x: jax.Array) -> jax.Array:
        tokens = jnp.concatenate([self.embed_z(z)[:, None], self.embed_x(x[:, :-1])], axis=1)
        if self.skip_z:
            tokens = tokens + self.skip(z)[:, None]
        return self.body(tokens, causal=True)

    def start(self, z: jax.Array, seq_len: int):
        cache = self.body.empty_cache(z.shape[0], seq_len, z.dtype)
        return cache, jnp.zeros((), jnp.int32), z

    def step(self, state, x_prev: jax.Array):
        cache, pos, z = state
        token = jnp.where(pos == 0, self.embed_z(z), self.embed_x(x_prev))
        if self.skip_z:
            token = token + self.skip(z)
        h, cache = self.body.step(token, cache, pos)
        return (cache, pos + 1, z), h

    def __call__(self, z, x):
        return self.head(self.hidden(z, x))


def make_decoder(
    backbone: str,
    features: int,
    latent: int,
    width: int,
    num_layers: int,
    num_heads: int,
    skip_z: bool,
    logvar_bounds: tuple[float, float],
    noise_rank: int = 0,
    *,
    rngs: nnx.Rngs,
) -> nnx.Module:
    if backbone == "transformer":
        return TransformerDecoder(
            features,
            latent,
            width,
            num_layers,
            num_heads,
            skip_z,
            logvar_bounds,
            noise_rank,
            rngs=rngs,
        )
    return RNNDecoder(
        backbone,
        features,
        latent,
        width,
        num_layers,
        skip_z,
        logvar_bounds,
        noise_rank,
        rngs=rngs,
    )


def decode_sample(
    decoder,
    z: jax.Array,
    key: jax.Array,
    seq_len: int,
    features: int,
    noise: bool = True,
    tie: tuple[jax.Array, jax.Array] | None = None,
) -> jax.Array:
    """Draws X ~ p(X | z) one step at a time in a single `lax.scan`.

    Args:
      decoder: any decoder with the interface above.
      z: latents [B, Z].
      key: PRNG key for the observation noise.
      seq_len: T.
      features: D.
      noise: sample x_t ~ N(mu_t, sigma_t^2) if True, else take x_t = mu_t.
      tie: (P [D, D], c [D]): each step's draw becomes x_t P + c before it is fed back, so
        columns that are an exact function of others stay one (`ldx.data.tie_projection`).

    Returns:
      x [B, T, D].
    """
    batch = z.shape[0]
    eps = jax.random.normal(key, (seq_len, batch, features + decoder.head.rank), z.dtype)

    def body(carry, eps_t):
        state, x_prev = carry
        state, h = decoder.step(state, x_prev)
        x_t = decoder.head.sample(decoder.head(h), noise * eps_t)
        if tie is not None:
            x_t = x_t @ tie[0] + tie[1]
        return (state, x_t), x_t

    init = (decoder.start(z, seq_len), jnp.zeros((batch, features), z.dtype))
    _, xs = jax.lax.scan(body, init, eps)
    return jnp.swapaxes(xs, 0, 1)
