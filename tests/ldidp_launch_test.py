"""Smoke runs of every ldidp config through launch.train, launch.sample and launch.evaluate."""

import json
import os

import numpy as np
import pytest

from configs import ldidp_spiral
from ldx.data import dataset_available
from ldx.data.sources import data_dir_default
from ldx.errors import ConfigError
from ldx.experiment import build_experiment
from tests.conftest import ROOT
from tests.launch_test import run_app

CONFIGS = {  # config -> (T, D) of its smoke data, and the numbers launch.evaluate must write
    "ldidp_spiral": (
        (50, 2),
        ("latent_corr", "latent_mse", "latent_corr_within", "latent_first_ratio"),
    ),
    "ldidp_spikes": ((50, 40), ("latent_corr", "rate_corr", "rate_mae")),
    "ldidp_mc_maze": ((140, 142), ("co_bps", "baseline_co_bps", "vel_r2", "baseline_vel_r2")),
}


def _has_mc_maze() -> bool:
    return dataset_available("mc_maze", os.path.join(ROOT, data_dir_default()))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_config_trains_samples_and_evaluates(name, tmp_path):
    # Given a config's smoke variant; when launch.train and launch.evaluate run on it (and
    # launch.sample, once: it is the same code for every config), then each exits 0, samples
    # have the data's shape (non-negative integer counts for spike data), and eval/ holds
    # finite numbers, the report and the figures.
    if name == "ldidp_mc_maze" and not _has_mc_maze():
        pytest.skip(f"MC_Maze_Small not found under {data_dir_default()} (set LDX_DATA_DIR)")
    shape, keys = CONFIGS[name]
    workdir = str(tmp_path / "w")
    result = run_app("train", f"--config=configs/{name}.py:smoke", f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr[-3000:]
    out = os.path.join(workdir, "samples.npz")  # written by launch.train
    if name == "ldidp_spiral":
        out = str(tmp_path / "s.npz")
        result = run_app("sample", f"--workdir={workdir}", "--num_samples=6", f"--output={out}")
        assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as f:
        samples = f["samples"]
    assert samples.shape == (6, *shape) and np.isfinite(samples).all()
    if name != "ldidp_spiral":
        assert samples.min() >= 0
        np.testing.assert_array_equal(samples, np.round(samples))

    result = run_app("evaluate", f"--workdir={workdir}", "--num_windows=8")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(workdir, "eval", "metrics.json")) as f:
        numbers = json.load(f)
    assert numbers["method"] == "ldidp" and numbers["train_steps"] == 4
    for key in ("test_elbo", "mmd", "mmd_real", *keys):
        assert np.isfinite(numbers[key]), key
    assert numbers["mmd"] >= 0
    figure = "latents.png" if name == "ldidp_spiral" else "raster.png"
    assert os.path.getsize(os.path.join(workdir, "eval", figure)) > 1000
    with open(os.path.join(workdir, "eval", "report.md")) as f:
        assert f"({figure})" in f.read()
    with np.load(os.path.join(workdir, "eval", "samples.npz")) as f:
        assert f["samples"].shape == (8, *shape)


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
