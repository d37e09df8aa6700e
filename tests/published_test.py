"""Tests of ldx.eval.published (Diffusion-TS's protocol) and launch.evaluate's diffusion_ts."""

import json
import os

import numpy as np
import pytest

from configs.grids import get_grid
from ldx import metrics
from ldx.data import DataConfig, load_source, make_windows
from ldx.eval import published
from tests.evaluation_test import CELLS, grid_dir  # noqa: F401  (the trained smoke grid)
from tests.launch_test import run_app


def test_summary_interval_is_students_t_half_width():
    # Given 5 values; then the half-width is t_{0.975, 4} = 2.776 (the t-table) times the SEM.
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    sem = np.std(values, ddof=1) / np.sqrt(5)
    assert published.summary(values)["interval"] == pytest.approx(2.7764 * sem, rel=1e-4)
    assert published.summary([0.3]) == {"mean": 0.3, "interval": 0.0, "values": [0.3]}


def test_sines_are_not_rescaled_and_real_data_use_the_whole_series(tmp_path):
    # Given Sines; then the published windows are the generator's values, every window.
    cfg = DataConfig(name="sines", num_samples=50, dim=3)
    windows, scaler = published.published_windows(cfg)
    raw = load_source("sines", num_samples=50, dim=3, seq_len=24, seed=0)
    np.testing.assert_array_equal(windows, raw.astype(np.float32))
    # Given a CSV; then every stride-1 window, min-max scaled with the whole series' range.
    series = np.random.default_rng(0).normal(size=(40, 2)) * [1.0, 100.0] + [0.0, 5.0]
    path = tmp_path / "x.csv"
    np.savetxt(path, series, delimiter=",", header="a,b", comments="")
    windows, scaler = published.published_windows(DataConfig(name="csv", path=str(path)))
    want = (series - series.min(0)) / (series.max(0) - series.min(0))
    np.testing.assert_allclose(windows, make_windows(want, 24), atol=1e-6)
    assert windows.shape == (40 - 24 + 1, 24, 2)


def test_reference_cap_draws_distinct_windows():
    cfg = DataConfig(name="sines", num_samples=60, dim=2)
    real, _ = published.reference(cfg, published.PublishedConfig(num_windows=20))
    every, _ = published.published_windows(cfg)
    assert len(real) == 20 and len(np.unique(real[:, 0, 0])) == 20
    assert all((every == w).all(axis=(1, 2)).any() for w in real)


def test_correlational_subsets_separate_correlated_from_independent_features():
    # Given windows whose two features are equal, and fake ones whose features are independent;
    # then each subset's score is near 0 for real vs real and near |1 - 0| / 10 * 1 pair for fake.
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2000, 24, 1))
    real = np.concatenate([a, a], axis=-1)
    fake = rng.normal(size=(2000, 24, 2))
    same = published.correlational_subsets(real, real[::-1].copy(), 5, 0)
    diff = published.correlational_subsets(real, fake, 5, 0)
    assert len(same) == len(diff) == 5
    assert max(same) < 0.01 and min(diff) > 0.09
    # Where the true difference is large, sampling noise barely biases the subset scores: their
    # mean is the full-set score.
    full = metrics.correlational_score(real, fake)
    assert np.mean(diff) == pytest.approx(full, abs=0.01)


def test_evaluate_published_protocol_app(grid_dir):  # noqa: F811
    # Given a trained smoke cell; when scored under the published protocol, then
    # eval_diffusion_ts/ holds every metric with 95% intervals, the Original floor, and samples
    # for every reference window, and its report lists what tells the windows apart; the
    # held-out eval/ folder is not touched. With the smoke
    # grid's published settings, the scores equal those the grid stored for the cell.
    workdir = os.path.join(grid_dir, "runs", CELLS[0])
    settings = get_grid("smoke").published
    flags = ["--protocol=diffusion_ts", "--seed=0"]  # the grid's seed
    flags += [f"--{k}={v}" for k, v in settings.items()]
    result = run_app("evaluate", f"--workdir={workdir}", *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    out = os.path.join(workdir, "eval_diffusion_ts")
    with open(os.path.join(out, "metrics.json")) as f:
        got = json.load(f)
    assert got["protocol"] == "diffusion_ts" and got["num_windows"] == 40
    assert set(got["model"]) == {"discriminative", "predictive", "correlational", "context_fid"}
    for entry in got["model"].values():
        assert entry["interval"] >= 0 and len(entry["values"]) in (2, 5)
    assert set(got["floor"]) == {"predictive"}
    with np.load(os.path.join(out, "samples.npz")) as f:
        assert f["samples_normalized"].shape[0] == 40
    report = open(os.path.join(out, "report.md")).read()
    assert "original (real vs real)" in report and "What tells the windows apart" in report
    scores = [t["score"] for t in got["tells"]]  # the five most telling statistics, first first
    assert len(scores) == 5 and scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= 0.5
    with open(os.path.join(grid_dir, "cells", CELLS[0] + ".json")) as f:
        cell = json.load(f)["published"]
    assert cell["model"] == got["model"] and cell["floor"] == got["floor"]


def test_grid_scores_every_cell_under_both_protocols(grid_dir):  # noqa: F811
    # Given the smoke grid (published settings set); then every cell holds published scores
    # with the one cached Original row, and results.md has the published tables with PSLD's
    # rank by the discriminative score and Context-FID.
    cells = [json.load(open(os.path.join(grid_dir, "cells", c + ".json"))) for c in CELLS]
    stored = json.load(open(os.path.join(grid_dir, "floors", "sines-s0-published.json")))
    for cell in cells:
        assert cell["published"]["num_windows"] == 40 and cell["published"]["floor"] == stored
        assert set(cell["published"]["model"]) == {
            "discriminative",
            "predictive",
            "correlational",
            "context_fid",
        }
        assert cell["published_seconds"] > 0
    assert cells[0]["published"]["model"] != cells[1]["published"]["model"]
    table = open(os.path.join(grid_dir, "results.md")).read()
    published = table[table.index("## Under the published") :]
    for row in ("### Context-FID", "| PSLD (ours) | gru |", "| original (real vs real) | - |"):
        assert row in published
    assert published.count("| original (real vs real) |") == 1  # predictive only
    assert "| gru | context_fid |" in published
