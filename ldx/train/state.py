"""The training state and the pure, jitted training step.

Shapes (ldx/shapes.py): B batch, T time, D features, P number of parameters.

Parameters live in the state as one flat float32 vector [P]. Optimiser, EMA
and the non-finite guard then act on a handful of vectors instead of one op per
parameter leaf, which compiles 2-3x faster and runs faster on CPU; `model_fn`
turns the vector back into the NNX module inside the jitted function.

A sharded-model variant (parameters too large to replicate) would keep the parameter pytree
instead: each leaf then gets its own `NamedSharding` (e.g. along a `model` mesh axis), the
optimiser and EMA map over leaves, checkpoints store the tree, and `flatten_model` goes away;
the step, the keys and the loop stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree

from ldx.errors import ConfigError


@flax.struct.dataclass
class TrainState:
    """Everything a run needs to continue bit-for-bit (vdm's TrainState pattern).

    Attributes:
      step: number of optimiser steps taken, int32 [].
      params: the model's `nnx.Param` leaves raveled into one vector [P].
      ema_params: exponential moving average of `params` [P], used for sampling.
      opt_state: optax state.
      key: raw PRNG key data, uint32 [2] (Orbax stores plain arrays); the key of
        step s is fold_in(key, s), so a resumed run draws the same numbers.
      bad_steps: consecutive steps whose loss or gradient was not finite, int32 [].
      skipped: total skipped steps, int32 [].
    """

    step: jax.Array
    params: Any
    ema_params: Any
    opt_state: Any
    key: jax.Array
    bad_steps: jax.Array
    skipped: jax.Array

    @classmethod
    def create(cls, params, optimizer: optax.GradientTransformation, seed: int) -> TrainState:
        def zero():  # distinct buffers: the state is donated
            return jnp.zeros((), jnp.int32)

        return cls(
            step=zero(),
            params=params,
            ema_params=jnp.copy(params),
            opt_state=optimizer.init(params),
            key=jax.random.key_data(jax.random.key(seed)),
            bad_steps=zero(),
            skipped=zero(),
        )


def make_optimizer(
    learning_rate: float,
    warmup_steps: int,
    num_steps: int,
    grad_clip: float,
    lr_schedule: str = "constant",
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    """Adam(W) with linear warm-up, then constant or cosine decay, after global-norm clipping."""
    if lr_schedule == "cosine":
        lr = optax.warmup_cosine_decay_schedule(
            0.0,
            learning_rate,
            max(warmup_steps, 1),
            max(num_steps, warmup_steps + 1),
            end_value=0.1 * learning_rate,
        )
    elif lr_schedule == "constant":
        lr = optax.join_schedules(
            [
                optax.linear_schedule(0.0, learning_rate, max(warmup_steps, 1)),
                optax.constant_schedule(learning_rate),
            ],
            [max(warmup_steps, 1)],
        )
    else:
        raise ConfigError(
            f"config.train.lr_schedule={lr_schedule!r} is not one of ('constant', 'cosine')."
        )
    clip = optax.clip_by_global_norm(grad_clip) if grad_clip > 0 else optax.identity()
    return optax.chain(clip, optax.adamw(lr, weight_decay=weight_decay))


def flatten_model(model: nnx.Module) -> tuple[Callable[[jax.Array], nnx.Module], jax.Array]:
    """(model_fn, flat params [P]) with model_fn(flat) rebuilding the module."""
    graphdef, params = nnx.split(model, nnx.Param)
    flat, unravel = ravel_pytree(params)

    def model_fn(flat_params: jax.Array) -> nnx.Module:
        return nnx.merge(graphdef, unravel(flat_params))

    return model_fn, flat


def make_train_step(
    model_fn: Callable[[jax.Array], nnx.Module],
    loss_fn: Callable,
    optimizer: optax.GradientTransformation,
    ema_decay: float,
    stage: str = "joint",
) -> Callable[[TrainState, jax.Array], tuple[TrainState, dict[str, jax.Array]]]:
    """Builds the pure step (state, batch [B, T, D]) -> (state, metrics); jit it at the call site.

    A step whose loss, gradient or updated parameters are not finite leaves params, EMA and
    optimiser state unchanged and counts itself in `bad_steps` / `skipped` (both also in the
    metrics).
    """

    def train_step(state: TrainState, batch: jax.Array):
        key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)

        def objective(params):
            return loss_fn(model_fn(params), batch, key, state.step, stage)

        (loss, metrics), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = state.params + updates
        # EMA warm-up (as in DDPM codebases): early on the average forgets the initial
        # parameters quickly, which otherwise dominate it in short runs.
        decay = jnp.minimum(ema_decay, (1.0 + state.step) / (10.0 + state.step))
        ema = decay * state.ema_params + (1.0 - decay) * params
        ok = jnp.isfinite(loss) & jnp.all(jnp.isfinite(grads)) & jnp.all(jnp.isfinite(params))
        state = state.replace(
            step=state.step + 1,
            params=jnp.where(ok, params, state.params),
            ema_params=jnp.where(ok, ema, state.ema_params),
            opt_state=jax.tree.map(lambda a, b: jnp.where(ok, a, b), opt_state, state.opt_state),
            bad_steps=jnp.where(ok, 0, state.bad_steps + 1),
            skipped=state.skipped + (~ok).astype(jnp.int32),
        )
        metrics = dict(
            metrics,
            loss=loss,
            grad_norm=jnp.linalg.norm(grads),
            skipped=state.skipped,
            bad_steps=state.bad_steps,
        )
        return state, metrics

    return train_step
