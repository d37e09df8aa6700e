"""Decoder noise temperature: scale the decoder's sampled noise by tau at generation.

    python -m benchmarks.decode_temperature --workdirs=W1,W2 --temperatures=1,0.8 \
        --out=benchmarks/results/quality/decode_temperature.jsonl

For each trained LD/PSLD run and each tau, the same prior latents are decoded with
x_t = mu_t + tau * sigma_t * eps_t (tau = 1 is the model; 0 its mean). One JSON line per
(run, tau): the share of values outside [-0.1, 1.1] (normalised units), the step ratio (mean
|x_t - x_{t-1}| over the test windows' own; `ldx.metrics.shape`), and unless
--disc_iterations=0 the published protocol's discriminative and subset correlational scores
against that many random windows of the series (capped).
"""

from __future__ import annotations

import jax
import numpy as np
from absl import app, flags

from benchmarks.common import emit
from ldx import metrics
from ldx.eval import published
from ldx.ld.generate import sample_latents
from ldx.nn import decode_sample
from ldx.train import load_run

_WORKDIRS = flags.DEFINE_list("workdirs", None, "Trained LD/PSLD workdirs.")
_TAUS = flags.DEFINE_list("temperatures", ["1", "0.9", "0.8", "0.7"], "Noise scales tau.")
_NUM = flags.DEFINE_integer("num_windows", 2000, "Generated windows and the reference's cap.")
_DISC = flags.DEFINE_integer("disc_iterations", 1000, "Discriminative GRU steps (0: range only).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Repeats of the learned score.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")
flags.mark_flags_as_required(["workdirs"])


def main(_):
    for workdir in _WORKDIRS.value:
        run = load_run(workdir)
        exp, model = run.experiment, run.model(True)
        data = exp.dataset
        pcfg = published.PublishedConfig(num_windows=_NUM.value, context_fid=False)
        real, scaler = published.reference(exp.data, pcfg)
        t, d = data.test.shape[1:]
        key = jax.random.key(1)
        z = sample_latents(model, exp.schedule, exp.sampler, key, len(real))
        dec = jax.jit(lambda z, k, tau: decode_sample(model.decoder, z, k, t, d, tau))
        for tau in map(float, _TAUS.value):
            x = np.asarray(dec(z, key, tau))
            xp = scaler.transform(data.scaler.inverse_transform(x))
            record = {
                "workdir": workdir,
                "tau": tau,
                "num_windows": len(real),
                "outside": metrics.outside_share(x),
                "step_ratio": metrics.step_ratio(data.test, x),
            }
            if _DISC.value:
                disc = metrics.discriminative_score(
                    real, xp, jax.random.key(2), iterations=_DISC.value, repeats=_REPEATS.value
                )
                record["discriminative"] = published.summary(disc.values)
                corr = published.correlational_subsets(real, xp, 5, 0)
                record["correlational"] = published.summary(corr)
            emit(record, _OUT.value)


if __name__ == "__main__":
    app.run(main)
