"""Trains a model; writes checkpoints, metrics, samples.npz and samples.png into --workdir.

python -m launch.train --config=configs/default.py --workdir=/tmp/ldx
python -m launch.train --config=configs/default.py:smoke --config.method=psld --workdir=/tmp/s

Rerunning the same command resumes from the newest checkpoint. SIGTERM saves one and exits
with status 143. On a finished run it says "already finished at step S" and changes nothing
(a config that differs from the saved one is an error); --resample draws samples.npz anew,
with the config's (possibly new) config.sample, recorded in config.json.

Multi-host (one process per host, same command on each; see README):

python -m launch.train --config=... --workdir=/shared/run \
    --coordinator_address=10.0.0.1:1234 --num_processes=4 --process_id=$RANK
"""

import os

import jax
from absl import app, flags
from ml_collections import config_flags

from launch import common
from ldx.errors import ConfigError
from ldx.eval.samples import save_samples
from ldx.experiment import build_experiment
from ldx.train import checkpoint, finished_run, lock, parallel, run_from_state, train

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training configuration file.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, samples.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address",
    None,
    "Multi-host: host:port of process 0 (default: $JAX_COORDINATOR_ADDRESS).",
)
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "Multi-host: number of processes (default: $JAX_NUM_PROCESSES)."
)
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "Multi-host: index of this process (default: $JAX_PROCESS_ID)."
)
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed",
    False,
    "Multi-host: start JAX's distributed runtime, detecting unset values on SLURM, Open MPI, "
    "Kubernetes or Cloud TPU. Implied by any of the three flags (or variables) above.",
)
_RESAMPLE = flags.DEFINE_bool(
    "resample",
    False,
    "On a finished run: draw samples.npz and samples.png anew with this config.sample "
    "(which then replaces the saved one in config.json).",
)
flags.mark_flags_as_required(["config", "workdir"])


def _initialize_distributed() -> None:
    address = _COORDINATOR.value or os.environ.get("JAX_COORDINATOR_ADDRESS") or None
    num = _NUM_PROCESSES.value
    num = common.env_int("JAX_NUM_PROCESSES") if num is None else num
    pid = _PROCESS_ID.value
    pid = common.env_int("JAX_PROCESS_ID") if pid is None else pid
    if _DISTRIBUTED.value or any(v is not None for v in (address, num, pid)):
        parallel.initialize_distributed(address, num, pid)
        # Orbax's barriers then use JAX's coordination service (with a timeout) rather than
        # device collectives, which on CPU give up on a peer more than 30 s late.
        flags.FLAGS.experimental_orbax_use_distributed_barrier = True


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    config = common.config_value(_CONFIG)
    if config.train.sample_after and config.sample.num_samples < 1:
        raise ConfigError(
            f"config.sample.num_samples={config.sample.num_samples} must be >= 1 "
            "(or set config.train.sample_after=False)."
        )
    _initialize_distributed()
    exp = build_experiment(config)  # The one typed boundary; the library takes `exp`.
    workdir, primary = _WORKDIR.value, jax.process_index() == 0
    with lock.hold(workdir, "launch.train", enabled=primary):
        run = finished_run(workdir, exp, allow=("sample",) if _RESAMPLE.value else ())
    outputs = [os.path.join(workdir, name) for name in ("samples.npz", "samples.png")]
    if run is None:
        state = train(exp, workdir)
        if primary:
            common.say("train", f"finished at step {int(state.step)}: checkpoints, metrics.jsonl")
        if not (exp.train.sample_after or _RESAMPLE.value):
            return
        run = run_from_state(workdir, exp, state)
    else:
        step = int(run.state.step)
        missing = exp.train.sample_after and not all(map(os.path.exists, outputs))
        if not (_RESAMPLE.value or missing):  # A killed run may have missed its samples.
            if primary:
                common.say(
                    "train",
                    f"already finished at step {step}; nothing to do (--resample draws new "
                    "samples)",
                )
            return
        if primary:
            common.say("train", f"already finished at step {step}; sampling only")
    if primary:
        with lock.hold(workdir, "launch.train (sampling)"):
            save_samples(
                run,
                exp.draw.num_samples,
                outputs[0],
                seed=exp.seed,
                use_ema=exp.draw.use_ema,
                batch_size=exp.draw.batch_size,
            )
            if _RESAMPLE.value:
                checkpoint.write_config(workdir, exp.spec)  # config.json says how they were drawn
        common.say("train", f"wrote {exp.draw.num_samples} samples: {outputs[0]} and {outputs[1]}")


if __name__ == "__main__":
    common.run(main)
