"""Trains a model; writes checkpoints, metrics, samples.npz and samples.png into --workdir.

python -m launch.train --config=configs/default.py --workdir=/tmp/ldx
python -m launch.train --config=configs/default.py:smoke --config.method=psld --workdir=/tmp/s
"""

import os

from absl import app, flags
from ml_collections import config_flags

from launch import common
from ldx.sampling import save_samples
from ldx.train import load_run, train

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training configuration file.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, samples.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    config = _CONFIG.value
    train(config, _WORKDIR.value)
    if config.train.sample_after:
        save_samples(
            load_run(_WORKDIR.value),
            config.sample.num_samples,
            os.path.join(_WORKDIR.value, "samples.npz"),
            seed=config.seed,
            use_ema=config.sample.use_ema,
            batch_size=config.sample.batch_size,
        )


if __name__ == "__main__":
    common.run(main)
