"""Data parallelism on 8 fake CPU devices, and a real two-process (multi-host) run.

Fake devices and the multi-process runtime must be set up before JAX starts, so both run in
subprocesses: `_eight_devices` is executed by a child Python with 8 host devices.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from configs.default import get_config
from ldx.experiment import build_experiment
from ldx.train import load_run, train
from ldx.train.checkpoint import checkpoint_manager
from ldx.train.writer import read_metrics
from tests.conftest import CACHE_DIR, ROOT

TIMEOUT = 600


def _env(**extra) -> dict:
    return dict(os.environ, LDX_COMPILATION_CACHE=CACHE_DIR or "", JAX_PLATFORMS="cpu", **extra)


def _twenty_steps():
    config = get_config("smoke")
    config.train.update(num_steps=20, checkpoint_every=20, lr_schedule="constant")
    return config


def _eight_devices(workdir: str, out: str) -> None:
    """Runs in a child with 8 CPU devices; writes its measurements to `out` (JSON)."""
    import jax.numpy as jnp

    from ldx.batching import batch_map, chunk_size, make_generate_fn
    from ldx.errors import ConfigError
    from ldx.train import parallel

    assert jax.device_count() == 8
    res = {}
    # The loop's sharded training: batch 16, 2 rows per device. The test process repeats it on
    # its single device (a constant learning rate keeps the compiled step independent of
    # num_steps, so it is shared with tests/train_test.py).
    config = _twenty_steps()
    sharded = train(build_experiment(config), workdir)
    res["state_devices"] = len(sharded.params.sharding.device_set)
    np.savez(out + ".npz", params=sharded.params, ema_params=sharded.ema_params)

    # A batch size not divisible by the device count.
    config.train.batch_size = 12
    try:
        train(build_experiment(config), workdir + "_b12")
    except ConfigError as e:
        res["batch_12_error"] = str(e)
    res["batch_12_wrote"] = os.path.exists(workdir + "_b12")

    # batch_map: a per-example function on 13 rows in chunks of 8 (the last padded), each
    # chunk split over the 8 devices, one compile.
    w = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    x = np.random.default_rng(1).normal(size=(13, 5)).astype(np.float32)
    seen = []

    @jax.jit
    def rows(w, x):
        seen.append(x.shape)  # runs once per compile
        return jnp.tanh(x @ w)

    def chunk(i, size, xb):
        res.setdefault("chunk_devices", len(xb.sharding.device_set))
        out = rows(w, xb)
        res.setdefault("out_devices", len(out.sharding.device_set))
        return out

    res["rows_err"] = float(np.max(np.abs(batch_map(chunk, x, batch_size=8) - np.tanh(x @ w))))
    res["compiles"] = len(seen)
    res["chunk_of_3"] = chunk_size(13, 3, 8)  # rounded up to the device count

    # Sampling: series split over the 8 devices equal those drawn on one device.
    def generate(model, key, num):
        return jnp.tanh(jax.random.normal(key, (num, 4, 5)) @ model)

    eight = make_generate_fn(lambda p: p, generate)
    one = make_generate_fn(lambda p: p, generate, parallel.data_mesh(jax.devices()[:1]))
    m, key = jnp.asarray(np.eye(5, dtype=np.float32) * 2), jax.random.key(4)
    a, b = eight(m, key, 16), one(m, key, 16)
    res["sample_devices"] = len(a.sharding.device_set)
    res["sample_err"] = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
    res["sample_13_shape"] = list(eight(m, key, 13).shape)
    with open(out, "w") as f:
        json.dump(res, f)


@pytest.fixture(scope="module")
def eight(tmp_path_factory):
    path = tmp_path_factory.mktemp("eight")
    out = str(path / "out.json")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tests.parallel_test as t; t._eight_devices(sys.argv[1], sys.argv[2])",
            str(path / "w"),
            out,
        ],
        cwd=ROOT,
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=8"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    with open(out) as f:
        res = json.load(f)
    with np.load(out + ".npz") as f:
        res.update(f)
    return res


def test_sharded_train_step_matches_one_device(eight, tmp_path):
    # Given 20 steps of the loop with the batch split over 8 devices and the same 20 steps
    # on this process's one device; then parameters and EMA agree to 1e-5.
    one = train(build_experiment(_twenty_steps()), str(tmp_path))
    assert eight["state_devices"] == 8 and int(one.step) == 20
    assert np.max(np.abs(one.params)) > 0.1  # Not a comparison of tiny numbers.
    np.testing.assert_allclose(eight["params"], one.params, atol=1e-5, rtol=0)
    np.testing.assert_allclose(eight["ema_params"], one.ema_params, atol=1e-5, rtol=0)


def test_batch_not_divisible_by_devices_is_refused(eight):
    assert (
        "config.train.batch_size=12 is not divisible by the number of devices (8)"
        in (eight["batch_12_error"])
    )
    assert not eight["batch_12_wrote"]


def test_batch_map_helper(eight):
    # Per-example results over padded chunks equal NumPy's; every chunk and its result are
    # split over the 8 devices; the jitted function compiles once; chunks are a multiple of 8.
    assert eight["rows_err"] < 1e-6
    assert eight["chunk_devices"] == 8 and eight["out_devices"] == 8
    assert eight["compiles"] == 1
    assert eight["chunk_of_3"] == 8


def test_sampling_is_split_over_devices(eight):
    assert eight["sample_devices"] == 8 and eight["sample_err"] < 1e-6
    assert eight["sample_13_shape"] == [13, 4, 5]


# --- Two processes: JAX's distributed runtime on a loopback coordinator. --------------------

# The smoke run, long enough (40 steps, checkpoints at 20 and 40) that a SIGTERM sent after
# step 2 always arrives well before the end, however fast the machine.
NUM_STEPS, CHECKPOINT_EVERY = 40, 20
TWO = [
    "--config=configs/default.py:smoke",
    "--config.train.log_every=1",
    "--config.train.sample_after=False",
    f"--config.train.num_steps={NUM_STEPS}",
    f"--config.train.checkpoint_every={CHECKPOINT_EVERY}",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_two(workdir: str, logs: list[str]) -> list[subprocess.Popen]:
    port = _free_port()
    procs = []
    for pid, log in enumerate(logs):
        with open(log, "w") as out:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "launch.train",
                        *TWO,
                        f"--workdir={workdir}",
                        f"--coordinator_address=127.0.0.1:{port}",
                        "--num_processes=2",
                        f"--process_id={pid}",
                    ],
                    cwd=ROOT,
                    env=_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    return procs


def _wait_all(procs, logs) -> list[int]:
    try:
        return [p.wait(TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_two_processes_train_preempt_resume_and_checkpoint_once(tmp_path):
    # Given two processes (one CPU device each) training one run through JAX's distributed
    # runtime; when process 1 alone gets SIGTERM, then both save the same step and exit
    # 143; rerun, they finish. The checkpoints are single (one folder per step, readable by
    # one process) and the parameters match a one-process run to 1e-5.
    workdir = str(tmp_path / "w")
    logs = [str(tmp_path / f"p{i}.txt") for i in range(2)]
    procs = _start_two(workdir, logs)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (
            os.path.exists(os.path.join(workdir, "metrics.jsonl"))
            and len(read_metrics(workdir)) >= 2
        ):
            assert all(p.poll() is None for p in procs), [open(g).read()[-2000:] for g in logs]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        procs[1].send_signal(signal.SIGTERM)
    finally:
        codes = _wait_all(procs, logs)
    outputs = [open(g).read() for g in logs]
    assert codes == [143, 143], [o[-3000:] for o in outputs]
    stops = {int(re.search(rf"after step (\d+) of {NUM_STEPS}", o).group(1)) for o in outputs}
    assert len(stops) == 1, stops
    (stop,) = stops
    assert checkpoint_manager(workdir, create=False).latest_step() == stop

    codes = _wait_all(_start_two(workdir, logs), logs)
    assert codes == [0, 0], [open(g).read()[-3000:] for g in logs]
    steps = sorted(os.listdir(os.path.join(workdir, "checkpoints")), key=int)
    assert steps == sorted({str(stop), str(CHECKPOINT_EVERY), str(NUM_STEPS)}, key=int), steps
    assert [r["step"] for r in read_metrics(workdir)] == list(range(1, NUM_STEPS + 1))

    config = get_config("smoke")
    config.train.sample_after = False
    config.train.num_steps, config.train.checkpoint_every = NUM_STEPS, CHECKPOINT_EVERY
    reference = train(build_experiment(config), str(tmp_path / "one"))
    state = load_run(workdir).state
    assert int(state.step) == NUM_STEPS
    np.testing.assert_allclose(state.params, reference.params, atol=1e-5, rtol=0)
    np.testing.assert_allclose(state.ema_params, reference.ema_params, atol=1e-5, rtol=0)
    assert float(np.max(np.abs(reference.params))) > 0.1
