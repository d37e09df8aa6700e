"""Faults during training: non-finite batches, corrupt, half-written and foreign checkpoints."""

import glob
import logging
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from configs.default import get_config
from ldx.errors import CheckpointError, NonFiniteError
from ldx.experiment import build_experiment
from ldx.train import load_run, loop, train
from ldx.train.checkpoint import checkpoint_manager
from ldx.train.writer import read_metrics
from tests.conftest import CACHE_DIR, ROOT


def _config(**train):
    config = get_config("smoke")  # 6 steps, checkpoints at 3 and 6.
    config.train.sample_after = False
    config.train.update(train)
    return config


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """(workdir, final state, state at checkpoint 3) of an uninterrupted smoke run."""
    workdir = str(tmp_path_factory.mktemp("clean"))
    state = train(build_experiment(_config()), workdir)
    return workdir, state, _restore(workdir, 3, state)


def _restore(workdir, step, like):
    manager = checkpoint_manager(workdir, create=False)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    try:
        return manager.restore(step, args=ocp.args.StandardRestore(abstract))
    finally:
        manager.close()


def _assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _nan_from(first_bad_step):
    """A get_batch that returns NaNs from `first_bad_step` on (the loop's data seam)."""
    real = loop.get_batch

    def get_batch(data, batch_size, step, seed):
        batch = real(data, batch_size, step, seed)
        return batch * np.float32(np.nan) if step >= first_bad_step else batch

    return get_batch


def test_nan_batches_are_skipped_and_counted(clean, tmp_path, monkeypatch):
    # Given NaN batches at steps 4..6 (1-based) and max_bad_steps=4; then the three steps are
    # skipped and counted, checkpoint 6 holds params, EMA and optimiser state bit for bit
    # those after step 3 of the clean run, and, as training ended on them (fewer than
    # max_bad_steps, but no steps left to recover), it ends with NonFiniteError.
    _, _, at3 = clean
    monkeypatch.setattr(loop, "get_batch", _nan_from(3))
    workdir = str(tmp_path)
    with pytest.raises(
        NonFiniteError,
        match=r"training ended on 3 consecutive step\(s\) \(up to step 6\) .*max_bad_steps=4",
    ):
        train(build_experiment(_config(max_bad_steps=4, log_every=1)), workdir)
    state = _restore(workdir, 6, at3)
    assert (int(state.step), int(state.skipped), int(state.bad_steps)) == (6, 3, 3)
    _assert_same(
        (state.params, state.ema_params, state.opt_state),
        (at3.params, at3.ema_params, at3.opt_state),
    )
    assert [r["skipped"] for r in read_metrics(workdir)] == [0, 0, 0, 1, 2, 3]


def test_consecutive_nan_batches_stop_with_a_clear_message(clean, tmp_path):
    # Given launch.train whose batches are NaN from step 4 on and max_bad_steps=2; then it
    # exits 1 with one line naming the count and the setting, and the checkpoint of step 3
    # is intact (bitwise the clean run's) and the only one.
    _, _, at3 = clean
    workdir = str(tmp_path)
    program = (
        "import runpy, sys, tests.faults_test as t; from ldx.train import loop; "
        "loop.get_batch = t._nan_from(3); "
        "sys.argv = ['train', '--config=configs/default.py:smoke', '--workdir=' + sys.argv[1], "
        "'--config.train.max_bad_steps=2', '--config.train.sample_after=False']; "
        "runpy.run_module('launch.train', run_name='__main__')"
    )
    env = dict(os.environ, LDX_COMPILATION_CACHE=CACHE_DIR or "", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", program, workdir],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "2 consecutive steps (up to step 5) had a non-finite loss" in errors[0]
    assert "max_bad_steps=2" in errors[0]
    assert checkpoint_manager(workdir, create=False).all_steps() == [3]
    _assert_same(_restore(workdir, 3, at3), at3)


def _data_file(workdir, step):
    """The largest array file of checkpoint `step`: it holds the parameters."""
    files = glob.glob(
        os.path.join(workdir, "checkpoints", str(step), "**", "d", "*"), recursive=True
    )
    return max(files, key=os.path.getsize)


def _truncate(path):
    os.truncate(path, os.path.getsize(path) // 2)


def _flip_one_bit(path):
    # A flipped bit in the array data: Orbax reads it back without an error.
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)[0]
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte ^ 1]))


@pytest.mark.parametrize("corrupt", [_truncate, _flip_one_bit], ids=["truncated", "bit-flip"])
def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(clean, tmp_path, caplog, corrupt):
    # Given a finished run whose newest checkpoint (6) is corrupt; when the same run is
    # started again, then it warns, restores checkpoint 3, moves 6 aside (not deleted),
    # retrains steps 4..6 and ends bit for bit where the clean run ended.
    source, final, _ = clean
    workdir = str(tmp_path / "w")
    shutil.copytree(source, workdir)
    corrupt(_data_file(workdir, 6))
    with caplog.at_level(logging.WARNING):
        state = train(build_experiment(_config()), workdir)
    assert any(
        "Checkpoint 6" in r.getMessage() and "corrupt" in r.getMessage() for r in caplog.records
    )
    assert os.path.isdir(os.path.join(workdir, "checkpoints_corrupt", "6"))
    _assert_same(state, final)
    _assert_same(load_run(workdir).state, final)


def test_all_checkpoints_corrupt_is_an_error_and_moves_nothing(clean, tmp_path):
    # Given a workdir whose every checkpoint is truncated; then training stops with
    # CheckpointError naming each step, and every checkpoint stays where it was.
    source, _, _ = clean
    workdir = str(tmp_path / "w")
    shutil.copytree(source, workdir)
    for step in (3, 6):
        _truncate(_data_file(workdir, step))
    before = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
    with pytest.raises(CheckpointError, match=r"no readable checkpoint .*step 6: .*step 3: "):
        train(build_experiment(_config()), workdir)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == before
    assert not os.path.exists(os.path.join(workdir, "checkpoints_corrupt"))


def test_half_written_checkpoint_is_ignored_then_removed(clean, tmp_path):
    # Given a workdir with a leftover temporary folder of a save that never finished (what a
    # SIGKILL mid-save leaves); then readers ignore it (step 6 is restored, not 9) and the
    # next training run deletes it.
    source, final, _ = clean
    workdir = str(tmp_path / "w")
    shutil.copytree(source, workdir)
    checkpoints = os.path.join(workdir, "checkpoints")
    shutil.copytree(
        os.path.join(checkpoints, "6"), os.path.join(checkpoints, "9.orbax-checkpoint-tmp")
    )
    assert int(load_run(workdir).state.step) == 6
    state = train(build_experiment(_config()), workdir)
    _assert_same(state, final)
    assert sorted(os.listdir(checkpoints)) == ["3", "6"]


def test_checkpoints_of_another_model_are_refused(clean, tmp_path):
    # Given checkpoints copied from a width-16 run into a workdir without config.json; when a
    # width-32 run starts there, then CheckpointError names both shapes and nothing is
    # written: no config.json, the checkpoints unchanged.
    source, _, _ = clean
    workdir = str(tmp_path / "w")
    shutil.copytree(os.path.join(source, "checkpoints"), os.path.join(workdir, "checkpoints"))
    config = _config()
    config.model.width = 32
    with pytest.raises(
        CheckpointError, match=r"checkpoint 6 .* another model: .*float32\(10299,\)"
    ):
        train(build_experiment(config), workdir)
    assert sorted(os.listdir(workdir)) == ["checkpoints"]
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3", "6"]


def test_garbled_config_json_is_refused(clean, tmp_path):
    # Given a workdir whose config.json is not JSON; then training refuses it, naming the file.
    source, _, _ = clean
    workdir = str(tmp_path / "w")
    shutil.copytree(source, workdir)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write('{"seed": 0, "method": ')
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        train(build_experiment(_config()), workdir)
