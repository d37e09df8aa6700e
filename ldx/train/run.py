"""A trained run: its experiment, model and parameters, from a workdir or a training state."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import jax
import ml_collections
from flax import nnx

from ldx.errors import CheckpointError
from ldx.experiment import Experiment, build_experiment
from ldx.train import checkpoint
from ldx.train.state import TrainState, flatten_model, make_optimizer


@dataclasses.dataclass(frozen=True)
class Run:
    """A trained run: its workdir, typed experiment, model_fn(flat params) and state."""

    workdir: str
    experiment: Experiment
    model_fn: Callable[[jax.Array], nnx.Module]
    state: TrainState

    def params(self, use_ema: bool = True) -> jax.Array:
        return self.state.ema_params if use_ema else self.state.params

    def model(self, use_ema: bool = True) -> nnx.Module:
        return self.model_fn(self.params(use_ema))


def load_run(workdir: str, config: ml_collections.ConfigDict | None = None) -> Run:
    """Rebuilds the experiment from <workdir>/config.json and restores its latest checkpoint.

    `config`, when given, replaces the stored config: the launch apps pass it with sampling
    settings changed; it must describe the same model, or the checkpoint will not restore.
    """
    if config is None:
        config = checkpoint.load_config(workdir)
    experiment = build_experiment(config)
    model_fn, _, template = init_state(experiment)
    manager = checkpoint.checkpoint_manager(workdir, create=False)
    try:
        state = checkpoint.restore_latest(manager, template)
    finally:
        manager.close()
    if state is None:
        raise CheckpointError(
            f"no checkpoint in {os.path.join(workdir, 'checkpoints')}: "
            "training has not saved one yet."
        )
    return Run(workdir, experiment, model_fn, state)


def run_from_state(workdir: str, experiment: Experiment, state: TrainState) -> Run:
    """The Run of a state that training just returned, without reading the workdir again.

    The state's arrays are copied to this process's host (a multi-process run holds them
    replicated on every process), so the Run samples on local devices like a loaded one.
    """
    model_fn, _ = flatten_model(experiment.init_model())
    host = checkpoint.host_copy
    state = state.replace(params=host(state.params), ema_params=host(state.ema_params))
    return Run(workdir, experiment, model_fn, state)


def init_state(exp: Experiment):
    """(model_fn, optimizer, fresh TrainState) for the experiment."""
    cfg = exp.train
    model_fn, params = flatten_model(exp.init_model())
    optimizer = make_optimizer(
        cfg.learning_rate,
        cfg.warmup_steps,
        cfg.num_steps,
        cfg.grad_clip,
        cfg.lr_schedule,
        cfg.weight_decay,
    )
    return model_fn, optimizer, TrainState.create(params, optimizer, exp.seed)
