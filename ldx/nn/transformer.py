"""Pre-LayerNorm Transformer blocks with an explicit, functional KV cache.

Shapes (ldx/shapes.py): B batch, T time (tokens), H width; heads and head_size = H / heads
in words.

The cache is a plain pytree passed in and out (no mutable module state), so
step-by-step decoding is a `lax.scan` like the recurrent decoders.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx


def sinusoidal_embedding(positions: jax.Array, dim: int, max_period: float = 10_000.0) -> jax.Array:
    """Transformer/DDPM sinusoidal embedding of positions [...] -> [..., dim]."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    angles = positions.astype(jnp.float32)[..., None] * freqs  # [..., half]
    emb = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
    if dim % 2:
        emb = jnp.pad(emb, [(0, 0)] * (emb.ndim - 1) + [(0, 1)])
    return emb


class SelfAttention(nnx.Module):
    """Multi-head self-attention that can read and write a KV cache."""

    def __init__(self, width: int, num_heads: int, *, rngs: nnx.Rngs):
        if width % num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads {num_heads}.")
        self.num_heads = num_heads
        self.qkv = nnx.Linear(width, 3 * width, rngs=rngs)
        self.out = nnx.Linear(width, width, rngs=rngs)

    def _heads(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        b, t, h = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.num_heads, h // self.num_heads)
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # each [B, T, heads, head_size]

    def _attend(self, q, k, v, mask):
        # q [B, Tq, heads, head_size], k/v [B, Tk, heads, head_size], mask broadcastable
        # to [B, heads, Tq, Tk].
        logits = jnp.einsum("bqnk,btnk->bnqt", q, k) / math.sqrt(q.shape[-1])
        logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
        out = jnp.einsum("bnqt,btnk->bqnk", jax.nn.softmax(logits, axis=-1), v)
        return self.out(out.reshape(*out.shape[:2], -1))

    def __call__(self, x: jax.Array, *, causal: bool) -> jax.Array:
        """Full-sequence attention over x [B, T, H]."""
        q, k, v = self._heads(x)
        t = x.shape[1]
        mask = jnp.tril(jnp.ones((t, t), bool)) if causal else jnp.ones((t, t), bool)
        return self._attend(q, k, v, mask)

    def step(self, x: jax.Array, cache: tuple[jax.Array, jax.Array], pos: jax.Array):
        """Attends the token x [B, 1, H] at position `pos` to the cached prefix.

        cache = (k, v), each [B, T_max, heads, head_size]; returns (y [B, 1, H], new cache).
        """
        q, k, v = self._heads(x)
        k_cache = jax.lax.dynamic_update_slice_in_dim(cache[0], k, pos, axis=1)
        v_cache = jax.lax.dynamic_update_slice_in_dim(cache[1], v, pos, axis=1)
        mask = jnp.arange(k_cache.shape[1]) <= pos  # [T_max]
        return self._attend(q, k_cache, v_cache, mask), (k_cache, v_cache)


class Block(nnx.Module):
    """x + Attn(LN(x)); x + MLP(LN(x))."""

    def __init__(self, width: int, num_heads: int, *, rngs: nnx.Rngs):
        self.ln1 = nnx.LayerNorm(width, rngs=rngs)
        self.attn = SelfAttention(width, num_heads, rngs=rngs)
        self.ln2 = nnx.LayerNorm(width, rngs=rngs)
        self.mlp_in = nnx.Linear(width, 4 * width, rngs=rngs)
        self.mlp_out = nnx.Linear(4 * width, width, rngs=rngs)

    def _mlp(self, x):
        return self.mlp_out(jax.nn.gelu(self.mlp_in(self.ln2(x))))

    def __call__(self, x: jax.Array, *, causal: bool) -> jax.Array:
        x = x + self.attn(self.ln1(x), causal=causal)
        return x + self._mlp(x)

    def step(self, x, cache, pos):
        y, cache = self.attn.step(self.ln1(x), cache, pos)
        x = x + y
        return x + self._mlp(x), cache


class Transformer(nnx.Module):
    """A stack of blocks with sinusoidal positions and a final LayerNorm."""

    def __init__(self, width: int, num_layers: int, num_heads: int, *, rngs: nnx.Rngs):
        self.width = width
        self.num_heads = num_heads
        self.blocks = nnx.List([Block(width, num_heads, rngs=rngs) for _ in range(num_layers)])
        self.ln_f = nnx.LayerNorm(width, rngs=rngs)

    def __call__(self, tokens: jax.Array, *, causal: bool) -> jax.Array:
        """tokens [B, T, H] (already embedded) -> [B, T, H]."""
        x = tokens + sinusoidal_embedding(jnp.arange(tokens.shape[1]), self.width)
        for block in self.blocks:
            x = block(x, causal=causal)
        return self.ln_f(x)

    def empty_cache(self, batch: int, max_len: int, dtype=jnp.float32):
        shape = (batch, max_len, self.num_heads, self.width // self.num_heads)
        return tuple((jnp.zeros(shape, dtype), jnp.zeros(shape, dtype)) for _ in self.blocks)

    def step(self, token: jax.Array, cache, pos: jax.Array):
        """One causal step: token [B, H] at position `pos` -> (h [B, H], cache)."""
        x = (token + sinusoidal_embedding(pos, self.width))[:, None]
        new_cache = []
        for block, c in zip(self.blocks, cache):
            x, c = block.step(x, c, pos)
            new_cache.append(c)
        return self.ln_f(x)[:, 0], tuple(new_cache)
