"""Killing launch.train (SIGKILL at random moments, SIGTERM) and rerunning it loses nothing."""

import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from configs.default import get_config
from ldx.experiment import build_experiment
from ldx.train import load_run, train
from ldx.train.checkpoint import checkpoint_manager
from ldx.train.writer import read_metrics
from tests.conftest import CACHE_DIR, ROOT

STEPS = 6  # The smoke config's: its compiled step is shared with the other tests.
OVERRIDES = {"checkpoint_every": 2, "log_every": 1, "sample_after": False}
ARGS = ["--config=configs/default.py:smoke"] + [
    f"--config.train.{k}={v}" for k, v in OVERRIDES.items()
]
TIMEOUT = 600


def _start(workdir: str, log: str) -> subprocess.Popen:
    """Starts `python -m launch.train` on the shared arguments, output to `log`."""
    env = dict(os.environ, LDX_COMPILATION_CACHE=CACHE_DIR or "", JAX_PLATFORMS="cpu")
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "launch.train", *ARGS, f"--workdir={workdir}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for(proc: subprocess.Popen, condition, what: str) -> None:
    """Polls `condition()` every millisecond until it holds; fails if `proc` ends first."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert proc.poll() is None, f"launch.train ended (status {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def _lines(workdir: str) -> int:
    """Lines of metrics.jsonl: one per step logged by any run so far."""
    try:
        with open(os.path.join(workdir, "metrics.jsonl"), "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _tmp_checkpoints(workdir: str) -> list[str]:
    try:
        names = os.listdir(os.path.join(workdir, "checkpoints"))
    except FileNotFoundError:
        return []
    return [n for n in names if "tmp" in n]


def _kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> int:
    proc.send_signal(sig)
    return proc.wait(TIMEOUT)


def test_killed_and_terminated_runs_resume_bitwise_identical(tmp_path):
    # Given a run SIGKILLed at a random moment of start-up, in the middle of writing a
    # checkpoint and after a random number of steps, then sent SIGTERM, and rerun each time
    # with the same command; then SIGTERM saved a checkpoint and exited 143, no half-written
    # checkpoint was ever listed or survives, and the finished run's state (params, EMA,
    # optimiser, counters) equals an uninterrupted run's bit for bit.
    rng = np.random.default_rng(8)
    workdir = str(tmp_path / "w")
    log = str(tmp_path / "log.txt")

    # 1. At a random moment of start-up (imports, data, restore or compilation).
    proc = _start(workdir, log)
    time.sleep(rng.uniform(0.5, 4.0))
    assert _kill(proc) == -signal.SIGKILL

    # 2. While Orbax writes a checkpoint: its temporary folder exists.
    proc = _start(workdir, log)
    _wait_for(proc, lambda: _tmp_checkpoints(workdir), "a checkpoint write")
    assert _kill(proc) == -signal.SIGKILL
    half_written = {n.split(".")[0] for n in _tmp_checkpoints(workdir)}
    assert half_written, "the kill came after the write finished"
    listed = checkpoint_manager(workdir, create=False).all_steps()
    assert not half_written & {str(s) for s in listed}, (half_written, listed)

    # 3. After a random number (1 or 2) of steps of the rerun.
    proc = _start(workdir, log)
    lines = _lines(workdir) + int(rng.integers(1, 3))
    _wait_for(proc, lambda: _lines(workdir) >= lines, f"{lines} logged steps")
    assert _kill(proc) == -signal.SIGKILL

    # 4. SIGTERM after the rerun's first step: a checkpoint at the next step boundary.
    proc = _start(workdir, log)
    lines = _lines(workdir) + 1
    _wait_for(proc, lambda: _lines(workdir) >= lines, f"{lines} logged steps")
    assert _kill(proc, signal.SIGTERM) == 143, open(log).read()[-3000:]
    output = open(log).read()
    match = re.search(r"preempted: training stopped by SIGTERM after step (\d+) of 6", output)
    assert match, output[-3000:]
    stopped = int(match.group(1))
    assert checkpoint_manager(workdir, create=False).latest_step() == stopped
    assert int(load_run(workdir).state.step) == stopped

    # 5. The same command again runs to the end.
    proc = _start(workdir, log)
    assert proc.wait(TIMEOUT) == 0, open(log).read()[-3000:]
    assert not _tmp_checkpoints(workdir)
    assert [r["step"] for r in read_metrics(workdir)] == list(range(1, STEPS + 1))

    config = get_config("smoke")
    config.train.update(OVERRIDES)
    uninterrupted = train(build_experiment(config), str(tmp_path / "uninterrupted"))
    resumed = load_run(workdir).state
    for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(uninterrupted), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
