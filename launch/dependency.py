"""Measures how a trained run's decoder depends on z and on its past (the paper's Sec. 3.2).

    python -m launch.dependency --workdir=/tmp/ldx --num_samples=500
    python -m launch.dependency --workdir=/tmp/ldx --num_samples=500 --source=data
    python -m launch.dependency --workdir=/tmp/ldx --config.sample.decode_noise=false --seed=0

Writes into --output (default <workdir>/dependency/<source>): `measures.npz` (m [N, T, T+1]
with m[:, t, 0] on z and m[:, t, j] on x[j-1], the latents, the series, per-t curves),
`series.png` (one series with its global and first-order local bars per t), `average.png`
(means over the N series with bands of 3 standard errors), `summary.json` and `settings.json`
(the seed, fresh unless --seed is given, and the `--config.sample.<field>=` overrides of how
series are drawn). Ordered or shuffled windows follow the run's config.data.shuffle_time.

Beside the paper's measure (all-zero baseline) it measures from two code baselines (the mean
code of the N series; for each series another one's code) and runs the swap test (per t, the
log-likelihood of x_t under the window's own code, another window's, z = 0 and N(0, I) noise;
ldx/dependency/latent_use.py): `m_mean_code`, `m_other_code`, `loglik_<latent>` [N, T] and
`other_index` in measures.npz, `series_latent_use.png`, `latent_use.png` (global dependency
per baseline, log-likelihoods and the swap gap, own minus other, per t with bands), and
`mean_code_*`, `other_code_*`, `loglik_*` and `swap_gap_first` / `swap_gap_last` in
summary.json. --nolatent_use skips them.

Completeness (sum_j m[t, j] = 1) checks the quadrature: `summary.json` records the largest
error and the share of (series, t) cells above 1e-2, and a warning asks for more --num_points
when any cell is above it.
"""

import json
import os

from absl import app, flags, logging

from launch import common
from ldx.dependency import RULES
from ldx.dependency.report import (
    COMPLETENESS_TOL,
    OUTPUTS,
    SOURCES,
    measure_run,
    save_report,
)
from ldx.errors import LdxError, check_writable
from ldx.experiment import build_experiment
from ldx.train import load_run, lock

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a trained run.")
_NUM = flags.DEFINE_integer("num_samples", 500, "Number of series N.", lower_bound=1)
_SOURCE = flags.DEFINE_enum("source", "model", SOURCES, "Generated series or test windows.")
_OUTPUT = flags.DEFINE_string(
    "output", None, "Output folder; default <workdir>/dependency/<source>."
)
_POINTS = flags.DEFINE_integer("num_points", 32, "Quadrature points S.", lower_bound=1)
_RULE = flags.DEFINE_enum("rule", "gauss_legendre", RULES, "Quadrature rule.")
_SEED = flags.DEFINE_integer(
    "seed", None, "Seed for sampling, window choice and Monte Carlo (default: fresh, recorded)."
)
_LATENT_USE = flags.DEFINE_bool(
    "latent_use",
    True,
    "Also measure from the code baselines and run the swap test (--nolatent_use: the paper's "
    "measure alone, a third of the cost).",
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace existing outputs.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    folder = _OUTPUT.value or os.path.join(_WORKDIR.value, "dependency", _SOURCE.value)
    names = (*OUTPUTS, "settings.json")
    existing = [n for n in names if os.path.exists(os.path.join(folder, n))]
    if existing and not _OVERWRITE.value:
        raise LdxError(f"{folder} already holds {', '.join(existing)}; pass --overwrite.")
    check_writable(folder)
    seed = common.sampling_seed(_SEED)
    with lock.hold(_WORKDIR.value, "launch.dependency"):  # before reading a run in training
        config, overrides = common.run_config(_WORKDIR.value)
        run = load_run(_WORKDIR.value, build_experiment(config))
        report = measure_run(
            run,
            _SOURCE.value,
            _NUM.value,
            num_points=_POINTS.value,
            rule=_RULE.value,
            seed=seed,
            use_ema=run.experiment.draw.use_ema,
            latent_use=_LATENT_USE.value,
        )
        save_report(report, folder)
        common.write_settings(os.path.join(folder, "settings.json"), run, seed, config, overrides)
    print(json.dumps(report.info))
    common.say("dependency", f"wrote {', '.join(OUTPUTS)} and settings.json into {folder}")
    if report.info["unconverged_fraction"] > 0:
        logging.warning(
            "%.2g%% of the (series, t) measures miss completeness by more than %g (max %.3g): "
            "the quadrature has not converged for them, so those points of the curves are "
            "unreliable; rerun with more --num_points (sharp decoders, e.g. an LSTM under a "
            "strong L_CS, needed 512).",
            100 * report.info["unconverged_fraction"],
            COMPLETENESS_TOL,
            report.info["max_completeness_error"],
        )


if __name__ == "__main__":
    common.run(main, reads_run=True)
