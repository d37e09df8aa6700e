"""Completes partly observed windows with a trained run (LD/PSLD or LDIDP): forecasting and
imputation.

    python -m launch.complete --workdir=W --input=F.npz --output=O.npz
    python -m launch.complete --workdir=W --input=F.npz --output=O.npz \
        --num_completions=16 --num_particles=512 --seed=0

F.npz holds `x` [N, T, D] in the data's original units with NaN where a value is unknown, or `x`
and `mask` (1 = observed; x's other entries are then ignored). O.npz gets `samples`
[N, K, T, D] in original units, every observed entry the input's bit for bit, and per window
`log_evidence` (log p(observed)), `min_ess` and `num_ancestors` (how many particles the K
completions descend from; ldx/smc.py). A .json beside it records the seed and settings.
Forecasting is the mask "first T - k steps observed"; imputation any mask, missing features
included. The method is sequential Monte Carlo over time (ldx/smc.py, ldx/complete.py); for
LD/PSLD `--config.sample.*` changes the latent sampler as in launch.sample (LDIDP completes with
its trained transitions, eta = 1; only `sample.decode_noise` applies).
"""

import os

import jax
import numpy as np
from absl import app, flags

from launch import common
from ldx.complete import check_input, complete, read_input
from ldx.errors import claim_output
from ldx.eval.samples import check_finite, write_npz
from ldx.experiment import build_experiment
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a trained run.")
_INPUT = flags.DEFINE_string("input", None, "Input .npz: x [N, T, D] (NaN = unknown), mask.")
_OUTPUT = flags.DEFINE_string("output", None, "Output .npz: samples [N, K, T, D].")
_K = flags.DEFINE_integer("num_completions", 8, "K, completions per window.", 1)
_P = flags.DEFINE_integer("num_particles", 256, "P, SMC particles per window.", 1)
_BATCH = flags.DEFINE_integer(
    "batch_size", None, "Windows per compiled call (default: about 4096 particles).", 1
)
_SEED = flags.DEFINE_integer("seed", None, "Seed (default: a fresh one, recorded).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing --output file.")
flags.mark_flags_as_required(["workdir", "input", "output"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    seed = common.sampling_seed(_SEED)
    output = _OUTPUT.value
    stem = claim_output(output, _OVERWRITE.value)
    x, mask = read_input(_INPUT.value)
    config, overrides = common.run_config(_WORKDIR.value)
    run = load_run(_WORKDIR.value, build_experiment(config))
    check_input(x, mask, run.experiment, f"--input={_INPUT.value!r}")
    common.say(
        "complete",
        f"{len(x)} window(s), {int((~mask).sum())} unknown value(s): drawing {_K.value} "
        f"completion(s) each with {_P.value} particles (seed {seed}) ...",
    )
    out = complete(
        run,
        x,
        mask,
        jax.random.key(seed),
        _K.value,
        _P.value,
        _BATCH.value,
        run.experiment.draw.use_ema,
    )
    check_finite(
        out["samples"].reshape(-1, *x.shape[1:]), f"{run.workdir}: the model", "nothing written"
    )
    write_npz(output, **out)
    common.write_settings(
        stem + ".json",
        run,
        seed,
        config,
        overrides,
        input=os.path.abspath(_INPUT.value),
        num_completions=_K.value,
        num_particles=_P.value,
    )
    common.say(
        "complete",
        f"wrote {output} and {stem}.json (median smallest ESS {np.median(out['min_ess']):.1f} "
        f"of {_P.value} particles)",
    )


if __name__ == "__main__":
    common.run(main, reads_run=True)
