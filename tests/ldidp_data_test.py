"""Tests of the LDIDP data sources: spirals, Lorenz spikes, MC_Maze_Small, data.scale, splits."""

import os

import numpy as np
import pytest
import scipy.special

from ldx.data import DataConfig, build_dataset, dataset_available, split_indices, synthetic
from ldx.data.nlb import MC_MAZE_SMALL, load_nlb
from ldx.data.sources import data_dir_default
from ldx.errors import DataError
from tests.conftest import ROOT


def test_spirals_turn_both_ways_with_the_documented_noise():
    """Given spirals, then clockwise windows turn clockwise about (-5, 0), the others counter-
    clockwise about (5, 0), and observations minus latents have std noise_std."""
    x, y = synthetic.spirals(400, 30, seed=0, noise_std=0.3)
    assert x.shape == y.shape == (400, 30, 2)
    clockwise = np.random.default_rng(0).random(400) < 0.5  # the documented first draw
    centre = np.where(clockwise[:, None, None], [-5.0, 0.0], [5.0, 0.0])
    rel = y - centre  # [N, T, 2]
    cross = rel[:, :-1, 0] * rel[:, 1:, 1] - rel[:, :-1, 1] * rel[:, 1:, 0]  # [N, T - 1]
    assert np.all(cross[clockwise] < 0) and np.all(cross[~clockwise] > 0)
    noise = (x - y).ravel()
    assert abs(noise.std() - 0.3) < 0.01 and abs(noise.mean()) < 0.01
    with pytest.raises(DataError, match="seq_len"):
        synthetic.spirals(2, 300, seed=0)


@pytest.mark.parametrize("spike_model", ["poisson", "bernoulli"])
def test_lorenz_spikes_follow_the_documented_rates(spike_model):
    """Given Lorenz spikes, then counts are integers (0/1 for Bernoulli) whose per-neuron means
    agree with the documented rate formula within 5 standard errors."""
    n, t, d, seed, base = 300, 40, 6, 3, 0.3
    counts, latents = synthetic.lorenz_spikes(n, t, d, seed, spike_model=spike_model)
    np.testing.assert_allclose(latents.reshape(-1, 3).mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(latents.reshape(-1, 3).std(0), 1, atol=1e-4)
    weights = np.random.default_rng([seed, 1]).normal(size=(3, d)) * 0.6  # the documented draw
    drive = latents.astype(np.float64) @ weights
    if spike_model == "poisson":
        rate = base * np.exp(drive)
        var = rate
    else:
        rate = scipy.special.expit(np.log(base / (1 - base)) + drive)
        var = rate * (1 - rate)
        assert set(np.unique(counts)) <= {0.0, 1.0}
    np.testing.assert_array_equal(counts, np.round(counts))
    se = np.sqrt(var.sum((0, 1))) / (n * t)
    assert np.all(np.abs(counts.mean((0, 1)) - rate.mean((0, 1))) < 5 * se)


def test_lorenz_latents_follow_the_lorenz_vector_field():
    """Given standardised Lorenz latents y = (y_raw - m) / s, then their time derivative lies in
    the span of [1, y, y1 y2, y1 y3] (the Lorenz field is quadratic with exactly these terms):
    a least-squares fit of central differences leaves < 0.1% of their variance."""
    y = synthetic.lorenz(20, 60, seed=1, stride=1).astype(np.float64)  # dt = 0.01 per bin
    ys = y.reshape(-1, 3)
    deriv = np.gradient(y, 0.01, axis=1).reshape(-1, 3)  # [N T, 3]
    quad = np.stack([ys[:, 0] * ys[:, 1], ys[:, 0] * ys[:, 2]], 1)
    design = np.c_[np.ones(len(ys)), ys, quad]
    fit = np.linalg.lstsq(design, deriv, rcond=None)[0]
    resid = deriv - design @ fit
    assert (resid**2).sum() / ((deriv - deriv.mean(0)) ** 2).sum() < 1e-3


def test_scale_none_keeps_counts_and_split_indices_match_build_dataset():
    """Given data.scale=none, then the windows are the raw counts, and split_indices names the
    very windows build_dataset put in train and test."""
    cfg = DataConfig(name="spikes_poisson", seq_len=20, num_samples=30, dim=5, scale="none")
    ds = build_dataset(cfg)
    raw = synthetic.lorenz_spikes(30, 20, 5, 0)[0]
    train, test = split_indices(30, cfg)
    np.testing.assert_array_equal(ds.train, raw[train])
    np.testing.assert_array_equal(ds.test, raw[test])
    np.testing.assert_array_equal(ds.scaler.inverse_transform(ds.test), raw[test])
    with pytest.raises(DataError, match="data.scale"):
        DataConfig(scale="zscore")


def test_mc_maze_small_loads_held_in_first():
    """Given MC_Maze_Small, then spikes = [encoder_input, heldout_target] and 60/15 trials."""
    data_dir = os.path.join(ROOT, data_dir_default())
    if not dataset_available("mc_maze", data_dir):
        pytest.skip(f"MC_Maze_Small not found under {data_dir} (set LDX_DATA_DIR)")
    path = os.path.join(data_dir, MC_MAZE_SMALL)
    nlb = load_nlb(path)
    with np.load(path) as f:
        np.testing.assert_array_equal(nlb.spikes[..., :107], f["encoder_input"])
        np.testing.assert_array_equal(nlb.spikes[..., 107:], f["heldout_target"])
    assert nlb.num_heldin == 107 and nlb.behavior.shape == (75, 140, 2)
    ds = build_dataset(DataConfig(name="mc_maze", seq_len=140, data_dir=data_dir, scale="none"))
    assert ds.train.shape == (60, 140, 142) and ds.test.shape == (15, 140, 142)


def test_nlb_loader_names_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="mc_maze_small"):
        load_nlb(str(tmp_path / "nope.npz"))
