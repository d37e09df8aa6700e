"""Reliability (issue 16), met by running the apps as a user would: bad data files, runs that
diverge or generate NaN, finished runs, unwritable outputs, full disks and requests that cannot
fit in memory. Each ends with exit status 1, one `error:` line and no traceback, and every file
present before is unchanged (or, for a finished run, is left alone: exit 0).
"""

import os
import shutil
import stat
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from ldx.dependency.report import memory_estimate
from tests.conftest import CACHE_DIR, ROOT
from tests.data_test import _directory, _empty_file, _latin1_csv, _npz_named_npy
from tests.launch_test import SMOKE, run_app


def _snapshot(root) -> dict[str, tuple]:
    """{path: (type, size, mtime)} of everything below `root`: any write, new file or removal
    below it changes the snapshot."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            out[os.path.relpath(path, root)] = (
                stat.S_IFMT(info.st_mode),
                info.st_size,
                info.st_mtime_ns,
            )
    return out


def _refused(result: subprocess.CompletedProcess, message: str) -> str:
    """The one `error:` line of a run that exited 1 without a traceback; it holds `message`."""
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return errors[0]


def _run_patched(app: str, patch: str, *args: str) -> subprocess.CompletedProcess:
    """Runs launch.<app> with `args` after the Python statements `patch` (a fault injected)."""
    program = (
        f"import runpy, sys\n{patch}\n"
        f"sys.argv = ['{app}', *sys.argv[1:]]\n"
        f"runpy.run_module('launch.{app}', run_name='__main__')\n"
    )
    env = dict(os.environ, LDX_COMPILATION_CACHE=CACHE_DIR or "", JAX_PLATFORMS="cpu")
    return subprocess.run(
        [sys.executable, "-c", program, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _unprivileged() -> tuple[str, ...]:
    """A command prefix that runs a process without the power to ignore file permissions."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("root reads and writes anything, and setpriv is missing to drop that")
    return ("setpriv", "--inh-caps=-all", "--bounding-set=-all")


# ---- data files (ldx/data/sources.py: `_read`, `_as_float32`) ----


def _csv_1e39(d):
    (d / "x.csv").write_text("a,b\n" + "1,2\n" * 30 + "3,1e39\n")
    return "csv", d / "x.csv"


def _npy_1e300(d):
    x = np.ones((30, 2))  # float64
    x[20, 1] = 1e300
    np.save(d / "x.npy", x)
    return "npy", d / "x.npy"


def _npy_of_shape(shape):
    def make(d):
        np.save(d / "x.npy", np.zeros(shape, np.float32))
        return "npy", d / "x.npy"

    return make


def _unreadable(d):
    np.save(d / "x.npy", np.zeros((30, 2), np.float32))
    os.chmod(d / "x.npy", 0)
    return "npy", d / "x.npy"


@pytest.mark.parametrize(
    "make, message",
    [
        (_csv_1e39, "x.csv: value 1e+39 at row 32, column 'b' overflows float32"),
        (_npy_1e300, "x.npy: value 1e+300 at index (20, 1) (column 1) overflows float32"),
        (_npz_named_npy, "x.npy: an .npz archive of arrays ['x'], expected a .npy array"),
        (_empty_file, "x.npy: empty NPY file (0 bytes), expected a .npy array"),
        (_npy_of_shape((200, 0)), "x.npy: array of shape (200, 0) holds no values"),
        (_npy_of_shape((200,)), "x.npy: array of shape (200,) (rank 1), expected a .npy array"),
        (_latin1_csv, "x.csv: byte b'\\xe9' at offset 4 is not UTF-8"),
        (_directory, "x.csv' is a directory, expected a file"),
        (_unreadable, "cannot read NPY file"),
    ],
    ids=["csv-1e39", "npy-1e300", "npz", "0-byte", "200x0", "rank-1", "latin-1", "dir", "perm"],
)
def test_bad_data_file_is_one_error_line(tmp_path, make, message):
    # Given a data file that cannot be trained on; then launch.train names the file and what
    # was expected in one line, and creates and changes nothing.
    kind, path = make(tmp_path)
    prefix = _unprivileged() if make is _unreadable else ()
    before = _snapshot(tmp_path)
    result = run_app(
        "train",
        SMOKE,
        f"--workdir={tmp_path / 'w'}",
        f"--config.data.name={kind}",
        f"--config.data.path={path}",
        prefix=prefix,
    )
    line = _refused(result, message)
    assert str(path) in line
    if make is _unreadable:
        assert "Permission denied" in line
    assert _snapshot(tmp_path) == before


# ---- non-finite runs ----


def test_diverging_run_shorter_than_max_bad_steps_is_an_error(tmp_path):
    # Given learning_rate=1e9 on the 6-step smoke run with max_bad_steps=20; then training
    # ends on skipped non-finite steps, fewer than 20, and the run is an error, not exit 0
    # with samples of magnitude 1e25: no samples are written.
    workdir = tmp_path / "w"
    result = run_app("train", SMOKE, f"--workdir={workdir}", "--config.train.learning_rate=1e9")
    _refused(result, "training ended on ")
    assert "max_bad_steps=20" in result.stderr
    assert not (workdir / "samples.npz").exists()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A workdir that launch.train finished (6 steps, 8 samples)."""
    path = tmp_path_factory.mktemp("finished") / "w"
    result = run_app("train", SMOKE, f"--workdir={path}")
    assert result.returncode == 0, result.stderr[-3000:]
    return path


def test_non_finite_samples_are_an_error_that_says_how_many(finished, tmp_path):
    # Given a model that generates NaN in 3 of 8 series (injected into the draw); then
    # launch.sample says 3 of 8 and writes nothing.
    patch = (
        "import numpy as np\nfrom ldx.eval import samples\nreal = samples.draw\n"
        "def draw(*args, **kwargs):\n"
        "    x = np.array(real(*args, **kwargs))\n    x[[1, 4, 6], 2, 0] = np.nan\n    return x\n"
        "samples.draw = draw"
    )
    out = tmp_path / "s.npz"
    result = _run_patched(
        "sample", patch, f"--workdir={finished}", "--num_samples=8", f"--output={out}"
    )
    _refused(result, "the model generated 3 of 8 series with non-finite values (3 NaN/Inf")
    assert not out.exists() and os.listdir(tmp_path) == []


# ---- finished runs ----


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--config.sample.num_samples=16"],
            "finished at step 6 with another config (config.sample.num_samples: saved 8, now 16)",
        ),
        (["--config.train.num_steps=3"], "trained to step 6, beyond config.train.num_steps=3"),
        (
            ["--config.train.num_steps=3", "--resample"],
            "trained to step 6, beyond config.train.num_steps=3",
        ),
        (
            ["--config.train.learning_rate=0.1", "--resample"],
            "(config.train.learning_rate: saved 0.002, now 0.1)",
        ),
    ],
)
def test_finished_run_with_another_config_is_refused(finished, args, message):
    # Given a finished run; when launch.train is rerun with a config that disagrees with it
    # (more samples, fewer steps, another learning rate even with --resample); then it is an
    # error and nothing in the workdir changes (config.json keeps describing the checkpoints).
    before = _snapshot(finished)
    _refused(run_app("train", SMOKE, f"--workdir={finished}", *args), message)
    assert _snapshot(finished) == before


def test_finished_run_is_not_rerun(finished):
    # Given a finished run; when the same command is run again; then it says so, exits 0 and
    # changes nothing.
    before = _snapshot(finished)
    result = run_app("train", SMOKE, f"--workdir={finished}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "already finished at step 6; nothing to do" in result.stdout
    assert _snapshot(finished) == before


def test_resample_draws_new_samples_and_records_their_config(finished, tmp_path):
    # Given a copy of a finished run; when rerun with --resample and 16 samples, then
    # samples.npz holds 16 series whose first 8 are the original ones (same seed), config.json
    # records 16, and the checkpoints and metrics are untouched.
    workdir = tmp_path / "w"
    shutil.copytree(finished, workdir)
    kept = {k: v for k, v in _snapshot(workdir).items() if not k.startswith("samples")}
    kept.pop("config.json")
    result = run_app(
        "train", SMOKE, f"--workdir={workdir}", "--resample", "--config.sample.num_samples=16"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(finished / "samples.npz") as old, np.load(workdir / "samples.npz") as new:
        assert new["samples"].shape == (16, 24, 5)
        np.testing.assert_array_equal(new["samples"][:8], old["samples"])
    assert '"num_samples": 16' in (workdir / "config.json").read_text()
    now = _snapshot(workdir)
    assert {k: v for k, v in now.items() if k in kept} == kept and kept.keys() <= now.keys()


def test_finished_run_killed_before_its_samples_draws_them(finished, tmp_path):
    # Given a finished run whose samples were never written (killed while drawing them); then
    # rerunning the command draws exactly the samples the uninterrupted run wrote.
    workdir = tmp_path / "w"
    shutil.copytree(finished, workdir)
    (workdir / "samples.npz").unlink()
    result = run_app("train", SMOKE, f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "already finished at step 6; sampling only" in result.stdout
    with np.load(finished / "samples.npz") as old, np.load(workdir / "samples.npz") as new:
        np.testing.assert_array_equal(new["samples"], old["samples"])


# ---- outputs, disks and memory ----


def _below_a_file(d):
    (d / "file").write_text("keep me")
    return (), d / "file" / "sub" / "s.npz", "is a file, expected a directory"


def _read_only_folder(d):
    (d / "ro").mkdir()
    os.chmod(d / "ro", 0o555)
    return _unprivileged(), d / "ro" / "s.npz", "is not writable"


@pytest.mark.parametrize("make", [_below_a_file, _read_only_folder], ids=["file", "read-only"])
def test_sample_into_an_unwritable_place_fails_before_sampling(finished, tmp_path, make):
    # Given an --output that cannot be written and a million series asked for (hours of
    # sampling); then launch.sample refuses at once, and writes nothing.
    prefix, out, message = make(tmp_path)
    before = _snapshot(tmp_path)
    result = run_app(
        "sample",
        f"--workdir={finished}",
        "--num_samples=1000000",
        f"--output={out}",
        prefix=prefix,
    )
    _refused(result, message)
    assert "drawing" not in result.stderr
    assert _snapshot(tmp_path) == before


def test_gauss_legendre_memory_estimate_bounds_numpys_allocation():
    # The estimate's node term against what NumPy really allocates for leggauss(S)
    # (tracemalloc): at least that, at most 3 times it.
    for s in (400, 800):
        tracemalloc.start()
        np.polynomial.legendre.leggauss(s)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        nodes = memory_estimate(1, 2, 1, s, "gauss_legendre") - memory_estimate(
            1, 2, 1, s, "riemann"
        )
        assert peak <= nodes <= 3 * peak, (s, peak, nodes)


def test_dependency_with_a_million_points_is_refused_up_front(finished):
    # Given --num_points=1000000 (a 10^6 x 10^6 Gauss-Legendre matrix); then launch.dependency
    # refuses with the estimate before sampling anything, and writes nothing.
    before = _snapshot(finished)
    result = run_app(
        "dependency", f"--workdir={finished}", "--num_samples=8", "--num_points=1000000"
    )
    _refused(result, "num_points=1000000 (gauss_legendre) needs about 14.6 TiB of memory")
    assert _snapshot(finished) == before


_FULL_DISK = """
import os
from ldx.train import checkpoint
real = os.statvfs
def statvfs(path):  # the disk is full once checkpoint 3 is (being) written
    info = real(path)
    full = path.endswith("checkpoints") and bool(os.listdir(path))
    return os.statvfs_result((*info[:4], 0 if full else info[4], *info[5:]))
os.statvfs = statvfs
"""

_WRITE_FAILS = """
import resource, signal
from ldx.train import checkpoint
real = checkpoint.save
def save(manager, step, state):  # writes of checkpoint 6 fail: files over 20 kB are refused
    if step == 6:
        checkpoint.wait(manager)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
    return real(manager, step, state)
checkpoint.save = save
"""


@pytest.mark.parametrize("fault", ["full", "write fails"])
def test_full_disk_at_a_checkpoint_is_one_error_line(tmp_path, fault):
    # Given a disk that is full when checkpoint 6 is due (statvfs), or whose writes fail
    # during it (a real OS error inside Orbax, EFBIG, while its threads write); then
    # launch.train exits 1 with one `error:` line naming the cause, the only line on stderr
    # besides its phase lines (Orbax's error records and TensorStore's late "Event loop is
    # closed" are held back), and checkpoint 3 is intact.
    workdir = tmp_path / "w"
    args = (SMOKE, f"--workdir={workdir}", "--config.train.sample_after=False")
    if fault == "full":
        result = _run_patched("train", _FULL_DISK, *args)
        line = _refused(result, "not enough space for checkpoint 6 in ")
    else:
        result = _run_patched("train", _WRITE_FAILS, *args)
        line = _refused(result, "cannot save a checkpoint in ")
        assert "File too large (os error 27)" in line
    others = [x for x in result.stderr.splitlines() if not x.startswith("train: ")]
    assert others == [line], result.stderr[-3000:]  # the phase lines (`train: ...`) aside
    assert sorted(n for n in os.listdir(workdir / "checkpoints") if "tmp" not in n) == ["3"]
