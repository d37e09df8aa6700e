"""Smoke runs of launch.reproduce (resumable) and launch.evaluate, checked against ldx.metrics."""

import json
import os

import ml_collections
import numpy as np
import pytest

from configs.grids import get_grid
from ldx import metrics
from ldx.data import DataConfig, build_dataset
from ldx.errors import CheckpointError, ConfigError
from ldx.eval.grid import Cell, Grid, _check_spec
from ldx.eval.scores import METRICS, EvalConfig, reference_sets
from tests.launch_test import run_app

CELLS = ("sines-gru-ld-s0", "sines-gru-psld-s0")
# launch.evaluate with the smoke grid's eval settings, so both score a run identically.
SMOKE_EVAL = get_grid("smoke").eval
EVAL_FLAGS = [f"--{k}={v}" for k, v in SMOKE_EVAL.items()] + ["--seed=0"]  # the grid's seed


def _read(path):
    with open(path) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory):
    """An output folder filled by `launch.reproduce --grid=smoke`."""
    out = str(tmp_path_factory.mktemp("grid") / "out")
    result = run_app("reproduce", "--grid=smoke", f"--output={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_reproduce_writes_results_and_tables(grid_dir):
    # Given the smoke grid; then results.json holds both cells with every metric for model
    # and floor, and results.md has a Table-1 row per method plus the floor and PSLD's rank.
    results = _read(os.path.join(grid_dir, "results.json"))
    assert [c["cell"] for c in results["cells"]] == list(CELLS)
    for cell in results["cells"]:
        assert cell["status"] == "ok" and cell["num_windows"] == 32
        assert set(cell["model"]) == set(cell["floor"]) == set(METRICS)
        assert len(cell["model"]["discriminative"]["values"]) == 2
    table = open(os.path.join(grid_dir, "results.md")).read()
    for row in ("| LD | gru |", "| PSLD (ours) | gru |", "real train vs real test", "Rank of PSLD"):
        assert row in table


def test_reproduce_skips_finished_cells_and_refuses_another_grid(grid_dir, tmp_path):
    # Given a finished grid; when the command runs again, then both cells are skipped and
    # their result files are untouched. A folder holding another grid's settings is refused.
    paths = [os.path.join(grid_dir, "cells", c + ".json") for c in CELLS]
    before = [os.path.getmtime(p) for p in paths]
    again = run_app("reproduce", "--grid=smoke", f"--output={grid_dir}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipped") == 2, again.stdout
    assert [os.path.getmtime(p) for p in paths] == before

    other = tmp_path / "other"
    other.mkdir()
    spec = _read(os.path.join(grid_dir, "grid.json"))
    spec["eval"]["repeats"] = 7
    (other / "grid.json").write_text(json.dumps(spec))
    refused = run_app("reproduce", "--grid=smoke", f"--output={other}")
    assert refused.returncode == 1 and "another grid" in refused.stderr, refused.stderr[-2000:]
    assert _read(other / "grid.json") == spec and not (other / "cells").exists()


def test_reproduce_runs_the_datasets_asked_for(grid_dir, tmp_path):
    # Given the finished smoke grid (sines only); then --datasets=sines visits its two cells, and
    # a dataset the grid lacks is refused in one line before anything is written.
    again = run_app("reproduce", "--grid=smoke", f"--output={grid_dir}", "--datasets=sines")
    assert again.returncode == 0 and again.stdout.count("skipped") == 2, again.stderr[-3000:]
    out = tmp_path / "new"
    refused = run_app("reproduce", "--grid=smoke", f"--output={out}", "--datasets=sines,energy")
    (line,) = refused.stderr.strip().splitlines()
    assert refused.returncode == 1 and "--datasets: energy not in grid 'smoke'" in line, line
    assert not out.exists()


def _one_cell_grid(objective: dict, defaults: dict | None = None) -> Grid:
    config = ml_collections.ConfigDict({"seed": 0, "objective": objective})
    defaults = ml_collections.ConfigDict(defaults) if defaults else None
    cell = Cell("sines", "gru", "psld", 0, config)
    return Grid("g", (cell,), ("psld",), ("gru",), ("sines",), EvalConfig(), defaults=defaults)


def test_resume_tolerates_a_field_absent_on_one_side_only_at_its_default(tmp_path):
    # Given grid.json written before objective.cs_bound existed (and holding a field removed
    # since); when the grid is resumed, then the new field at its default and the removed
    # one at its default pass, while a new field set off its default, a changed field, or a
    # removed field without a default is refused with an error naming the field.
    defaults = {"seed": 0, "objective": {"kl_weight": 1.0, "cs_bound": "marginal_step", "old": 3}}
    out = str(tmp_path / "out")
    _check_spec(out, _one_cell_grid({"kl_weight": 1.0, "old": 3}))  # writes grid.json
    _check_spec(out, _one_cell_grid({"kl_weight": 1.0, "cs_bound": "marginal_step"}, defaults))
    for objective, field in [
        ({"kl_weight": 1.0, "cs_bound": "marginal"}, "objective.cs_bound: saved absent"),
        ({"kl_weight": 2.0, "cs_bound": "marginal_step"}, "objective.kl_weight: saved 1.0"),
    ]:
        with pytest.raises(ConfigError, match=f"another grid.*sines-gru-psld-s0.{field}"):
            _check_spec(out, _one_cell_grid(objective, defaults))
    del defaults["objective"]["old"]
    with pytest.raises(ConfigError, match="objective.old: saved 3, now absent"):
        _check_spec(out, _one_cell_grid({"kl_weight": 1.0}, defaults))


def test_resume_drops_retired_fields_at_their_off_value(tmp_path):
    # Given grid.json written while objective.swap_weight existed (now retired); when resumed,
    # then the cell at swap_weight=0 passes and one that used it is refused, naming the field.
    out = str(tmp_path / "out")
    _check_spec(out, _one_cell_grid({"kl_weight": 1.0, "swap_weight": 0.0}))
    _check_spec(out, _one_cell_grid({"kl_weight": 1.0}))
    used = str(tmp_path / "used")
    _check_spec(used, _one_cell_grid({"kl_weight": 1.0, "swap_weight": 2.0}))
    with pytest.raises(CheckpointError, match="cell sines-gru-psld-s0 .*swap_weight=2.0"):
        _check_spec(used, _one_cell_grid({"kl_weight": 1.0}))


def test_evaluate_writes_metrics_that_match_a_recomputation(grid_dir):
    # Given a trained cell; when launch.evaluate scores it, then metrics.json agrees with the
    # grid's result for that cell, and its distances equal ldx.metrics recomputed on the saved
    # samples and the held-out reference windows; a second call does not overwrite it.
    workdir = os.path.join(grid_dir, "runs", CELLS[0])
    result = run_app("evaluate", f"--workdir={workdir}", *EVAL_FLAGS)
    assert result.returncode == 0, result.stderr[-3000:]
    out = os.path.join(workdir, "eval")
    for name in ("metrics.json", "report.md", "samples.npz", "samples.png", "pca.png", "tsne.png"):
        assert os.path.exists(os.path.join(out, name)), name
    got = _read(os.path.join(out, "metrics.json"))
    cell = _read(os.path.join(grid_dir, "cells", CELLS[0] + ".json"))
    assert got["model"] == cell["model"] and got["floor"] == cell["floor"]

    config = _read(os.path.join(workdir, "config.json"))
    data = build_dataset(DataConfig(**config["data"], seed=config["seed"]))
    real, train = reference_sets(data.train, data.test, SMOKE_EVAL["num_windows"], 0)
    with np.load(os.path.join(out, "samples.npz")) as f:
        fake, raw = f["samples_normalized"], f["samples"]
    np.testing.assert_allclose(raw, data.scaler.inverse_transform(fake), rtol=1e-5)
    assert got["model"]["wasserstein"] == pytest.approx(metrics.wasserstein(real, fake))
    assert got["model"]["mmd"] == pytest.approx(metrics.mmd(real, fake))
    assert got["floor"]["wasserstein"] == pytest.approx(metrics.wasserstein(real, train))
    assert "| Wasserstein-1 (exact OT) |" in open(os.path.join(out, "report.md")).read()

    before = os.path.getmtime(os.path.join(out, "metrics.json"))
    again = run_app("evaluate", f"--workdir={workdir}", *EVAL_FLAGS)
    assert again.returncode == 1 and "exists" in again.stderr
    assert os.path.getmtime(os.path.join(out, "metrics.json")) == before


def test_evaluate_rejects_a_non_workdir(tmp_path):
    # Given an empty folder; then launch.evaluate says it is not an ldx workdir, writes nothing.
    result = run_app("evaluate", f"--workdir={tmp_path}")
    assert result.returncode == 1 and "not an ldx workdir" in result.stderr
    assert not (tmp_path / "eval").exists()
