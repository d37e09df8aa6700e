"""Tests of the training state, step, loop and checkpoints."""

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from configs.default import get_config
from ldx.errors import CheckpointError
from ldx.experiment import build_experiment
from ldx.train import TrainState, load_run, make_train_step, train
from ldx.train.checkpoint import checkpoint_manager, restore_latest
from ldx.train.state import flatten_model, make_optimizer
from ldx.train.writer import read_metrics


def _linear_problem():
    """A 3 -> 1 linear model and an MSE loss with the ldx loss signature."""
    model_fn, params = flatten_model(nnx.Linear(3, 1, rngs=nnx.Rngs(0)))

    def loss_fn(model, batch, key, step, stage):
        del key, step, stage
        loss = jnp.mean(jnp.square(model(batch[:, :3]) - batch[:, 3:]))
        return loss, {"mse": loss}

    return model_fn, params, loss_fn


def test_step_is_adam_then_ema():
    # Given a linear model; when one step runs, then params follow Adam's first step
    # (-lr * g / (|g| + eps)) computed from an independent finite-difference gradient,
    # and the EMA is d * old + (1 - d) * new with the warmed-up d = min(decay, 1 / 10).
    model_fn, params, loss_fn = _linear_problem()
    lr, decay = 0.1, 0.9
    tx = optax.adam(lr)
    batch = jax.random.normal(jax.random.key(1), (8, 4))
    state = TrainState.create(params, tx, seed=0)
    new, metrics = jax.jit(make_train_step(model_fn, loss_fn, tx, decay))(state, batch)

    def f(p):
        return float(loss_fn(model_fn(jnp.asarray(p, jnp.float32)), batch, None, 0, "")[0])

    p0 = np.asarray(params, np.float64)
    h = 1e-3
    grad = np.array([(f(p0 + h * e) - f(p0 - h * e)) / (2 * h) for e in np.eye(len(p0))])
    expected = p0 - lr * grad / (np.abs(grad) + 1e-8)
    np.testing.assert_allclose(new.params, expected, atol=2e-4)
    d = min(decay, 1.0 / 10.0)
    np.testing.assert_allclose(new.ema_params, d * p0 + (1 - d) * expected, atol=2e-4)
    np.testing.assert_allclose(metrics["grad_norm"], np.linalg.norm(grad), rtol=1e-2)
    assert int(new.step) == 1 and int(new.skipped) == 0


def test_non_finite_batch_is_skipped_and_counted():
    # Given a NaN batch; when stepped, then nothing changes but the counters; a good
    # batch afterwards resets the consecutive count and trains again.
    model_fn, params, loss_fn = _linear_problem()
    tx = optax.adam(0.1)
    step = jax.jit(make_train_step(model_fn, loss_fn, tx, 0.9))
    state = TrainState.create(params, tx, seed=0)
    bad = jnp.full((8, 4), jnp.nan)
    s1, m1 = step(state, bad)
    s2, _ = step(s1, bad)
    np.testing.assert_array_equal(s2.params, params)
    np.testing.assert_array_equal(s2.ema_params, params)
    assert (int(s2.bad_steps), int(s2.skipped), int(s2.step)) == (2, 2, 2)
    s3, _ = step(s2, jnp.ones((8, 4)))
    assert (int(s3.bad_steps), int(s3.skipped)) == (0, 2)
    assert not np.array_equal(s3.params, params)


def test_step_compiles_once():
    # Given the jitted, donating step with ldx's optimiser (warm-up schedule, clipping); when
    # its own output state is fed back for several steps, then it is traced only once (a dtype
    # or weak-type drift in the state would recompile it every step).
    model_fn, params, loss_fn = _linear_problem()
    tx = make_optimizer(1e-2, 2, 10, 1.0, "cosine")
    step = jax.jit(
        chex.assert_max_traces(make_train_step(model_fn, loss_fn, tx, 0.9), n=1),
        donate_argnums=0,
    )
    state = TrainState.create(params, tx, seed=0)
    for i in range(4):
        state, _ = step(state, jax.random.normal(jax.random.key(i), (8, 4)))
    assert int(state.step) == 4


def _smoke(**overrides):
    config = get_config("smoke")
    for key, value in overrides.items():
        section, field = key.split("__")
        config[section][field] = value
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke run trained for 6 steps with a constant learning rate."""
    workdir = str(tmp_path_factory.mktemp("run"))
    state = train(build_experiment(_smoke(train__lr_schedule="constant")), workdir)
    return workdir, state


def test_train_writes_metrics_and_checkpoints(trained):
    # Given a finished smoke run, then metrics were logged every 2 steps with finite
    # losses and checkpoints 3 and 6 exist; the restored state equals the returned one.
    workdir, state = trained
    rows = read_metrics(workdir)
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert all(np.isfinite(r["loss"]) for r in rows)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3", "6"]
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    run = load_run(workdir)
    np.testing.assert_array_equal(run.state.params, state.params)
    np.testing.assert_array_equal(run.state.ema_params, state.ema_params)
    assert int(run.state.step) == 6


def test_resume_is_bitwise_identical(trained, tmp_path):
    # Given a run stopped after 3 steps; when the same command is rerun to 6 steps,
    # then the final parameters equal the uninterrupted run's bit for bit.
    _, uninterrupted = trained
    workdir = str(tmp_path)
    train(build_experiment(_smoke(train__lr_schedule="constant", train__num_steps=3)), workdir)
    resumed = train(build_experiment(_smoke(train__lr_schedule="constant")), workdir)
    np.testing.assert_array_equal(resumed.params, uninterrupted.params)
    np.testing.assert_array_equal(resumed.opt_state[1][0].mu, uninterrupted.opt_state[1][0].mu)


def test_checkpoint_round_trip(tmp_path):
    # Given a state; when saved and restored into a template of zeros, then equal.
    model_fn, params, _ = _linear_problem()
    tx = optax.adam(0.1)
    state = TrainState.create(params, tx, seed=3)
    manager = checkpoint_manager(str(tmp_path))
    manager.save(7, args=ocp.args.StandardSave(state))
    manager.wait_until_finished()
    template = jax.tree.map(jnp.zeros_like, state)
    restored = restore_latest(manager, template)
    manager.close()
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
        np.testing.assert_array_equal(a, b)


def test_other_config_in_workdir_is_refused(trained):
    # Given a workdir of an LD run; when a PSLD run targets it, then CheckpointError
    # names the differing field and config.json is untouched.
    workdir, _ = trained
    path = os.path.join(workdir, "config.json")
    before = open(path).read()
    config = _smoke(train__lr_schedule="constant")
    config.method = "psld"
    with pytest.raises(CheckpointError, match="config.method: saved 'ld', now 'psld'"):
        train(build_experiment(config), workdir)
    assert open(path).read() == before


def test_two_stage_freezes_the_other_part():
    # Given two-stage training; then autoencoder steps leave the prior's parameters
    # unchanged and prior steps (after the optimiser reset) leave the rest unchanged.
    config = _smoke(train__stages="two_stage", train__num_steps=4, train__prior_steps=2)
    exp = build_experiment(config)
    model_fn, params = flatten_model(exp.init_model())
    tx = optax.adam(1e-2)
    loss_fn = exp.loss_fn(4)
    batch = jnp.asarray(exp.dataset.train[:16])

    def split(flat):
        state = nnx.state(model_fn(flat), nnx.Param)
        return (
            np.concatenate([np.ravel(x) for x in jax.tree.leaves(state["prior"])]),
            np.concatenate(
                [np.ravel(x) for k, v in state.items() if k != "prior" for x in jax.tree.leaves(v)]
            ),
        )

    state = TrainState.create(params, tx, seed=0)
    ae_step = jax.jit(make_train_step(model_fn, loss_fn, tx, 0.9, "autoencoder"))
    prior_step = jax.jit(make_train_step(model_fn, loss_fn, tx, 0.9, "prior"))
    s = ae_step(ae_step(state, batch)[0], batch)[0]
    np.testing.assert_array_equal(split(s.params)[0], split(params)[0])
    assert not np.array_equal(split(s.params)[1], split(params)[1])
    s = s.replace(opt_state=tx.init(s.params))
    s2 = prior_step(prior_step(s, batch)[0], batch)[0]
    np.testing.assert_array_equal(split(s2.params)[1], split(s.params)[1])
    assert not np.array_equal(split(s2.params)[0], split(s.params)[0])
