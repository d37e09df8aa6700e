"""The training loop: resumable, sharded, logged.

`train(config, workdir)` is all `launch.train` calls. The data order and every
random key derive from (seed, step), so a run restored from a checkpoint
continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from ldx import dependency
from ldx.data import get_batch
from ldx.errors import ConfigError
from ldx.experiment import Experiment, build_experiment, typed
from ldx.train import checkpoint, parallel
from ldx.train.state import TrainState, flatten_model, make_optimizer, make_train_step
from ldx.train.writer import MetricWriter


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Typed `config.train`; see configs/default.py for each field."""

    num_steps: int = 3000
    batch_size: int = 128
    learning_rate: float = 2e-3
    lr_schedule: str = "cosine"
    warmup_steps: int = 200
    grad_clip: float = 1.0
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    stages: str = "joint"
    prior_steps: int = 1000
    log_every: int = 100
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    max_bad_steps: int = 20
    progress_bar: bool = True
    sample_after: bool = True
    dependency_every: int = 0
    dependency_probe_size: int = 32
    dependency_points: int = 16

    def __post_init__(self):
        if self.stages not in ("joint", "two_stage"):
            raise ConfigError(
                f"config.train.stages={self.stages!r} is not one of ('joint', 'two_stage')."
            )
        for name in (
            "num_steps",
            "batch_size",
            "log_every",
            "checkpoint_every",
            "keep_checkpoints",
            "max_bad_steps",
            "dependency_probe_size",
            "dependency_points",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"config.train.{name}={getattr(self, name)} must be >= 1.")
        if self.stages == "two_stage" and not 0 < self.prior_steps < self.num_steps:
            raise ConfigError(
                f"config.train.prior_steps={self.prior_steps} must be in "
                f"(0, num_steps={self.num_steps}) for two_stage training."
            )
        if self.dependency_every < 0:
            raise ConfigError(
                f"config.train.dependency_every={self.dependency_every} must be >= 0."
            )

    def stage(self, step: int) -> str:
        """Which terms step `step` trains: joint, or autoencoder then prior."""
        if self.stages == "joint":
            return "joint"
        return "autoencoder" if step < self.num_steps - self.prior_steps else "prior"


class NonFiniteError(RuntimeError):
    """Too many consecutive non-finite steps."""


def init_state(exp: Experiment, cfg: TrainConfig):
    """(model_fn, optimizer, fresh TrainState) for the experiment."""
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


def _mean_metrics(history: list[dict]) -> dict[str, float]:
    host = jax.device_get(history)
    return {k: float(np.mean([m[k] for m in host])) for k in host[0]}


def train(config: ml_collections.ConfigDict, workdir: str) -> TrainState:
    """Trains (or resumes) the run in `workdir`; returns the final state."""
    exp = build_experiment(config)
    cfg = typed(TrainConfig, config.train, "train")
    mesh = parallel.data_mesh()
    parallel.check_batch_size(cfg.batch_size, mesh, "config.train.batch_size")
    replicated, batch_sharding = parallel.shardings(mesh)
    primary = jax.process_index() == 0
    if primary:
        checkpoint.write_or_check_config(workdir, config)

    model_fn, optimizer, state = init_state(exp, cfg)
    manager = checkpoint.checkpoint_manager(workdir, cfg.keep_checkpoints)
    state = checkpoint.restore_latest(manager, state) or state
    state = jax.device_put(state, replicated)
    start = int(state.step)
    loss_fn = exp.loss_fn(cfg.num_steps)
    steps = {}  # stage -> jitted step, compiled on first use

    def step_fn(stage):
        if stage not in steps:
            fn = make_train_step(model_fn, loss_fn, optimizer, cfg.ema_decay, stage)
            steps[stage] = jax.jit(
                fn,
                donate_argnums=0,
                in_shardings=(replicated, batch_sharding),
                out_shardings=(replicated, replicated),
            )
        return steps[stage]

    writer = MetricWriter(workdir, enabled=primary)
    train_data = exp.dataset.train
    probe = None  # dependency diagnostics: probe(params) -> metrics
    if cfg.dependency_every:
        probe = dependency.make_probe(
            model_fn, state.params, train_data[: cfg.dependency_probe_size], cfg.dependency_points
        )
    # Every process builds the same global batch and keeps its own rows.
    rows = slice(
        jax.process_index() * cfg.batch_size // jax.process_count(),
        (jax.process_index() + 1) * cfg.batch_size // jax.process_count(),
    )
    history, t_log = [], time.perf_counter()
    bar = _progress(cfg, start)
    logging.info(
        "Training %s/%s from step %d to %d in %s",
        config.method,
        exp.model.backbone,
        start,
        cfg.num_steps,
        workdir,
    )
    try:
        for step in range(start, cfg.num_steps):
            stage = cfg.stage(step)
            if step > 0 and stage != cfg.stage(step - 1):
                # A fresh optimiser state at a stage switch: zero gradients then give
                # exactly zero Adam updates, so the frozen part does not drift.
                state = state.replace(
                    opt_state=jax.device_put(optimizer.init(state.params), replicated)
                )
            batch = get_batch(train_data, cfg.batch_size, step, exp.seed)[rows]
            state, metrics = step_fn(stage)(state, parallel.shard_batch(batch, batch_sharding))
            history.append(metrics)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.num_steps:
                now = time.perf_counter()
                logged = _mean_metrics(history)
                logged["steps_per_sec"] = len(history) / (now - t_log)
                writer.write(done, logged)
                if bar is not None:
                    bar.set_postfix(loss=f"{logged['loss']:.4g}")
                history, t_log = [], now
                if int(state.bad_steps) >= cfg.max_bad_steps:
                    raise NonFiniteError(
                        f"{int(state.bad_steps)} consecutive steps had a non-finite loss or "
                        f"gradient (up to step {done}); stopping. The last checkpoint in "
                        f"{workdir} holds the last good parameters."
                    )
            if probe is not None and done % cfg.dependency_every == 0:
                writer.write(done, probe(state.params))
            if done % cfg.checkpoint_every == 0 or done == cfg.num_steps:
                manager.save(done, args=ocp.args.StandardSave(state))
            if bar is not None:
                bar.update(1)
    finally:
        manager.wait_until_finished()
        manager.close()
        writer.close()
        if bar is not None:
            bar.close()
    return state


def _progress(cfg: TrainConfig, start: int):
    if not cfg.progress_bar or jax.process_index() != 0:
        return None
    from tqdm import tqdm

    return tqdm(total=cfg.num_steps, initial=start, unit="step", dynamic_ncols=True)
