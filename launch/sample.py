"""Draws series from a trained run.

    python -m launch.sample --workdir=/tmp/ldx --num_samples=500 --output=/tmp/ldx/s.npz
    python -m launch.sample --workdir=/tmp/ldx --config.sample.sampler=ddim \
        --config.sample.ddim_steps=50

Writes `samples` [N, T, D] in the data's original units and `samples_normalized` to --output
(default <workdir>/samples_seed<seed>.npz), a PNG of samples beside real windows next to it,
and a .json of what drew them (seed, --config overrides, the sample settings, checkpoint step).
`--config.sample.<field>=` changes how series are drawn (sampler, ddim_steps, decode_noise,
batch_size, use_ema, ...; `--help_config --workdir=W` lists them); fields of the trained model
are refused. Without --seed a fresh seed is drawn (the training-time samples used the run's
seed) and recorded.
"""

import os

from absl import app, flags

from launch import common
from ldx.errors import claim_output
from ldx.eval.samples import save_samples
from ldx.experiment import build_experiment
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a trained run.")
_NUM = flags.DEFINE_integer(
    "num_samples", None, "Series to draw (default: the run's config.sample.num_samples).", 1
)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Output .npz file (default <workdir>/samples_seed<seed>.npz)."
)
_SEED = flags.DEFINE_integer("seed", None, "Sampling seed (default: a fresh one, recorded).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing --output file.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    seed = common.sampling_seed(_SEED)
    output = _OUTPUT.value or os.path.join(_WORKDIR.value, f"samples_seed{seed}.npz")
    stem = claim_output(output, _OVERWRITE.value)
    config, overrides = common.run_config(_WORKDIR.value)
    run = load_run(_WORKDIR.value, build_experiment(config))
    draw = run.experiment.draw
    num = _NUM.value or draw.num_samples
    save_samples(run, num, output, seed, draw.use_ema, batch_size=draw.batch_size)
    common.write_settings(stem + ".json", run, seed, config, overrides, num_samples=num)
    common.say("sample", f"wrote {num} series (seed {seed}): {output}, {stem}.png, {stem}.json")


if __name__ == "__main__":
    common.run(main, reads_run=True)
