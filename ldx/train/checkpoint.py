"""Workdir layout, Orbax checkpointing and restoring a finished run.

<workdir>/config.json      the config of the run (checked on resume)
<workdir>/checkpoints/<s>  Orbax checkpoints of the TrainState
<workdir>/metrics.jsonl    one JSON line per logged step
<workdir>/tensorboard/     TensorBoard event files
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable

import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging
from flax import nnx

from ldx.errors import CheckpointError
from ldx.experiment import Experiment, build_experiment, typed
from ldx.train.state import TrainState

# Sections that define the model and its data: a run cannot resume if they change.
# (train.* and sample.* may change, e.g. to extend num_steps.)
STRUCTURAL = ("seed", "method", "data", "model", "diffusion", "objective")


def config_path(workdir: str) -> str:
    return os.path.join(workdir, "config.json")


def _structural(config: ml_collections.ConfigDict) -> dict:
    d = json.loads(config.to_json_best_effort())
    return {k: d[k] for k in STRUCTURAL if k in d}


def _diff(a, b, prefix="config") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            line
            for k in sorted(set(a) | set(b))
            for line in _diff(a.get(k), b.get(k), f"{prefix}.{k}")
        ]
    return [] if a == b else [f"{prefix}: saved {a!r}, now {b!r}"]


def write_or_check_config(workdir: str, config: ml_collections.ConfigDict) -> None:
    """Saves config.json in a new workdir; in an existing one, checks it is the same run."""
    path = config_path(workdir)
    if os.path.exists(path):
        saved = load_config(workdir)
        diffs = _diff(_structural(saved), _structural(config))
        if diffs:
            raise CheckpointError(
                f"{workdir} holds a run with a different config ({'; '.join(diffs[:5])}). "
                "Use a new --workdir, or the saved config."
            )
    os.makedirs(workdir, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(config.to_json_best_effort(indent=2))
    os.replace(tmp, path)  # atomic: a killed run never leaves half a config


def load_config(workdir: str) -> ml_collections.ConfigDict:
    path = config_path(workdir)
    if not os.path.exists(path):
        raise CheckpointError(
            f"{path} not found: {workdir!r} is not an ldx workdir "
            "(run launch.train with --workdir first)."
        )
    try:
        with open(path) as f:
            return ml_collections.ConfigDict(json.load(f))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from e


def checkpoint_manager(
    workdir: str, keep: int = 3, *, create: bool = True
) -> ocp.CheckpointManager:
    directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create)
    return ocp.CheckpointManager(directory, options=options)


def restore_latest(manager: ocp.CheckpointManager, template):
    """Restores the newest checkpoint into the structure/shardings of `template`.

    Returns None when there is no checkpoint. Raises CheckpointError when the
    checkpoint does not fit the template (another model) or cannot be read.
    """
    step = manager.latest_step()
    if step is None:
        return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    try:
        state = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # Orbax raises many types for unreadable or mismatched trees.
        raise CheckpointError(
            f"cannot restore checkpoint {step} in {manager.directory}: "
            f"{type(e).__name__}: {str(e)[:300]}"
        ) from e
    logging.info("Restored checkpoint at step %d from %s", step, manager.directory)
    return state


@dataclasses.dataclass(frozen=True)
class Run:
    """A trained run loaded from its workdir."""

    workdir: str
    config: ml_collections.ConfigDict
    experiment: Experiment
    model_fn: Callable[[jax.Array], nnx.Module]
    state: TrainState

    def params(self, use_ema: bool = True) -> jax.Array:
        return self.state.ema_params if use_ema else self.state.params

    def model(self, use_ema: bool = True) -> nnx.Module:
        return self.model_fn(self.params(use_ema))


def load_run(workdir: str) -> Run:
    """Rebuilds the experiment from <workdir>/config.json and restores its latest checkpoint."""
    from ldx.train.loop import TrainConfig, init_state  # the loop imports this module

    config = load_config(workdir)
    experiment = build_experiment(config)
    model_fn, _, template = init_state(experiment, typed(TrainConfig, config.train, "train"))
    manager = checkpoint_manager(workdir, create=False)
    try:
        state = restore_latest(manager, template)
    finally:
        manager.close()
    if state is None:
        raise CheckpointError(
            f"no checkpoint in {os.path.join(workdir, 'checkpoints')}: "
            "training has not saved one yet."
        )
    return Run(workdir, config, experiment, model_fn, state)
