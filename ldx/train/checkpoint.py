"""Workdir layout, Orbax checkpointing and restoring a finished run.

<workdir>/config.json              the config of the run (checked on resume)
<workdir>/checkpoints/<s>          Orbax checkpoints of the TrainState
<workdir>/checkpoints_corrupt/<s>  checkpoints found unreadable on resume, moved aside
<workdir>/metrics.jsonl            one JSON line per logged step
<workdir>/tensorboard/             TensorBoard event files

Orbax writes a checkpoint into `<s>.orbax-checkpoint-tmp` and renames it when complete, so a
run killed mid-save leaves no `<s>` behind; the trainer's manager deletes such leftovers. Each
checkpoint's metadata holds the shapes, dtypes and CRC32 of every leaf of the saved state:
restoring checks them, so a garbled array file (which Orbax itself may read back without an
error) is caught, and a checkpoint of another model is told apart from a corrupt one.
"""

from __future__ import annotations

import json
import os
import re
import zlib

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from ldx.errors import CheckpointError
from ldx.train import parallel

# Sections that define the model and its data: a run cannot resume if they change.
# (train.* and sample.* may change, e.g. to extend num_steps.)
STRUCTURAL = ("seed", "method", "data", "model", "diffusion", "objective")


def config_path(workdir: str) -> str:
    return os.path.join(workdir, "config.json")


def _structural(spec: dict) -> dict:
    return {k: spec[k] for k in STRUCTURAL if k in spec}


_ABSENT = object()


def config_diff(saved, now, defaults=None, prefix: str = "config") -> list[str]:
    """'<prefix>.<field>: saved X, now Y' for each field where two JSON configs differ.

    With `defaults` (a JSON config), a field that only one side has (added or removed since
    `saved` was written) is no difference when that side holds its value in `defaults`.
    """
    if isinstance(saved, dict) and isinstance(now, dict):
        d = defaults if isinstance(defaults, dict) else {}
        return [
            line
            for k in sorted(set(saved) | set(now))
            for line in config_diff(
                saved.get(k, _ABSENT), now.get(k, _ABSENT), d.get(k, _ABSENT), f"{prefix}.{k}"
            )
        ]
    if saved == now:
        return []
    if (saved is _ABSENT or now is _ABSENT) and (now if saved is _ABSENT else saved) == defaults:
        return []
    old, new = ("absent" if v is _ABSENT else repr(v) for v in (saved, now))
    return [f"{prefix}: saved {old}, now {new}"]


def make_workdir(workdir: str) -> None:
    """Creates `workdir` (and parents), or raises CheckpointError saying why it cannot."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise CheckpointError(f"--workdir={workdir!r} is a file, expected a directory.")
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot create --workdir={workdir!r}: {e.strerror or e}.") from e
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise CheckpointError(f"--workdir={workdir!r} is not writable.")


def check_config(workdir: str, spec: dict) -> None:
    """Raises CheckpointError if `workdir` holds a run whose structural config differs, or
    checkpoints beyond the new config's `train.num_steps` (config.json, rewritten on resume,
    would then claim fewer steps than its checkpoints hold).

    Args:
      workdir: the run's folder.
      spec: the JSON form of the new run's config (`Experiment.spec`).
    """
    if os.path.exists(config_path(workdir)):
        diffs = config_diff(_structural(saved_spec(workdir)), _structural(spec))
        if diffs:
            raise CheckpointError(
                f"{workdir} holds a run with a different config ({'; '.join(diffs[:5])}). "
                "Use a new --workdir, or the saved config."
            )
    step, num_steps = latest_step(workdir), spec["train"]["num_steps"]
    if step is not None and step > num_steps:
        raise CheckpointError(
            f"{workdir} holds a run trained to step {step}, beyond config.train.num_steps="
            f"{num_steps}. Rerun with num_steps >= {step}, or use another --workdir."
        )


def latest_step(workdir: str) -> int | None:
    """The step of the newest complete checkpoint in `workdir`, None if there is none."""
    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        return None
    manager = checkpoint_manager(workdir, create=False)
    try:
        return manager.latest_step()
    finally:
        manager.close()


def write_config(workdir: str, spec: dict) -> None:
    """Writes config.json atomically: a killed run never leaves half a config."""
    path = config_path(workdir)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(spec, indent=2))
    os.replace(tmp, path)


def load_config(workdir: str) -> ml_collections.ConfigDict:
    """The config a workdir's run was trained with (a launch-layer boundary: `load_run` turns
    it into an Experiment at once)."""
    return ml_collections.ConfigDict(saved_spec(workdir))


# Fields removed from ldx, each with the value that meant "off": a saved config holding one at
# that value loads without it; one that used it cannot be rebuilt by this version.
RETIRED = {
    # PSLD's per-step swap contrast / InfoNCE (docs/dependency_analysis.md; removed after commit
    # 1f8e9e3: it met neither dependency target).
    "objective.swap_weight": 0.0,
    "objective.swap_negatives": 1,
    # The residual decoder's linear path A x_{t-1} in the mean (docs/quality.md; removed after
    # commit 5a28f95: no gain on energy or stocks, and A = I made energy's samples diverge).
    "model.residual": False,
    # Student-t decoder innovations and input noise in each feature's own step units
    # (docs/quality.md, "What tells the generated windows apart"; removed after commit 99a5440:
    # worse or no better on every set tried).
    "model.noise_tails": "gaussian",
    "objective.input_noise_unit": "absolute",
}


def drop_retired(spec: dict, source: str) -> dict:
    """`spec` (a JSON config) without the RETIRED fields it holds at their "off" value.

    Raises:
      CheckpointError: `spec` used a retired field (naming it and `source`).
    """
    spec = json.loads(json.dumps(spec))  # a copy
    for dotted, off in RETIRED.items():
        section, field = dotted.split(".")
        values = spec.get(section)
        if not isinstance(values, dict) or field not in values:
            continue
        if values[field] != off:
            raise CheckpointError(
                f"{source} was made with config.{dotted}={values[field]!r}, an experiment "
                f"removed from ldx (see ldx/train/checkpoint.py, RETIRED); load it with the "
                "commit that made it."
            )
        del values[field]
    return spec


def saved_spec(workdir: str) -> dict:
    """The JSON config of the run in `workdir` (its config.json, without RETIRED fields at
    their "off" value); CheckpointError if none."""
    path = config_path(workdir)
    if not os.path.exists(path):
        raise CheckpointError(
            f"{path} not found: {workdir!r} is not an ldx workdir "
            "(run launch.train with --workdir first)."
        )
    try:
        with open(path) as f:
            spec = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from e
    return drop_retired(spec, path)


def checkpoint_manager(
    workdir: str, keep: int = 3, *, create: bool = True
) -> ocp.CheckpointManager:
    """The Orbax manager of `<workdir>/checkpoints`.

    Args:
      workdir: the run's folder.
      keep: how many of the newest checkpoints to keep.
      create: True for the trainer: creates the folder and deletes leftovers of saves that a
        killed run never finished. False for readers, which must not touch the folder (a
        trainer may be writing a checkpoint into it).
    """
    directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=create, cleanup_tmp_directories=create
    )
    return ocp.CheckpointManager(
        directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
    )


_FINGERPRINT = "ldx_fingerprint"


def host_copy(x) -> np.ndarray:
    """A host copy of a leaf; of a replicated multi-process array, this process's copy."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        x = x.addressable_data(0)
    return np.asarray(x)


def _layout(tree) -> list[list]:
    """[[shape, dtype], ...] of the leaves of a tree of arrays or ShapeDtypeStructs."""
    return [[list(x.shape), str(np.dtype(x.dtype))] for x in jax.tree.leaves(tree)]


def fingerprint(state) -> dict[str, list]:
    """Shapes, dtypes and CRC32 of each leaf of `state`, in tree order (JSON-able)."""
    leaves = jax.tree.leaves(state)
    crcs = [zlib.crc32(np.ascontiguousarray(host_copy(x)).tobytes()) for x in leaves]
    return {"layout": _layout(state), "crc32": crcs}


def save(manager: ocp.CheckpointManager, step: int, state) -> None:
    """Saves `state` as checkpoint `step` (asynchronously), with its fingerprint.

    Raises:
      CheckpointError: too little free space for it (checked first, in a single-process run),
        or this save, or the previous one still in flight, failed (e.g. the disk filled).
    """
    if jax.process_count() == 1:  # Processes of a multi-host run could disagree: Orbax decides.
        _check_space(manager, step, state)
    try:
        manager.save(
            step,
            args=ocp.args.StandardSave(state),
            custom_metadata={_FINGERPRINT: fingerprint(state)},
        )
    except Exception as e:
        raise _save_failed(manager, e) from e


def wait(manager: ocp.CheckpointManager) -> None:
    """Waits for the save in flight; CheckpointError if it failed."""
    try:
        manager.wait_until_finished()
    except Exception as e:
        raise _save_failed(manager, e) from e


def _check_space(manager: ocp.CheckpointManager, step: int, state) -> None:
    """CheckpointError, before anything is written, if the file system of the checkpoints has
    less free space than the state's arrays take (plus 1 MiB of metadata)."""
    need = sum(np.dtype(x.dtype).itemsize * x.size for x in jax.tree.leaves(state)) + 2**20
    info = os.statvfs(str(manager.directory))
    free = info.f_bavail * info.f_frsize
    if free < need:
        raise CheckpointError(
            f"not enough space for checkpoint {step} in {manager.directory}: it needs about "
            f"{need / 2**20:.1f} MiB, {free / 2**20:.1f} MiB are free. The checkpoints saved "
            "before it are intact; free space and rerun the same command to resume."
        )


def _save_failed(manager: ocp.CheckpointManager, error: Exception) -> CheckpointError:
    # TensorStore reports a failed write (ENOSPC, EFBIG, EIO, ...) as os_error_code='N'.
    code = re.search(r"os_error_code='?(\d+)", str(error))
    if code:
        reason = f"{os.strerror(int(code.group(1)))} (os error {code.group(1)})"
    elif isinstance(error, OSError):
        reason = f"{error.strerror or error} (os error {error.errno})"
    else:
        reason = f"{type(error).__name__}: {_summary(error)}"
    return CheckpointError(
        f"cannot save a checkpoint in {manager.directory}: {reason}. The checkpoints saved "
        "before it are intact; free space (or fix the file system) and rerun the same command "
        "to resume."
    )


def _saved_fingerprint(manager: ocp.CheckpointManager, step: int) -> dict | None:
    try:
        return (manager.metadata(step).custom_metadata or {}).get(_FINGERPRINT)
    except Exception:  # Unreadable step metadata: the restore itself decides.
        return None


def _restore_step(manager: ocp.CheckpointManager, step: int, abstract):
    """Restores and verifies one checkpoint; raises on any problem."""
    saved = _saved_fingerprint(manager, step)
    if saved is not None and saved["layout"] != _layout(abstract):
        raise CheckpointError(
            f"checkpoint {step} in {manager.directory} was written by another model: it holds "
            f"arrays {_shapes(saved['layout'])}, this config builds {_shapes(_layout(abstract))}. "
            "Use a new --workdir, or the config that wrote it."
        )
    state = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    if saved is None:
        logging.warning(
            "Checkpoint %d in %s has no fingerprint; not verified.", step, manager.directory
        )
    elif fingerprint(state)["crc32"] != saved["crc32"]:
        raise ValueError("its arrays do not match the CRC32 recorded when it was saved")
    return state


def _shapes(layout: list[list]) -> str:
    return ", ".join(f"{d}{tuple(s)}" for s, d in layout if s)


def restore_latest(manager: ocp.CheckpointManager, template, *, quarantine: bool = False):
    """Restores the newest readable checkpoint into the structure/shardings of `template`.

    A checkpoint that cannot be read or fails its CRC32 check is skipped with a warning and
    the previous one is tried. With `quarantine` (the trainer, on JAX process 0) skipped ones
    are moved to `<workdir>/checkpoints_corrupt/` so that new saves can reuse their steps.

    Returns:
      the restored state, or None when there is no checkpoint.

    Raises:
      CheckpointError: a checkpoint of another model, or no readable checkpoint at all.
    """
    steps = sorted(manager.all_steps(), reverse=True)
    if not steps:
        return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    failures = []
    for step in steps:
        try:
            state = _restore_step(manager, step, abstract)
        except CheckpointError:
            raise
        except Exception as e:  # Orbax raises many types for unreadable files.
            reason = f"{type(e).__name__}: {_summary(e)}"
            logging.warning(
                "Checkpoint %d in %s is unreadable or corrupt (%s); trying the previous one.",
                step,
                manager.directory,
                reason,
            )
            failures.append((step, reason))
            continue
        if failures and quarantine:
            _quarantine(manager, [s for s, _ in failures])
        logging.info("Restored checkpoint at step %d from %s", step, manager.directory)
        return state
    raise CheckpointError(
        f"no readable checkpoint in {manager.directory}: "
        + "; ".join(f"step {s}: {r}" for s, r in failures)
        + ". Move the folder aside to start afresh, or restore it from a backup."
    )


def _summary(error: Exception) -> str:
    """The first line of an error message, without TensorStore's spec dump."""
    text = str(error).split("See full TensorStore details")[0].strip()
    return (text.splitlines() or [""])[0][:200]


def _quarantine(manager: ocp.CheckpointManager, steps: list[int]) -> None:
    """Moves checkpoints `steps` out of the manager's folder; nothing is deleted."""
    if jax.process_index() == 0:
        aside = os.path.join(os.path.dirname(str(manager.directory)), "checkpoints_corrupt")
        os.makedirs(aside, exist_ok=True)
        for step in steps:
            target = os.path.join(aside, str(step))
            n = 1
            while os.path.exists(target):
                target, n = os.path.join(aside, f"{step}.{n}"), n + 1
            os.replace(os.path.join(str(manager.directory), str(step)), target)
            logging.warning("Moved corrupt checkpoint %d to %s", step, target)
    parallel.barrier("quarantine")
    manager.reload()
