"""--config.<field>= overrides, --seed and --help_config of the launch apps that read a run."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from configs.default import get_config
from launch.common import config_comments
from ldx.batching import draw, make_generate_fn
from ldx.experiment import build_experiment
from ldx.train import load_run
from ldx.train.checkpoint import load_config
from tests.launch_test import SMOKE, run_app


def _leaves(config, prefix=""):
    for key, value in config.items():
        if hasattr(value, "items"):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _listing(folder):
    return sorted(
        (os.path.relpath(os.path.join(d, f), folder), os.path.getmtime(os.path.join(d, f)))
        for d, _, files in os.walk(folder)
        for f in files
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A workdir trained by `launch.train` on the smoke config."""
    path = str(tmp_path_factory.mktemp("run"))
    result = run_app("train", SMOKE, f"--workdir={path}")
    assert result.returncode == 0, result.stderr[-3000:]
    return path


def test_config_comments_of_a_file_and_its_base(tmp_path):
    # Given a base config file and one importing it; then each field's comment is the one ending
    # its line, else the comment lines right above it; the importing file's own comment wins,
    # and the order is the base's.
    (tmp_path / "base.py").write_text(
        "def get_config():\n"
        "    config.a = 1  # The a.\n"
        "    # Two lines\n"
        "    # about b.\n"
        "    config.b.c = 'x#y'\n"
        "    config.d = 2\n"
        "    config.a = 3  # a smoke value, not the definition\n"
    )
    (tmp_path / "child.py").write_text(
        "from configs import base\n"
        "def get_config():\n"
        "    config.e = 0  # Only here.\n"
        "    config.d = 5  # Now commented.\n"
        "    config.a = 4\n"
    )
    assert config_comments(str(tmp_path / "base.py")) == {
        "a": "The a.",
        "b.c": "Two lines about b.",
        "d": "",
    }
    got = config_comments(str(tmp_path / "child.py"))
    assert list(got.items()) == [
        ("a", "The a."),
        ("b.c", "Two lines about b."),
        ("d", "Now commented."),
        ("e", "Only here."),
    ]


def test_help_config_lists_every_field_with_its_default_and_comment():
    # Given launch.train --help_config (no --workdir, no --config); then it exits 0 and prints
    # one line per field of configs/default.py, with its default and a non-empty comment.
    result = run_app("train", "--help_config")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    fields = dict(_leaves(get_config()))
    assert len(lines) == 1 + len(fields)
    for field, value in fields.items():
        line = next(x for x in lines if x.startswith(f"  config.{field} = "))
        assert line.split(" = ", 1)[1].split("  # ")[0].strip() == repr(value), line
        assert line.split("  # ", 1)[1].strip(), line
    assert any("config.data.seq_len = 24" in x and "# Window length T." in x for x in lines)
    smoke = run_app("train", "--help_config", SMOKE)
    assert smoke.returncode == 0 and "config.train.num_steps = 6 " in smoke.stdout


def test_help_config_of_a_run_marks_what_the_app_may_change(workdir):
    # Given the smoke run; then each run reader's --help_config shows the run's values and
    # marks the config.sample fields (the only ones it may change) with *.
    for app in ("sample", "dependency"):  # evaluate shares the code path (common.run)
        result = run_app(app, f"--workdir={workdir}", "--help_config")
        assert result.returncode == 0, result.stderr[-3000:]
        lines = result.stdout.splitlines()
        assert any(x.startswith("* config.sample.num_samples = 8 ") for x in lines), app
        assert any(x.startswith("  config.model.width = 16 ") for x in lines), app
        assert sum(x.startswith("*") for x in lines) == len(get_config().sample)


def test_sample_with_overrides_and_seed_matches_the_library(workdir, tmp_path):
    # Given DDIM with 5 steps and seed 3 on the command line; then the samples equal the
    # library's draw with that config and key, and the .json beside them records both.
    out = str(tmp_path / "ddim.npz")
    args = ("--config.sample.sampler=ddim", "--config.sample.ddim_steps=5", "--seed=3")
    result = run_app("sample", f"--workdir={workdir}", "--num_samples=4", f"--output={out}", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(str(tmp_path / "ddim.json")) as f:
        record = json.load(f)
    assert record["seed"] == 3 and record["step"] == 6 and record["num_samples"] == 4
    assert record["overrides"] == {"sample.sampler": "ddim", "sample.ddim_steps": 5}
    assert record["sample"]["sampler"] == "ddim" and record["sample"]["ddim_steps"] == 5
    config = load_config(workdir)
    config.sample.sampler, config.sample.ddim_steps = "ddim", 5
    run = load_run(workdir, build_experiment(config))
    fn = make_generate_fn(run.model_fn, run.experiment.generate)
    expected = draw(fn, run.params(), jax.random.key(3), 4, run.experiment.draw.batch_size)
    with np.load(out) as f:
        np.testing.assert_allclose(f["samples_normalized"], expected, atol=1e-5)
        ddim = f["samples_normalized"]
    ancestral = str(tmp_path / "ddpm.npz")
    result = run_app(
        "sample",
        f"--workdir={workdir}",
        "--num_samples=4",
        f"--output={ancestral}",
        "--config.sample.sampler=ddpm",
        "--seed=3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(ancestral) as f:
        assert not np.allclose(f["samples_normalized"], ddim)


def test_default_seed_is_fresh_and_recorded(workdir):
    # Given two launch.sample calls without --seed or --output; then each writes
    # <workdir>/samples_seed<S>.npz with its own recorded seed, and neither repeats the samples
    # that training drew.
    seeds = []
    for _ in range(2):
        result = run_app("sample", f"--workdir={workdir}", "--num_samples=8")
        assert result.returncode == 0, result.stderr[-3000:]
        seeds.append(int(result.stdout.split("(seed ")[1].split(")")[0]))
    assert seeds[0] != seeds[1]
    with np.load(os.path.join(workdir, "samples.npz")) as f:
        trained = f["samples"]
    for seed in seeds:
        with open(os.path.join(workdir, f"samples_seed{seed}.json")) as f:
            assert json.load(f)["seed"] == seed
        with np.load(os.path.join(workdir, f"samples_seed{seed}.npz")) as f:
            assert not np.allclose(f["samples"], trained)


@pytest.mark.parametrize(
    "app, arg, message",
    [
        ("sample", "--config.model.width=3", "config.model.width is fixed by the trained run"),
        ("dependency", "--config.seed=1", "config.seed is fixed by the trained run"),
        ("sample", "--config.sample.nope=1", "no such field"),
        ("sample", "--config.sample.ddim_steps=ab", "invalid literal for int()"),
        ("evaluate", "--config.sample.sampler=bogus", "config.sample.sampler='bogus' is not one"),
        ("dependency", "--seed=-1", "--seed=-1 must be an integer >= 0"),
    ],
)
def test_bad_overrides_and_seeds_are_one_error_line(workdir, app, arg, message):
    # Given a bad override or seed; then the app prints one `error:` line naming it, exits 1
    # and changes nothing in the workdir.
    before = _listing(workdir)
    result = run_app(app, f"--workdir={workdir}", arg)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr, result.stderr
    assert _listing(workdir) == before


def test_evaluate_and_dependency_record_their_overrides(workdir):
    # Given an override and a seed; then launch.evaluate and launch.dependency run with them and
    # record both in settings.json beside their outputs.
    override = "--config.sample.decode_noise=false"
    quick = ("--num_windows=8", "--repeats=1", "--disc_iterations=1", "--pred_iterations=1")
    result = run_app(
        "evaluate", f"--workdir={workdir}", override, "--seed=5", "--nofigures", *quick
    )
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_app("dependency", f"--workdir={workdir}", override, "--seed=5", "--num_samples=2")
    assert result.returncode == 0, result.stderr[-3000:]
    for folder in ("eval", "dependency/model"):
        with open(os.path.join(workdir, folder, "settings.json")) as f:
            record = json.load(f)
        assert record["seed"] == 5 and record["overrides"] == {"sample.decode_noise": False}
        assert record["sample"]["decode_noise"] is False


def test_a_run_saved_with_a_retired_field_loads_only_at_its_off_value(workdir, tmp_path):
    # Given a copy of a run whose config.json holds the retired objective.swap_weight and
    # swap_negatives (removed from ldx) at their "off" values; then launch.sample loads it and
    # load_config drops both. At swap_weight=0.5 the app exits 1 with one line naming the
    # field, and writes nothing.
    run = tmp_path / "run"
    shutil.copytree(workdir, run)
    path = run / "config.json"
    spec = json.loads(path.read_text())
    spec["objective"].update(swap_weight=0.0, swap_negatives=1)
    path.write_text(json.dumps(spec))
    assert "swap_weight" not in load_config(str(run)).objective
    ok = run_app("sample", f"--workdir={run}", "--num_samples=2", f"--output={tmp_path}/a.npz")
    assert ok.returncode == 0, ok.stderr[-3000:]
    spec["objective"]["swap_weight"] = 0.5
    path.write_text(json.dumps(spec))
    bad = run_app("sample", f"--workdir={run}", "--num_samples=2", f"--output={tmp_path}/b.npz")
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 1 and "config.objective.swap_weight=0.5" in lines[-1], bad.stderr
    assert not (tmp_path / "b.npz").exists()
