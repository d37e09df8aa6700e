"""Smoke runs of every ldidp config through launch.train, launch.sample and launch.ldidp_eval."""

import json
import os

import numpy as np
import pytest

from ldx.data import dataset_available
from ldx.data.sources import data_dir_default
from tests.conftest import ROOT
from tests.launch_test import run_app

CONFIGS = {  # config -> (T, D) of its smoke data
    "ldidp_spiral": (50, 2),
    "ldidp_spikes": (50, 40),
    "ldidp_mc_maze": (140, 142),
}


def _has_mc_maze() -> bool:
    return dataset_available("mc_maze", os.path.join(ROOT, data_dir_default()))


def _train(name: str, workdir: str, *extra: str):
    return run_app("train", f"--config=configs/{name}.py:smoke", f"--workdir={workdir}", *extra)


@pytest.fixture(scope="module")
def spiral_workdir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ldidp_spiral"))
    result = _train("ldidp_spiral", path)
    assert result.returncode == 0, result.stderr[-3000:]
    return path


@pytest.mark.parametrize("name", ["ldidp_spikes", "ldidp_mc_maze"])
def test_spike_configs_train_and_sample_counts(name, tmp_path):
    # Given a spike config's smoke variant; when launch.train runs it, then it exits 0 and its
    # samples are finite non-negative integer counts of the data's shape.
    if name == "ldidp_mc_maze" and not _has_mc_maze():
        pytest.skip(f"MC_Maze_Small not found under {data_dir_default()} (set LDX_DATA_DIR)")
    result = _train(name, str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(tmp_path / "samples.npz") as f:
        samples = f["samples"]
    assert samples.shape == (6, *CONFIGS[name])
    assert np.isfinite(samples).all() and samples.min() >= 0
    np.testing.assert_array_equal(samples, np.round(samples))


def test_spiral_trains_samples_and_evaluates(spiral_workdir, tmp_path):
    # Given the spiral smoke run; then launch.sample draws windows and launch.ldidp_eval
    # writes finite latent-recovery and sample numbers and both figures' PNG.
    with np.load(os.path.join(spiral_workdir, "samples.npz")) as f:
        assert f["samples"].shape == (6, *CONFIGS["ldidp_spiral"])
    out = str(tmp_path / "s.npz")
    result = run_app("sample", f"--workdir={spiral_workdir}", "--num_samples=3", f"--output={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as f:
        assert f["samples"].shape == (3, 50, 2) and np.isfinite(f["samples"]).all()
    report = str(tmp_path / "eval.json")
    result = run_app(
        "ldidp_eval",
        f"--workdir={spiral_workdir}",
        "--num_samples=8",
        f"--output={report}",
        f"--figures_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(report) as f:
        numbers = json.load(f)
    for key in ("latent_corr", "latent_mse", "test_elbo", "mmd", "mmd_real"):
        assert np.isfinite(numbers[key]), key
    assert -1 <= numbers["latent_corr"] <= 1 and numbers["mmd"] >= 0
    assert os.path.getsize(tmp_path / "latents.png") > 1000


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--config.model.observation=poisson"], "non-negative integer counts"),
        (["--config.model.sigma=0.9"], "config.model.sigma"),
        (["--config.model.nonsense=1"], "nonsense"),
        (["--config.sample.sampler=euler"], "config.sample.sampler"),
    ],
)
def test_ldidp_rejects_bad_input(tmp_path, extra, message):
    # Given a bad ldidp config value; then launch.train exits 1 with one message naming it.
    result = _train("ldidp_spiral", str(tmp_path / "w"), *extra)
    assert result.returncode == 1
    assert message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
