"""Sequence encoders: a window X [B, T, D] -> a summary vector v [B, H].

The latent head (Gaussian posterior or bounded deterministic code) lives in
`ldx.ld.model`, so the same encoders serve LD, PSLD and their baselines.
"""

from __future__ import annotations

import jax
from flax import nnx

from ldx.nn.recurrent import RNN
from ldx.nn.transformer import Transformer

POOLINGS = ("last", "mean")


class RNNEncoder(nnx.Module):
    """GRU/LSTM stack over the window; `last` state or `mean` over time."""

    def __init__(
        self,
        kind: str,
        in_features: int,
        width: int,
        num_layers: int = 1,
        pooling: str = "last",
        *,
        rngs: nnx.Rngs,
    ):
        if pooling not in POOLINGS:
            raise ValueError(f"Unknown pooling {pooling!r}; expected one of {POOLINGS}.")
        self.pooling = pooling
        self.rnn = RNN(kind, in_features, width, num_layers, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        _, h = self.rnn(self.rnn.zero_carry(x.shape[0], x.dtype), x)  # [B, T, H]
        return h[:, -1] if self.pooling == "last" else h.mean(axis=1)


class TransformerEncoder(nnx.Module):
    """Bidirectional Transformer over the window; `last` token or `mean` pooling."""

    def __init__(
        self,
        in_features: int,
        width: int,
        num_layers: int = 1,
        num_heads: int = 4,
        pooling: str = "mean",
        *,
        rngs: nnx.Rngs,
    ):
        if pooling not in POOLINGS:
            raise ValueError(f"Unknown pooling {pooling!r}; expected one of {POOLINGS}.")
        self.pooling = pooling
        self.embed = nnx.Linear(in_features, width, rngs=rngs)
        self.body = Transformer(width, num_layers, num_heads, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.body(self.embed(x), causal=False)  # [B, T, H]
        return h[:, -1] if self.pooling == "last" else h.mean(axis=1)


def make_encoder(
    backbone: str,
    in_features: int,
    width: int,
    num_layers: int,
    num_heads: int,
    pooling: str,
    *,
    rngs: nnx.Rngs,
) -> nnx.Module:
    if backbone == "transformer":
        return TransformerEncoder(in_features, width, num_layers, num_heads, pooling, rngs=rngs)
    return RNNEncoder(backbone, in_features, width, num_layers, pooling, rngs=rngs)
