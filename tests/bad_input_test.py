"""Bad input caught by the library before anything is written (see the README's table).

Each raises an LdxError subclass, which every launch app prints as one `error: ...` line
with exit status 1 (tests/launch_test.py checks that path end to end).
"""

import os

import pytest

from configs.default import get_config
from launch import common
from ldx.errors import CheckpointError, ConfigError, DataError
from ldx.experiment import build_experiment
from ldx.train import parallel, train


def _smoke(**fields):
    config = get_config("smoke")
    for key, value in fields.items():
        section, field = key.split("__")
        config[section][field] = value
    return config


@pytest.mark.parametrize(
    "fields, error, message",
    [
        ({"train__num_steps": 0}, ConfigError, r"config.train.num_steps=0 must be >= 1"),
        ({"train__max_bad_steps": 0}, ConfigError, r"config.train.max_bad_steps=0 must be >= 1"),
        ({"train__lr_schedule": "step"}, ConfigError, r"lr_schedule='step' is not one of"),
        ({"train__learning_rate": -1.0}, ConfigError, r"learning_rate=-1.0 must be > 0"),
        ({"train__ema_decay": 1.5}, ConfigError, r"ema_decay=1.5 must be in \[0, 1\]"),
        ({"model__logvar_min": 5.0}, ConfigError, r"logvar_min=5.0 must be < logvar_max=2.0"),
        (
            {"sample__ddim_steps": 101},
            ConfigError,
            r"sample.ddim_steps=101 must be at most config.diffusion.num_steps=100",
        ),
        ({"data__train_fraction": 1.5}, DataError, r"train_fraction=1.5, expected a value in"),
        ({"data__seq_len": 1}, DataError, r"data.seq_len=1, expected an integer >= 2"),
    ],
)
def test_bad_config_values_write_nothing(tmp_path, fields, error, message):
    # Given an out-of-range config value; then train() names it and creates no workdir.
    workdir = tmp_path / "w"
    with pytest.raises(error, match=message):
        train(build_experiment(_smoke(**fields)), str(workdir))
    assert not workdir.exists()


def test_negative_seed_is_refused(tmp_path):
    config = _smoke()
    config.seed = -1
    with pytest.raises(ConfigError, match=r"config.seed=-1 must be an integer >= 0"):
        train(build_experiment(config), str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_workdir_that_is_a_file_is_refused(tmp_path):
    # Given --workdir naming a file, or a folder below a file; then CheckpointError says so
    # and the file is untouched.
    path = tmp_path / "file"
    path.write_text("keep me")
    with pytest.raises(CheckpointError, match=r"is a file, expected a directory"):
        train(build_experiment(_smoke()), str(path))
    with pytest.raises(CheckpointError, match=r"cannot create --workdir=.*file/sub"):
        train(build_experiment(_smoke()), str(path / "sub"))
    assert path.read_text() == "keep me"


@pytest.mark.parametrize(
    "args, message",
    [
        (("localhost", 2, 0), r"coordinator_address='localhost' is not host:port"),
        (("10.0.0.1:1234", 0, 0), r"num_processes=0 must be >= 1"),
        (("10.0.0.1:1234", 2, 2), r"process_id=2 must be in \[0, num_processes=2\)"),
        (("10.0.0.1:1234", 2, -1), r"process_id=-1 must be in \[0, num_processes=2\)"),
    ],
)
def test_bad_multihost_settings(args, message):
    # Given malformed multi-host settings; then ConfigError names them before JAX's
    # runtime is started (which would otherwise wait for peers that never come).
    with pytest.raises(ConfigError, match=message):
        parallel.initialize_distributed(*args)


def test_bad_multihost_environment(monkeypatch):
    monkeypatch.setenv("JAX_NUM_PROCESSES", "two")
    with pytest.raises(ConfigError, match=r"JAX_NUM_PROCESSES='two' is not an integer"):
        common.env_int("JAX_NUM_PROCESSES")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    assert common.env_int("JAX_NUM_PROCESSES") == 4
    monkeypatch.delenv("JAX_NUM_PROCESSES")
    assert common.env_int("JAX_NUM_PROCESSES") is None


def test_one_line_messages():
    # A message with an embedded traceback (ml_collections wraps config-file errors so)
    # becomes its first line and the error itself.
    wrapped = (
        "flag --config=x.py:bad: Error whilst parsing config file:\n\nTraceback (most recent "
        'call last):\n  File "x.py", line 3\nValueError: Unknown config argument'
    )
    assert common._one_line(wrapped) == (
        "flag --config=x.py:bad: Error whilst parsing config file: ValueError: Unknown config "
        "argument"
    )
    assert common._one_line("a\nb") == "a b"
    assert os.linesep not in common._one_line("x\r\ny")
