"""The training loop: resumable, preemptible, sharded, logged.

`train(experiment, workdir)` is all `launch.train` calls; `experiment` is the typed run
(`ldx.build_experiment(config)`). The data order and every
random key derive from (seed, step), so a run restored from a checkpoint
continues exactly as an uninterrupted one would, bit for bit. A run killed at
any moment resumes from its newest complete checkpoint; SIGTERM saves one at the
next step boundary first (then `Preempted` is raised). The loop stops with
`NonFiniteError` after `max_bad_steps` consecutive skipped (non-finite) steps.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import jax
import numpy as np

from ldx import dependency
from ldx.data import get_batch
from ldx.errors import CheckpointError, NonFiniteError, Preempted
from ldx.experiment import Experiment
from ldx.progress import phase
from ldx.train import checkpoint, lock, parallel
from ldx.train.preemption import PreemptionWatch
from ldx.train.run import Run, init_state, load_run
from ldx.train.state import TrainState, make_train_step
from ldx.train.writer import MetricWriter


def _mean_metrics(history: list[dict]) -> dict[str, float]:
    host = jax.device_get(history)
    return {k: float(np.mean([m[k] for m in host])) for k in host[0]}


def train(exp: Experiment, workdir: str) -> TrainState:
    """Trains (or resumes) the run of experiment `exp` in `workdir`; returns the final state.

    Process 0 holds the workdir's lock (`ldx.train.lock`) throughout: a second trainer, or any
    app writing into the same workdir, is refused with the holder's pid, host and start time.
    """
    # Everything that can be wrong with the input is checked before anything is written.
    checkpoint.check_config(workdir, exp.spec)
    mesh = parallel.data_mesh()
    parallel.check_batch_size(exp.train.batch_size, mesh, "config.train.batch_size")
    checkpoint.make_workdir(workdir)
    with lock.hold(workdir, "training", enabled=jax.process_index() == 0):
        checkpoint.check_config(workdir, exp.spec)  # again, now that no other run writes here
        return _train(exp, workdir, mesh)


def finished_run(workdir: str, exp: Experiment, allow: Sequence[str] = ()) -> Run | None:
    """The run in `workdir` if it is finished, else None (there is training to do).

    Finished: its newest checkpoint is at the saved config's `train.num_steps`, and `exp`
    asks for no more. Such a run is not trained again and its config.json is not rewritten:
    `exp` must equal the saved config outside the sections named in `allow` (e.g. "sample",
    to draw new samples), and the run must not have ended on non-finite steps.

    Raises:
      CheckpointError: another run's structural config, checkpoints beyond exp's num_steps, or
        a finished run whose saved config differs from `exp` outside `allow`.
      NonFiniteError: the finished run ended on skipped (non-finite) steps.
    """
    checkpoint.check_config(workdir, exp.spec)
    step = checkpoint.latest_step(workdir)
    if step is None or step != exp.train.num_steps:
        return None
    saved = checkpoint.saved_spec(workdir)
    if saved["train"]["num_steps"] != step:
        return None  # An interrupted run, now asked to end at its newest checkpoint.
    diffs = [
        line
        for line in checkpoint.config_diff(saved, exp.spec)
        if line.split(":")[0].split(".")[1] not in allow
    ]
    if diffs:
        raise CheckpointError(
            f"{workdir} holds a run finished at step {step} with another config "
            f"({'; '.join(diffs[:5])}); it is not rerun. Use the saved config, a larger "
            "config.train.num_steps to train on, or a new config.sample with new samples "
            "(launch.train --resample)."
        )
    run = load_run(workdir, exp)
    if int(run.state.step) != step:
        return None  # The newest checkpoint is unreadable: training redoes its steps.
    _check_bad_steps(step, int(run.state.bad_steps), exp.train.max_bad_steps, workdir, True)
    return run


def _train(exp: Experiment, workdir: str, mesh: jax.sharding.Mesh) -> TrainState:
    cfg = exp.train
    replicated, batch_sharding = parallel.shardings(mesh)
    primary = jax.process_index() == 0

    model_fn, optimizer, state = init_state(exp)
    # Processes reach the first collective (device_put checks the state is the same on
    # all) after unequal times spent loading data and building the model.
    parallel.barrier("init")
    # Restoring into the replicated template gives global arrays on every process.
    state = jax.device_put(state, replicated)
    manager = checkpoint.checkpoint_manager(workdir, cfg.keep_checkpoints)
    try:
        state = checkpoint.restore_latest(manager, state, quarantine=True) or state
    except BaseException:
        manager.close()
        raise
    if primary:
        checkpoint.write_config(workdir, exp.spec)
    start = int(state.step)
    loss_fn = exp.loss_fn(cfg.num_steps)
    steps = {}  # stage -> compiled step

    def step_fn(stage, state, batch):
        """The step of `stage`, compiled on first use."""
        if stage not in steps:
            fn = make_train_step(model_fn, loss_fn, optimizer, cfg.ema_decay, stage)
            jitted = jax.jit(
                fn,
                donate_argnums=0,
                in_shardings=(replicated, batch_sharding),
                out_shardings=(replicated, replicated),
            )
            steps[stage] = jitted.lower(state, batch).compile()
            parallel.barrier(f"compiled_{stage}")  # Processes take unequal times to compile.
        return steps[stage]

    writer = MetricWriter(workdir, enabled=primary)
    train_data = exp.dataset.train
    probe = None  # dependency diagnostics: probe(params) -> metrics
    if cfg.dependency_every:
        probe = dependency.make_probe(
            model_fn, state.params, train_data[: cfg.dependency_probe_size], cfg.dependency_points
        )
    # Every process builds the same global batch and feeds the rows its devices hold.
    rows = parallel.process_rows(batch_sharding, cfg.batch_size)
    history, t_log = [], time.perf_counter()
    what = "/".join(str(v) for v in exp.describe().values())
    shown = contextlib.ExitStack()
    bar = shown.enter_context(
        phase(
            f"training {what} from step {start} to {cfg.num_steps} in {workdir}",
            cfg.num_steps,
            "step",
            start,
            show=primary,
            bar=cfg.progress_bar,
        )
    )
    watch, pending = PreemptionWatch(), None  # SIGTERM now saves and stops.
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
            batch = parallel.shard_batch(batch, batch_sharding, cfg.batch_size)
            state, metrics = step_fn(stage, state, batch)(state, batch)
            # The previous step's count is ready by now: reading it does not stall the device.
            if pending is not None:
                _check_bad_steps(pending[0], int(pending[1]), cfg.max_bad_steps, workdir)
            pending = (step + 1, metrics.pop("bad_steps"))
            history.append(metrics)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.num_steps:
                now = time.perf_counter()
                logged = _mean_metrics(history)
                logged["steps_per_sec"] = len(history) / (now - t_log)
                writer.write(done, logged)
                bar.set_postfix(loss=f"{logged['loss']:.4g}")
                history, t_log = [], now
            if probe is not None and done % cfg.dependency_every == 0:
                writer.write(done, probe(state.params))
            preempted = watch.reached(done)  # Every process asks at every step.
            if done % cfg.checkpoint_every == 0 or done == cfg.num_steps or preempted:
                checkpoint.save(manager, done, state)
            bar.update(1)
            if preempted:
                checkpoint.wait(manager)
                raise Preempted(
                    f"training stopped by SIGTERM after step {done} of {cfg.num_steps}; "
                    f"checkpoint {done} saved in {workdir}. Rerun the same command to resume."
                )
        _check_bad_steps(int(state.step), int(state.bad_steps), cfg.max_bad_steps, workdir, True)
    finally:
        watch.close()
        try:
            checkpoint.wait(manager)  # A failed save (a full disk) is an error here.
        finally:
            manager.close()
            writer.close()
            shown.close()
    return state


def _check_bad_steps(step: int, bad: int, limit: int, workdir: str, ended: bool = False) -> None:
    """Raises NonFiniteError if the `bad` consecutive skipped (non-finite) steps up to step
    `step` reach `limit`, or if training `ended` on any: a run that ends on skipped steps has
    not shown it recovers, so the rule holds even when num_steps < max_bad_steps."""
    advice = (
        f"The checkpoints in {workdir} hold the last good parameters; lower "
        "config.train.learning_rate or check the data."
    )
    if bad >= limit:
        raise NonFiniteError(
            f"{bad} consecutive steps (up to step {step}) had a non-finite loss or gradient "
            f"and were skipped (config.train.max_bad_steps={limit}); stopping. {advice}"
        )
    if ended and bad:
        raise NonFiniteError(
            f"training ended on {bad} consecutive step(s) (up to step {step}) with a non-finite "
            f"loss or gradient, skipped: fewer than config.train.max_bad_steps={limit}, but no "
            f"steps were left to show it recovers. {advice}"
        )
