"""Smoke runs of the launch apps as a user runs them, and their answers to bad input."""

import os
import subprocess
import sys

import numpy as np
import pytest

from configs.default import get_config
from ldx.data import DataConfig, build_dataset
from tests.conftest import CACHE_DIR, ROOT


def run_app(app: str, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Runs `python -m launch.<app> args...` from the repository root (after `prefix`, a
    command such as setpriv that runs the app)."""
    env = dict(os.environ, LDX_COMPILATION_CACHE=CACHE_DIR or "", JAX_PLATFORMS="cpu")
    return subprocess.run(
        [*prefix, sys.executable, "-m", f"launch.{app}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


SMOKE = "--config=configs/default.py:smoke"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A workdir trained by `launch.train` on the smoke config."""
    path = str(tmp_path_factory.mktemp("smoke"))
    result = run_app("train", SMOKE, f"--workdir={path}")
    assert result.returncode == 0, result.stderr[-3000:]
    return path


def test_train_writes_checkpoint_samples_and_plot(workdir):
    # Given the smoke run; then its workdir holds a checkpoint, metrics, a PNG and
    # samples whose original-unit values are the inverse scaling of the normalised ones.
    for name in ("config.json", "metrics.jsonl", "samples.png", "checkpoints"):
        assert os.path.exists(os.path.join(workdir, name)), name
    with np.load(os.path.join(workdir, "samples.npz")) as f:
        samples, normalized = f["samples"], f["samples_normalized"]
    assert samples.shape == normalized.shape == (8, 24, 5)
    config = get_config("smoke")
    scaler = build_dataset(DataConfig(**config.data, seed=config.seed)).scaler
    np.testing.assert_allclose(samples, scaler.inverse_transform(normalized), rtol=1e-5)
    assert np.isfinite(samples).all()


def test_sample_app_and_no_overwrite(workdir, tmp_path):
    # Given a trained workdir; when launch.sample writes 5 series, then the file has
    # them; a second call to the same path fails and leaves the file as it was.
    out = str(tmp_path / "s.npz")
    result = run_app("sample", f"--workdir={workdir}", "--num_samples=5", f"--output={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as f:
        first = f["samples"]
    assert first.shape == (5, 24, 5) and np.isfinite(first).all()
    before = os.path.getmtime(out)
    again = run_app("sample", f"--workdir={workdir}", "--num_samples=3", f"--output={out}")
    assert again.returncode != 0 and "exists" in again.stderr
    assert os.path.getmtime(out) == before


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d: ["--config.model.nonsense=1"], "nonsense"),
        (lambda d: ["--config.model.backbone=rnn"], "config.model.backbone='rnn'"),
        (lambda d: ["--config.method=vae"], "config.method='vae'"),
        (lambda d: ["--config.data.name=csv"], "path"),
        (lambda d: ["--config.data.name=csv", "--config.data.path=/no/such.csv"], "/no/such.csv"),
        (
            lambda d: [
                "--config.data.name=csv",
                "--config.data.path=" + _write(d / "short.csv", "a,b\n1,2\n3,4\n"),
            ],
            "shorter than the window",
        ),
        (
            lambda d: [
                "--config.data.name=csv",
                "--config.data.path=" + _write(d / "nan.csv", "a,b\n" + "1,2\n" * 30 + "nan,4\n"),
            ],
            "NaN",
        ),
        (
            lambda d: [
                "--config.data.name=csv",
                "--config.data.path="
                + _write(d / "text.csv", "a,b\n" + "1,2\n" * 30 + "1,hello\n"),
            ],
            "hello",
        ),
        (
            lambda d: ["--config.model.latent_dim=6", "--config.model.unet_channels=(8,16,32)"],
            "latent_dim=6",
        ),
        (lambda d: ["--config.train.stages=three"], "config.train.stages"),
        (lambda d: ["--config.sample.sampler=euler"], "config.sample.sampler"),
    ],
)
def test_train_rejects_bad_input(tmp_path, make_args, message):
    # Given a bad config value or data file; then launch.train exits 1 with one clear
    # message naming the problem, before writing anything into the workdir.
    workdir = tmp_path / "w"
    result = run_app("train", SMOKE, f"--workdir={workdir}", *make_args(tmp_path))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert not os.path.exists(workdir / "checkpoints")


def test_sample_rejects_a_non_workdir(tmp_path):
    # Given an empty folder; then launch.sample says it is not an ldx workdir.
    result = run_app("sample", f"--workdir={tmp_path}", f"--output={tmp_path / 'x.npz'}")
    assert result.returncode == 1 and "not an ldx workdir" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config=configs/nope.py"], "cannot load --config=configs/nope.py: [Errno 2] No such"),
        (["--config=configs/default.py:bogus"], "Unknown config argument 'bogus'"),
        (["--config=configs/best.py:nope"], "Unknown config argument 'nope'; expected one of"),
        ([SMOKE, "--num_step=3"], "num_step"),
        ([SMOKE, "--config.train.batch_size=ab"], "--config.train.batch_size=ab"),
        ([SMOKE, "--config.sample.num_samples=0"], "config.sample.num_samples=0 must be >= 1"),
        ([SMOKE, "--config.train.warmup_steps=7"], "warmup_steps=7 must be in [0, num_steps=6]"),
        ([SMOKE, "--num_processes=2", "--process_id=3"], "process_id=3 must be in [0, num_proc"),
    ],
)
def test_train_rejects_bad_flags(tmp_path, args, message):
    # Given a bad flag or config file; then launch.train prints one `error:` line naming it,
    # exits 1 and creates no workdir.
    workdir = tmp_path / "w"
    result = run_app("train", *args, f"--workdir={workdir}")
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert not workdir.exists()


def test_train_requires_a_workdir():
    result = run_app("train", SMOKE)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: flag --workdir=None: Flag --workdir must have a value other than None."
    )


def test_sample_output_must_be_npz(workdir, tmp_path):
    out = tmp_path / "s.txt"
    result = run_app("sample", f"--workdir={workdir}", f"--output={out}")
    assert result.returncode == 1 and "must end in .npz" in result.stderr
    assert not out.exists()


def test_complete_app_keeps_observed_values_and_refuses_another_width(workdir, tmp_path):
    # Given a smoke run (D = 5) and windows with NaN where unknown (float64); when
    # launch.complete fills them, then the observed values come back bit for bit and the
    # unknown ones are finite. Given windows of 3 features, it says so in one line and writes
    # nothing.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, (3, 24, 5))
    x[:, 16:] = np.nan  # forecast the last 8 steps
    x[1, :, 2] = np.nan  # and a missing feature
    path, out = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(path, x=x)
    args = (f"--workdir={workdir}", f"--input={path}", f"--output={out}", "--seed=0")
    result = run_app("complete", *args, "--num_completions=4", "--num_particles=8")
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as f:
        samples = f["samples"]
    assert samples.shape == (3, 4, 24, 5) and samples.dtype == np.float64
    seen = np.broadcast_to(~np.isnan(x)[:, None], samples.shape)
    assert (samples[seen] == np.broadcast_to(x[:, None], samples.shape)[seen]).all()
    assert np.isfinite(samples).all()
    np.savez(path, x=x[..., :3])
    other = tmp_path / "other.npz"
    result = run_app("complete", *args[:2], f"--output={other}")
    assert result.returncode == 1 and not other.exists()
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "expected [N, 24, 5]" in line, line


def _train_on_copies(tmp_path, *overrides):
    """Trains the smoke job on a CSV whose column c copies a and whose d = 2a - b + 1; returns
    the workdir, the series a and b, and a check that windows [..., 4] in data units tie."""
    rng = np.random.default_rng(0)
    a, b = np.cumsum(rng.normal(size=(2, 300)), axis=1)
    rows = "".join(f"{u:.17g},{v:.17g},{u:.17g},{2 * u - v + 1:.17g}\n" for u, v in zip(a, b))
    csv = tmp_path / "dup.csv"
    csv.write_text("a,b,c,d\n" + rows)
    work = tmp_path / "run"
    data = ("--config.data.name=csv", f"--config.data.path={csv}", *overrides)
    result = run_app("train", SMOKE, *data, f"--workdir={work}")
    assert result.returncode == 0, result.stderr[-3000:]

    def assert_tied(x):
        span = np.ptp(np.concatenate([a, b]))
        np.testing.assert_allclose(x[..., 2], x[..., 0], atol=1e-5 * span)
        np.testing.assert_allclose(x[..., 3], 2 * x[..., 0] - x[..., 1] + 1, atol=1e-5 * span)

    return work, a, b, assert_tied


def test_copied_columns_are_tied_in_the_samples_of_a_model_of_every_column(tmp_path):
    # Given the copies CSV and the default config (the model draws all four columns); then its
    # samples tie c = a and d = 2a - b + 1 (sample.tie_dependent), and with the tie off they
    # do not.
    work, _, _, assert_tied = _train_on_copies(tmp_path)
    with np.load(work / "samples.npz") as f:
        assert f["samples"].shape == (8, 24, 4)
        assert_tied(f["samples"])
    out = tmp_path / "untied.npz"
    off = "--config.sample.tie_dependent=False"
    result = run_app("sample", f"--workdir={work}", off, "--num_samples=8", f"--output={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as f, pytest.raises(AssertionError):
        assert_tied(f["samples"])


def test_a_copied_column_is_drawn_and_completed_as_a_copy(tmp_path):
    # Given the copies CSV; when the smoke job trains on it with data.drop_dependent, then its
    # samples hold all four columns with c = a and d = 2a - b + 1 (the model draws a and b
    # only). So do launch.complete's completions of windows that observe only b's first 12
    # steps, and observed values come back as given.
    work, a, b, assert_tied = _train_on_copies(tmp_path, "--config.data.drop_dependent=True")
    with np.load(work / "samples.npz") as f:
        assert f["samples"].shape == f["samples_normalized"].shape == (8, 24, 4)
        assert_tied(f["samples"])
    x = np.column_stack([a, b, a, 2 * a - b + 1])[:48].reshape(2, 24, 4)
    x[..., [0, 2, 3]] = np.nan
    x[:, 12:, 1] = np.nan
    np.savez(tmp_path / "in.npz", x=x)
    out = tmp_path / "out.npz"
    args = (f"--workdir={work}", f"--input={tmp_path / 'in.npz'}", f"--output={out}")
    result = run_app("complete", *args, "--num_completions=2", "--num_particles=4")
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as f:
        samples = f["samples"]  # [2, 2, 24, 4]
    assert samples.shape == (2, 2, 24, 4) and np.isfinite(samples).all()
    np.testing.assert_array_equal(
        samples[:, :, :12, 1], np.broadcast_to(x[:, None, :12, 1], (2, 2, 12))
    )
    assert_tied(samples[:, :, 12:])
    np.testing.assert_allclose(samples[..., 2], samples[..., 0], atol=1e-5 * np.ptp(a))
