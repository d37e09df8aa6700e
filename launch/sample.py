"""Draws series from a trained run.

    python -m launch.sample --workdir=/tmp/ldx --num_samples=500 --output=/tmp/ldx/s.npz

Writes `samples` [N, T, D] in the data's original units and `samples_normalized`
to --output, and a PNG of samples beside real windows next to it.
"""

import os

from absl import app, flags

from launch import common
from ldx.errors import LdxError, check_writable
from ldx.eval.samples import save_samples
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a trained run.")
_NUM = flags.DEFINE_integer("num_samples", 1000, "Number of series to draw.", lower_bound=1)
_OUTPUT = flags.DEFINE_string("output", None, "Output .npz file.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_EMA = flags.DEFINE_bool("use_ema", True, "Sample with the EMA parameters.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing --output file.")
flags.mark_flags_as_required(["workdir", "output"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not _OUTPUT.value.endswith(".npz"):
        raise LdxError(f"--output={_OUTPUT.value!r} must end in .npz.")
    if os.path.exists(_OUTPUT.value) and not _OVERWRITE.value:
        raise LdxError(f"--output={_OUTPUT.value!r} exists; pass --overwrite to replace it.")
    check_writable(_OUTPUT.value)
    run = load_run(_WORKDIR.value)
    common.say("sample", f"drawing {_NUM.value} series ...")
    save_samples(
        run,
        _NUM.value,
        _OUTPUT.value,
        _SEED.value,
        _EMA.value,
        batch_size=run.experiment.draw.batch_size,
    )
    png = os.path.splitext(_OUTPUT.value)[0] + ".png"
    common.say("sample", f"wrote {_OUTPUT.value} and {png}")


if __name__ == "__main__":
    common.run(main)
