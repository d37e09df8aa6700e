"""TS2Vec (Yue et al. 2022): a dilated-convolution encoder trained by hierarchical contrast.

Shape legend: N windows, B batch, T time, D features, H hidden width (64), C output width (320),
R repeats.

This is the feature map of `ldx.metrics.context_fid`, following the reference implementation
(yuezhihan/ts2vec, as vendored by Diffusion-TS under Models/ts2vec).

Encoder (`TSEncoder`), for a window x in R^{T x D}:

    h_t = W_in x_t + b_in                       per time step, D -> H
    h_t = 0 where m_t = 0                       timestamp mask: m_t ~ Bernoulli(0.5) in training,
                                                m_t = 1 when encoding
    h = h + B_i(h),  i = 0..depth-1              residual blocks, H -> H, dilation 2^i
    r = P h + B_depth(h)                        the last block, H -> C, dilation 2^depth,
                                                P a 1x1 convolution
    r = dropout_0.1(r)                          in training only

with B_i(h) = conv2(gelu(conv1(gelu(h)))), each conv of kernel 3 and dilation 2^i with zero
"same" padding (it reads h_{t-d}, h_t, h_{t+d}: not causal). GELU is the exact (erf) one, and
every weight and bias starts U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default. The
instance embedding of a window is max_t r_t (encoding_window='full_series').

Training (`train`): AdamW (learning rate 1e-3, weight decay 1e-2, PyTorch's defaults otherwise) on
batches of B = 8 windows. Each step draws two overlapping crops of the batch, as the reference:
an overlap [a, a + l) of length l ~ U{2..T}, view 1 = [a1, a + l) with a1 <= a and view 2 =
[a, b2) with b2 >= a + l (a, a1, b2 uniform), all moved by a per-window offset that keeps them in
the window; the views are encoded (each with its own mask) and their representations on the
overlap are contrasted by `hierarchical_contrastive_loss`.
The encoder that embeds is the running mean of all iterates, the initial one included
(torch.optim.swa_utils.AveragedModel, which the reference updates after every step).

Crops have random lengths, which jit cannot compile as shapes. A view of length L is instead
placed at the start of a length-T buffer and every convolution multiplies its input by the
validity mask [t < L], so it reads zeros past the crop exactly as the zero padding of a length-L
input would: the representations on the crop are those of the reference, not an approximation.

Simplifications, none of which changes what the encoder computes:
  * batches are drawn uniformly with replacement, not by reshuffled epochs without replacement;
  * windows are never split (the reference splits windows longer than max_train_length = 3000
    into sections) and missing values (NaN) are not supported: inputs must be finite.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from ldx.metrics.contrastive import hierarchical_contrastive_loss


@dataclasses.dataclass(frozen=True)
class TS2VecConfig:
    """Hyperparameters of TS2Vec; defaults are those Diffusion-TS uses for Context-FID.

    Attributes:
      hidden: H, width of the input projection and the hidden blocks.
      depth: number of H -> H residual blocks (one more block maps H -> C).
      out_features: C, width of the representation.
      batch_size: B, windows per step.
      learning_rate: AdamW step size.
      weight_decay: AdamW decoupled weight decay (PyTorch's AdamW default).
      mask_p: probability that a time step is kept by the training mask.
      dropout: dropout rate on the representation in training.
      alpha: weight of the instance-wise term; 1 - alpha weighs the temporal one.
    """

    hidden: int = 64
    depth: int = 10
    out_features: int = 320
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    mask_p: float = 0.5
    dropout: float = 0.1
    alpha: float = 0.5


def default_iterations(shape: tuple[int, ...]) -> int:
    """TS2Vec's default step count: 200 for data of at most 100000 numbers (N T D), else 600."""
    return 200 if math.prod(shape) <= 100_000 else 600


def _uniform(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


class _Dense(nnx.Module):
    """y = x W + b over the last axis, PyTorch's default initialisation."""

    def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs):
        self.kernel = nnx.Param(_uniform(rngs.params(), (in_features, out_features), in_features))
        self.bias = nnx.Param(_uniform(rngs.params(), (out_features,), in_features))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.kernel[...] + self.bias[...]


def dilated_conv(
    h: jax.Array, kernel: jax.Array, bias: jax.Array, dilation, valid: jax.Array | None = None
) -> jax.Array:
    """Kernel-3 convolution with dilation d and zero 'same' padding, reading only valid steps.

        y_t = W_0 h_{t-d} + W_1 h_t + W_2 h_{t+d} + b,   h_s = 0 for s outside [0, L),

    PyTorch's Conv1d(kernel_size=3, dilation=d, padding=d) on a length-L input, evaluated in a
    length-T buffer whose steps t >= L (valid = 0) stand for the missing ones. The taps are
    stacked in one [3 Cin, Cout] matrix (rows: t - d, t, t + d), so it is one matmul. d may be
    traced: the side taps are dynamic slices of h padded by T zeros on each side, whose start
    clamps into the padding when d >= T, which is exactly the zero padding.

    Args:
      h: inputs. # [B, T, Cin]
      kernel: the three taps, stacked. # [3 Cin, Cout]
      bias: # [Cout]
      dilation: d >= 1 (int or traced integer scalar).
      valid: 1 inside the crop, 0 past it; None for all steps. # [B, T, 1]

    Returns:
      outputs. # [B, T, Cout]
    """
    if valid is not None:
        h = h * valid
    t, cin = h.shape[1], h.shape[2]
    if isinstance(dilation, int) and dilation >= t:  # both side taps read only padding
        return h @ kernel[cin : 2 * cin] + bias
    padded = jnp.pad(h, ((0, 0), (t, t), (0, 0)))  # [B, 3T, Cin]
    before = jax.lax.dynamic_slice_in_dim(padded, t - dilation, t, axis=1)  # h_{t-d}
    after = jax.lax.dynamic_slice_in_dim(padded, t + dilation, t, axis=1)  # h_{t+d}
    return jnp.concatenate([before, h, after], axis=-1) @ kernel + bias  # [B, T, Cout]


def _block(h: jax.Array, conv1, conv2, dilation, valid: jax.Array) -> jax.Array:
    """conv2(gelu(conv1(gelu(h)))); each conv is a (kernel, bias) pair."""
    y = dilated_conv(jax.nn.gelu(h, approximate=False), *conv1, dilation, valid)
    return dilated_conv(jax.nn.gelu(y, approximate=False), *conv2, dilation, valid)


class TSEncoder(nnx.Module):
    """TS2Vec's encoder: x [B, T, D] -> per-step representations r [B, T, C] (module docstring).

    The `depth` H -> H blocks hold their weights stacked on a leading axis and run as a
    `lax.scan` (one for the blocks whose dilation 2^i < T, one for those that reduce to their
    centre tap): tracing one block instead of ten keeps compilation short.
    """

    def __init__(
        self,
        in_features: int,
        *,
        hidden: int = 64,
        depth: int = 10,
        out_features: int = 320,
        rngs: nnx.Rngs,
    ):
        h, c = hidden, out_features
        self.depth = depth
        self.input = _Dense(in_features, h, rngs=rngs)

        def stacked(shape, fan_in):
            return nnx.Param(_uniform(rngs.params(), (depth, *shape), fan_in))

        # Hidden block i: conv1 = (kernel1[i], bias1[i]), conv2 likewise; dilation 2^i.
        self.kernel1, self.bias1 = stacked((3 * h, h), 3 * h), stacked((h,), 3 * h)
        self.kernel2, self.bias2 = stacked((3 * h, h), 3 * h), stacked((h,), 3 * h)
        # The last block, H -> C with dilation 2^depth and a 1x1 projection on the residual.
        self.last1 = _Dense(3 * h, c, rngs=rngs)
        self.last2 = _Dense(3 * c, c, rngs=rngs)
        self.project = _Dense(h, c, rngs=rngs)

    def __call__(
        self, x: jax.Array, keep: jax.Array | None = None, length: jax.Array | None = None
    ) -> jax.Array:
        """Encodes windows, or crops of them held at the start of length-T buffers.

        Args:
          x: windows. # [B, T, D]
          keep: timestamp mask, False where the step's projection is zeroed; None keeps all.
            # [B, T]
          length: valid prefix length of each row (a crop); None means all T. # [B] or []

        Returns:
          representations; rows past `length` are meaningless. # [B, T, C]
        """
        b, t = x.shape[:2]
        h = self.input(x)  # [B, T, H]
        if keep is not None:
            h = h * keep[..., None]
        valid = None
        if length is not None:
            lengths = jnp.broadcast_to(length, (b,))
            valid = (jnp.arange(t)[None, :] < lengths[:, None])[..., None].astype(h.dtype)
        k1, b1, k2, b2 = self.kernel1[...], self.bias1[...], self.kernel2[...], self.bias2[...]
        near = min(self.depth, (t - 1).bit_length())  # blocks i with 2^i < T

        def near_block(h, p):
            k1, b1, k2, b2, d = p
            return h + _block(h, (k1, b1), (k2, b2), d, valid), None

        def far_block(h, p):  # a static dilation >= T: only the centre taps read the window
            k1, b1, k2, b2 = p
            return h + _block(h, (k1, b1), (k2, b2), t, valid), None

        dilations = 2 ** jnp.arange(near, dtype=jnp.int32)
        h, _ = jax.lax.scan(near_block, h, (k1[:near], b1[:near], k2[:near], b2[:near], dilations))
        far = (k1[near:], b1[near:], k2[near:], b2[near:])
        h, _ = jax.lax.scan(far_block, h, far)
        last = (self.last1.kernel[...], self.last1.bias[...])
        last2 = (self.last2.kernel[...], self.last2.bias[...])
        return self.project(h) + _block(h, last, last2, 2**self.depth, valid)  # [B, T, C]


def _crops(batch: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The reference's two overlapping random crops of a batch, as length-T buffers.

    Args:
      batch: windows. # [B, T, D]
      key: randomness of the crop.

    Returns:
      views [2B, T, D] (view 1 rows, then view 2 rows), their valid lengths [2B], the start of
      the overlap inside view 1 (inside view 2 it starts at 0), and the overlap length l.
    """
    b, t, _ = batch.shape
    k_len, k_left, k_eleft, k_eright, k_off = jax.random.split(key, 5)
    crop = jax.random.randint(k_len, (), 2, t + 1)  # l, the overlap
    left = jax.random.randint(k_left, (), 0, t - crop + 1)  # overlap [left, right)
    right = left + crop
    eleft = jax.random.randint(k_eleft, (), 0, left + 1)  # view 1: [eleft, right)
    eright = jax.random.randint(k_eright, (), right, t + 1)  # view 2: [left, eright)
    offset = jax.random.randint(k_off, (b,), -eleft, t - eright + 1)  # per window

    def take(start):  # [B] -> [B, T, D], row i from batch[i, start_i:]
        idx = jnp.clip(start[:, None] + jnp.arange(t)[None, :], 0, t - 1)  # [B, T]
        return jnp.take_along_axis(batch, idx[..., None], axis=1)

    views = jnp.concatenate([take(offset + eleft), take(offset + left)])  # [2B, T, D]
    lengths = jnp.concatenate(
        [jnp.full((b,), right - eleft), jnp.full((b,), eright - left)]
    )  # [2B]
    return views, lengths, left - eleft, crop


def new_encoder(in_features: int, config: TS2VecConfig, key: jax.Array) -> TSEncoder:
    """A freshly initialised `TSEncoder` for D = in_features."""
    return TSEncoder(
        in_features,
        hidden=config.hidden,
        depth=config.depth,
        out_features=config.out_features,
        rngs=nnx.Rngs(key),
    )


def _graphdef(in_features: int, config: TS2VecConfig) -> nnx.GraphDef:
    return nnx.graphdef(nnx.eval_shape(lambda: new_encoder(in_features, config, jax.random.key(0))))


def train(
    x: jax.Array, key: jax.Array, iterations: jax.Array | int, config: TS2VecConfig
) -> nnx.State:
    """Trains a fresh encoder on windows x; pure and traceable (jit it, vmap it over keys).

    Step i uses `fold_in(k_train, i)` for its batch, crops, masks and dropout. The loop is a
    `lax.fori_loop` with a traced bound, so one compiled program serves every step count.

    Args:
      x: training windows. # [N, T, D], T >= 2
      key: a `jax.random.key`; split into the initialisation and training keys.
      iterations: AdamW steps (`default_iterations(x.shape)` in the reference).
      config: hyperparameters.

    Returns:
      params of the encoder to embed with (the mean of all iterates), for `embed`.
    """
    k_init, k_train = jax.random.split(key)
    graphdef, params = nnx.split(new_encoder(x.shape[-1], config, k_init))
    opt = optax.adamw(config.learning_rate, weight_decay=config.weight_decay)
    b = config.batch_size

    def loss_fn(p, k):
        k_batch, k_crop, k_mask, k_drop = jax.random.split(k, 4)
        batch = x[jax.random.randint(k_batch, (b,), 0, len(x))]  # [B, T, D]
        views, lengths, start, crop = _crops(batch, k_crop)  # [2B, T, D], [2B]
        keep = jax.random.bernoulli(k_mask, config.mask_p, views.shape[:2])  # [2B, T]
        r = nnx.merge(graphdef, p)(views, keep, lengths)  # [2B, T, C]
        if config.dropout > 0:
            kept = jax.random.bernoulli(k_drop, 1.0 - config.dropout, r.shape)
            r = jnp.where(kept, r / (1.0 - config.dropout), 0.0)
        z1 = jnp.roll(r[:b], -start, axis=1)  # [B, T, C], view 1 with the overlap first
        return hierarchical_contrastive_loss(z1, r[b:], crop, config.alpha)

    def step(i, carry):
        p, state, mean = carry
        grads = jax.grad(loss_fn)(p, jax.random.fold_in(k_train, i))
        updates, state = opt.update(grads, state, p)
        p = optax.apply_updates(p, updates)
        # AveragedModel: mean_{k+1} = mean_k + (p - mean_k) / (k + 1), k + 1 = i + 2 iterates.
        mean = jax.tree.map(lambda m, q: m + (q - m) / (i + 2).astype(q.dtype), mean, p)
        return p, state, mean

    return jax.lax.fori_loop(0, iterations, step, (params, opt.init(params), params))[2]


def embed(params: nnx.State, x: jax.Array, config: TS2VecConfig, chunk: int = 256) -> jax.Array:
    """Instance embeddings max_t r_t of windows (no mask, no dropout), `chunk` windows at a time.

    Pure and traceable, like `train`.

    Args:
      params: from `train`.
      x: windows. # [N, T, D]
      config: the hyperparameters `params` were trained with.
      chunk: windows encoded at once (bounds memory to chunk * T * C floats per repeat).

    Returns:
      embeddings. # [N, C]
    """
    model = nnx.merge(_graphdef(x.shape[-1], config), params)
    n = x.shape[0]
    chunk = min(chunk, n)
    pad = -n % chunk
    xs = jnp.pad(x, ((0, pad), (0, 0), (0, 0))).reshape(-1, chunk, *x.shape[1:])
    out = jax.lax.map(lambda w: model(w).max(axis=1), xs)  # [N / chunk, chunk, C]
    return out.reshape(-1, out.shape[-1])[:n]


@functools.partial(jax.jit, static_argnames=("config",))
def fit(
    x: jax.Array, key: jax.Array, iterations: jax.Array, config: TS2VecConfig = TS2VecConfig()
) -> nnx.State:
    """`train` under jit: x [N, T, D], a key and a (traced) step count -> averaged params."""
    return train(x, key, iterations, config)


@functools.partial(jax.jit, static_argnames=("config", "chunk"))
def encode(
    params: nnx.State, x: jax.Array, config: TS2VecConfig = TS2VecConfig(), chunk: int = 256
) -> jax.Array:
    """`embed` under jit: windows [N, T, D] -> instance embeddings [N, C]."""
    return embed(params, x, config, chunk)
