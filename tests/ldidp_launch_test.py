"""launch.train on bad ldidp input. The smoke runs of every ldidp config through launch.train,
launch.sample and launch.evaluate are the README's commands, checked in tests/readme_test.py."""

import pytest

from configs import ldidp_spiral
from ldx.errors import ConfigError
from ldx.experiment import build_experiment
from tests.launch_test import run_app


def test_train_app_reports_bad_ldidp_input_in_one_line(tmp_path):
    # Given Poisson observations on min-max scaled spirals; then launch.train exits 1 with one
    # message naming the problem and the fix, and no traceback.
    result = run_app(
        "train",
        "--config=configs/ldidp_spiral.py:smoke",
        f"--workdir={tmp_path / 'w'}",
        "--config.model.observation=poisson",
    )
    assert result.returncode == 1
    assert "non-negative integer counts" in result.stderr, result.stderr[-2000:]
    assert "data.scale='none'" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("model.sigma", 0.9, "config.model.sigma"),
        ("sample.sampler", "euler", "config.sample.sampler"),
        ("train.stages", "two_stage", "config.train.stages"),
    ],
)
def test_build_experiment_rejects_bad_ldidp_values(field, value, message):
    # Given one bad value in the smoke config; then building the experiment raises a
    # ConfigError naming the field.
    config = ldidp_spiral.get_config("smoke")
    group, key = field.split(".")
    config[group][key] = value
    with pytest.raises(ConfigError, match=message):
        build_experiment(config)
