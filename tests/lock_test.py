"""One writer per workdir (ldx/train/lock.py): the lock itself, then real launch apps racing."""

import os
import signal
import subprocess
import sys
import time

from ldx.train import lock
from tests.conftest import CACHE_DIR, ROOT
from tests.launch_test import SMOKE

_TRY_LOCK = """
import sys
from ldx.train import lock
try:
    with lock.hold(sys.argv[1], "a second process"):
        print("held")
except lock.WorkdirBusy as e:
    print("busy:", e)
"""


def _try_from_another_process(workdir: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _TRY_LOCK, workdir], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_lock_refuses_a_second_process_names_the_holder_and_is_reentrant(tmp_path):
    # Given a lock held here; then another process is refused with our pid, a nested hold here
    # passes, and after release the other process gets it and the lock file is gone.
    workdir = str(tmp_path)
    with lock.hold(workdir, "the test"):
        with lock.hold(workdir, "nested"):
            answer = _try_from_another_process(workdir)
        assert answer.startswith("busy:") and f"the test (pid {os.getpid()} on " in answer
    assert not os.path.exists(os.path.join(workdir, lock.LOCK_NAME))
    assert _try_from_another_process(workdir) == "held"


def _popen(*args: str) -> subprocess.Popen:
    env = dict(os.environ, LDX_COMPILATION_CACHE=CACHE_DIR or "", JAX_PLATFORMS="cpu")
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_two_trainers_started_together_on_a_fresh_workdir(tmp_path):
    # Given two launch.train started at once on a new workdir; then one trains to the end and
    # the other exits 1 with a single error line naming the holder.
    workdir = str(tmp_path / "w")
    args = (
        "launch.train",
        SMOKE,
        f"--workdir={workdir}",
        "--config.train.num_steps=300",
        "--config.train.sample_after=False",
    )
    procs = [_popen(*args), _popen(*args)]
    outs = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], [o[1][-2000:] for o in outs]
    loser = outs[[p.returncode for p in procs].index(1)][1]
    assert len(_errors(loser)) == 1 and "is in use by training (pid" in loser, loser
    assert "300" in os.listdir(os.path.join(workdir, "checkpoints"))


def test_second_writers_are_refused_while_a_run_trains(tmp_path):
    # Given a run training; when another launch.train (other learning rate) and launch.evaluate
    # target its workdir, then both exit 1 with one error line and config.json is unchanged;
    # once the trainer is killed (SIGKILL), the kernel has released the lock.
    workdir = str(tmp_path / "w")
    first = _popen(
        "launch.train",
        SMOKE,
        f"--workdir={workdir}",
        "--config.train.num_steps=100000",
        "--config.train.sample_after=False",
    )
    try:
        deadline = time.monotonic() + 300
        ckpt = os.path.join(workdir, "checkpoints")
        while not (os.path.isdir(ckpt) and any(n.isdigit() for n in os.listdir(ckpt))):
            assert first.poll() is None, first.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
        with open(os.path.join(workdir, "config.json"), "rb") as f:
            config = f.read()
        for args in (
            ("launch.train", SMOKE, f"--workdir={workdir}", "--config.train.learning_rate=0.05"),
            ("launch.evaluate", f"--workdir={workdir}", "--num_windows=8"),
        ):
            second = _popen(*args)
            _, err = second.communicate(timeout=600)
            assert second.returncode == 1, err[-2000:]
            assert len(_errors(err)) == 1 and "is in use by training (pid" in err, err
        with open(os.path.join(workdir, "config.json"), "rb") as f:
            assert f.read() == config
        assert not os.path.exists(os.path.join(workdir, "eval"))
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert _try_from_another_process(workdir) == "held"
