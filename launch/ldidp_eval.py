"""Evaluates a trained LDIDP run: latent recovery, co-smoothing, velocity R^2, sample statistics.

    python -m launch.ldidp_eval --workdir=/tmp/ldidp_spiral
    python -m launch.ldidp_eval --workdir=/tmp/ldidp_mc_maze --num_samples=200 --output=/tmp/e.json

Writes the numbers as JSON (default <workdir>/ldidp_eval.json), prints them as one JSON line, and
writes latents.png / raster.png into --figures_dir (default the workdir). The work is one call to
`ldx.ldidp.evaluation.evaluate_run`, so a general `launch.evaluate` can call it for ldidp runs.
"""

import json

from absl import app, flags

from launch import common
from ldx.ldidp.evaluation import evaluate_run

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a trained ldidp run.")
_OUTPUT = flags.DEFINE_string("output", None, "JSON output; default <workdir>/ldidp_eval.json.")
_NUM = flags.DEFINE_integer("num_samples", 500, "Generated windows for sample statistics.", 1)
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_MMD_BIN = flags.DEFINE_integer("mmd_bin", None, "Bins summed before the MMD (default per data).")
_FIGURES = flags.DEFINE_string("figures_dir", None, "Folder for PNG figures; default the workdir.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    results = evaluate_run(
        _WORKDIR.value,
        _OUTPUT.value,
        num_samples=_NUM.value,
        seed=_SEED.value,
        mmd_bin=_MMD_BIN.value,
        figures_dir=_FIGURES.value or _WORKDIR.value,
    )
    print(json.dumps(results))


if __name__ == "__main__":
    common.run(main)
