"""Metrics that train a small post-hoc network: TimeGAN's discriminative and predictive scores.

Shapes (ldx/shapes.py): N real windows, M generated windows, T time, D features, H hidden width,
R repeats, B batch.

Both follow the TimeGAN protocol (Yoon et al. 2019, as re-used by Diffusion-TS): a 1-layer GRU
(`ldx.nn.RNN`, PyTorch gate convention) of width H = max(1, floor(D / 2)) with a linear head,
trained with Adam (learning rate 1e-3) on batches of 128. The R repeats (default 5) differ in
initialisation, data split and batches; they are trained together as one jitted program
(`jax.vmap` over repeats of a `lax.scan` over iterations). Batches are drawn uniformly with
replacement (TimeGAN draws each batch without replacement; the difference is immaterial).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ldx.errors import DataError
from ldx.metrics._checks import pair
from ldx.nn import RNN


@dataclasses.dataclass(frozen=True)
class Repeated:
    """A metric's values over independent repeats.

    Attributes:
      values: one value per repeat. # [R]
    """

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof=1); 0 for a single repeat."""
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "values": list(self.values)}


class _GRUHead(nnx.Module):
    """x [B, T, F] -> GRU states h [B, T, H] -> linear head [B, T, 1]."""

    def __init__(self, in_features: int, hidden: int, *, rngs: nnx.Rngs):
        self.rnn = RNN("gru", in_features, hidden, 1, rngs=rngs)
        self.out = nnx.Linear(hidden, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        _, h = self.rnn(self.rnn.zero_carry(x.shape[0], x.dtype), x)  # [B, T, H]
        return self.out(h)  # [B, T, 1]


def _check(iterations: int, batch_size: int, repeats: int, hidden: int | None) -> None:
    for name, value in (("iterations", iterations), ("batch_size", batch_size)):
        if value < 1:
            raise DataError(f"{name}={value}, expected an integer >= 1")
    if repeats < 1 or (hidden is not None and hidden < 1):
        raise DataError(f"repeats={repeats}, hidden={hidden}; expected integers >= 1")


def _width(dim: int, hidden: int | None) -> int:
    return hidden if hidden is not None else max(1, dim // 2)


def _fit(loss_fn, params, key, iterations: jax.Array, learning_rate: float):
    """Adam on loss_fn(params, fold_in(key, i)) for i < iterations; returns params.

    `iterations` is a traced integer (a `fori_loop` with a dynamic bound), so one compiled
    program serves every iteration count.
    """
    opt = optax.adam(learning_rate)

    def step(i, carry):
        p, s = carry
        grads = jax.grad(loss_fn)(p, jax.random.fold_in(key, i))
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s

    return jax.lax.fori_loop(0, iterations, step, (params, opt.init(params)))[0]


@functools.partial(jax.jit, static_argnames=("hidden", "batch_size", "learning_rate", "fraction"))
def _discriminate(real, fake, keys, *, hidden, iterations, batch_size, learning_rate, fraction):
    """|accuracy - 0.5| per repeat: real [N, T, D], fake [M, T, D], keys [R] -> [R]."""
    n_tr, m_tr = int(len(real) * fraction), int(len(fake) * fraction)

    def one(key):
        k_init, k_real, k_fake, k_train = jax.random.split(key, 4)
        graphdef, params = nnx.split(_GRUHead(real.shape[-1], hidden, rngs=nnx.Rngs(k_init)))

        def logits(params, x):  # [B, T, D] -> [B], from the last GRU state
            return nnx.merge(graphdef, params)(x)[:, -1, 0]

        idx_r, idx_f = (
            jax.random.permutation(k_real, len(real)),
            jax.random.permutation(k_fake, len(fake)),
        )  # [N], [M]: the first n_tr / m_tr train, the rest test

        def loss(p, k):
            kr, kf = jax.random.split(k)
            xr = real[idx_r[jax.random.randint(kr, (batch_size,), 0, n_tr)]]  # [B, T, D]
            xf = fake[idx_f[jax.random.randint(kf, (batch_size,), 0, m_tr)]]  # [B, T, D]
            z = logits(p, jnp.concatenate([xr, xf]))  # [2B], one GRU call
            bce = optax.sigmoid_binary_cross_entropy(z, jnp.repeat(jnp.array([1.0, 0.0]), len(xr)))
            return bce[:batch_size].mean() + bce[batch_size:].mean()

        params = _fit(loss, params, k_train, iterations, learning_rate)
        zr, zf = logits(params, real[idx_r[n_tr:]]), logits(params, fake[idx_f[m_tr:]])
        correct = jnp.sum(zr > 0) + jnp.sum(zf <= 0)  # sigmoid(z) > 0.5 means "real"
        return jnp.abs(correct / (len(zr) + len(zf)) - 0.5)

    return jax.vmap(one)(keys)


def discriminative_score(
    real,
    fake,
    key: jax.Array,
    *,
    iterations: int = 2000,
    batch_size: int = 128,
    hidden: int | None = None,
    repeats: int = 5,
    learning_rate: float = 1e-3,
    train_fraction: float = 0.8,
) -> Repeated:
    """TimeGAN's discriminative score: how well a post-hoc GRU tells real from generated.

    For each repeat, both sets are split at random into train (the first floor(0.8 N), floor(0.8 M)
    of a permutation) and test parts. A 1-layer GRU classifier, logit = w . h_T + b from its
    last state, is trained for `iterations` Adam steps on the loss
    BCE(real batch, label 1) + BCE(fake batch, label 0) (means over batches of B each). With
    `acc` its accuracy on the union of both test parts (threshold sigmoid = 0.5),

        score = | acc - 0.5 |,

    0 when the classifier cannot tell the sets apart, 0.5 when it always can. Lower is better.

    Args:
      real: real windows. # [N, T, D]
      fake: generated windows. # [M, T, D]
      key: a `jax.random.key`; repeat r uses `jax.random.split(key, repeats)[r]`.
      iterations: Adam steps (TimeGAN: 2000).
      batch_size: B windows of each set per step (TimeGAN: 128).
      hidden: GRU width; None means max(1, floor(D / 2)) (TimeGAN: int(D / 2)).
      repeats: R independent classifiers.
      learning_rate: Adam step size (TimeGAN: TensorFlow's default 1e-3).
      train_fraction: share of each set used for training (TimeGAN: 0.8).

    Returns:
      the score of each repeat, with mean and std.
    """
    _check(iterations, batch_size, repeats, hidden)
    r, f = pair(real, fake)
    if min(int(len(r) * train_fraction), int(len(f) * train_fraction)) < 1 or not (
        0.0 < train_fraction < 1.0
    ):
        raise DataError(
            f"train_fraction={train_fraction} with {len(r)} real and {len(f)} fake windows leaves "
            "an empty train or test part"
        )
    values = _discriminate(
        jnp.asarray(r, jnp.float32),
        jnp.asarray(f, jnp.float32),
        jax.random.split(key, repeats),
        hidden=_width(r.shape[-1], hidden),
        iterations=jnp.int32(iterations),
        batch_size=batch_size,
        learning_rate=learning_rate,
        fraction=train_fraction,
    )
    return Repeated(tuple(float(v) for v in np.asarray(values)))


def _split_target(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(inputs [B, T-1, F], target [B, T-1, 1]): features 0..D-2 at t predict feature D-1 at t+1.
    With D = 1 the single feature at t predicts itself at t+1."""
    dim = x.shape[-1]
    inputs = x[:, :-1, : dim - 1] if dim > 1 else x[:, :-1]
    return inputs, x[:, 1:, dim - 1 :]


@functools.partial(jax.jit, static_argnames=("hidden", "batch_size", "learning_rate"))
def _predict(train, test, keys, *, hidden, iterations, batch_size, learning_rate):
    """Test MAE per repeat: train [M, T, D], test [N, T, D], keys [R] -> [R]."""
    in_features = max(train.shape[-1] - 1, 1)

    def one(key):
        k_init, k_train = jax.random.split(key)
        graphdef, params = nnx.split(_GRUHead(in_features, hidden, rngs=nnx.Rngs(k_init)))

        def mae(params, x):  # mean over windows and time of |y_hat - y|
            inputs, target = _split_target(x)
            y_hat = jax.nn.sigmoid(nnx.merge(graphdef, params)(inputs))  # [B, T-1, 1]
            return jnp.abs(y_hat - target).mean()

        def loss(p, k):
            return mae(p, train[jax.random.randint(k, (batch_size,), 0, len(train))])

        return mae(_fit(loss, params, k_train, iterations, learning_rate), test)

    return jax.vmap(one)(keys)


def predictive_score(
    real,
    fake,
    key: jax.Array,
    *,
    iterations: int = 5000,
    batch_size: int = 128,
    hidden: int | None = None,
    repeats: int = 5,
    learning_rate: float = 1e-3,
) -> Repeated:
    """TimeGAN's predictive score: train on synthetic, test on real, one step ahead.

    A 1-layer GRU reads features 0..D-2 of x_1..x_{T-1} and predicts, at each t, feature D-1 of
    x_{t+1} as y_hat_t = sigmoid(w . h_t + b) (with D = 1 it reads the feature itself). It is
    trained for `iterations` Adam steps on the mean absolute error over batches of `fake`; the
    score is its mean absolute error on all of `real`,

        score = (1 / (N (T-1))) sum_n sum_{t=1}^{T-1} | y_hat_{n,t} - x_{n,t+1,D-1} |.

    Lower is better; train on real and test on held-out real gives the floor.

    Args:
      real: real windows, the test set. # [N, T, D]
      fake: generated windows, the training set. # [M, T, D]
      key: a `jax.random.key`; repeat r uses `jax.random.split(key, repeats)[r]`.
      iterations: Adam steps (TimeGAN: 5000).
      batch_size: B (TimeGAN: 128).
      hidden: GRU width; None means max(1, floor(D / 2)).
      repeats: R independent predictors.
      learning_rate: Adam step size.

    Returns:
      the score of each repeat, with mean and std.
    """
    _check(iterations, batch_size, repeats, hidden)
    r, f = pair(real, fake)
    values = _predict(
        jnp.asarray(f, jnp.float32),
        jnp.asarray(r, jnp.float32),
        jax.random.split(key, repeats),
        hidden=_width(r.shape[-1], hidden),
        iterations=jnp.int32(iterations),
        batch_size=batch_size,
        learning_rate=learning_rate,
    )
    return Repeated(tuple(float(v) for v in np.asarray(values)))
