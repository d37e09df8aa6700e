"""Where generated values leave the data's range: by feature and step, and under a decoder
noise temperature.

    python -m benchmarks.sample_range --workdirs=W1,W2 --out=FILE.jsonl
    python -m benchmarks.sample_range --workdirs=W --temperatures=1,0.85,0.7 --disc_iterations=1000

For each trained LD/PSLD run and each tau, the same prior latents are decoded with
x_t = mu_t + tau * sigma_t * eps_t (tau = 1 is the model, 0 its mean). One JSON line per
(run, tau) with the share of values outside [-0.1, 1.1] (normalised units, every column of the
data, also those a run models through others) and the step ratio
(`ldx.metrics.shape`, against the test windows; `step_ratio_feature_median`, the median of each
feature's own); `by_t`, that share per step;
`features`, the `--top` features with the most values outside: index, share below -0.1 and
above 1.1, and the feature's step ratio; `one_step`, the decoder's teacher-forced one-step
error against persistence (x_t = x_{t-1}) on 1000 test windows: the per-feature ratio of the rms
residuals over t >= 1 (median, and how many features the decoder predicts worse than
persistence). Unless --disc_iterations=0, also the published
protocol's discriminative and subset correlational scores against that many random windows of
the series (capped); with --tells=K, `tells`: the K window statistics that best tell the
generated windows from those real ones (`ldx.metrics.tells`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks.common import emit
from ldx import metrics
from ldx.eval import published
from ldx.ld.generate import sample_latents
from ldx.nn import decode_sample
from ldx.train import load_run

_WORKDIRS = flags.DEFINE_list("workdirs", None, "Trained LD/PSLD workdirs.")
_TAUS = flags.DEFINE_list("temperatures", ["1"], "Decoder noise scales tau.")
_NUM = flags.DEFINE_integer("num_windows", 2000, "Generated windows and the reference's cap.")
_TOP = flags.DEFINE_integer("top", 5, "Features listed, most values outside first.")
_DISC = flags.DEFINE_integer("disc_iterations", 0, "Discriminative GRU steps (0: range only).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Repeats of the learned score.")
_TELLS = flags.DEFINE_integer(
    "tells", 0, "Also list this many most telling window statistics.", lower_bound=0
)
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")
flags.mark_flags_as_required(["workdirs"])


def _by_feature(real: np.ndarray, x: np.ndarray, top: int) -> list[dict]:
    low, high = (x < -0.1).mean(axis=(0, 1)), (x > 1.1).mean(axis=(0, 1))  # [D]
    return [
        {
            "feature": int(d),
            "below": round(float(low[d]), 5),
            "above": round(float(high[d]), 5),
            "step_ratio": round(metrics.step_ratio(real[..., d : d + 1], x[..., d : d + 1]), 3),
        }
        for d in np.argsort(-(low + high))[:top]
    ]


def _feature_median(real: np.ndarray, x: np.ndarray) -> float:
    """The median over features of each feature's own step ratio: the pooled one is dominated by
    the roughest channels and hides jitter in smooth ones."""
    ratios = [
        metrics.step_ratio(real[..., d : d + 1], x[..., d : d + 1]) for d in range(x.shape[-1])
    ]
    return round(float(np.median(ratios)), 3)


def _one_step(model, test: np.ndarray) -> dict:
    x = jnp.asarray(test[:1000])
    mean = np.asarray(model.decode(model.encode(x)[0], x)[0])  # posterior means, teacher forced
    x = np.asarray(x)
    decoder = np.sqrt(((x - mean)[:, 1:] ** 2).mean(axis=(0, 1)))  # [D]
    persistence = np.sqrt((np.diff(x, axis=1) ** 2).mean(axis=(0, 1)))  # [D]
    ratio = decoder / np.maximum(persistence, 1e-12)
    return {
        "vs_persistence_median": round(float(np.median(ratio)), 3),
        "features_worse": int((ratio > 1).sum()),
        "of": len(ratio),
    }


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
        dec = jax.jit(lambda z, k, tau: decode_sample(model.decoder, z, k, t, d, tau, exp.tie))
        one_step = _one_step(model, data.test)  # the model's, whatever tau
        test = data.scaler.expand(data.test)  # every column, as the data hold them
        for tau in map(float, _TAUS.value):
            x = data.scaler.expand(np.asarray(dec(z, key, tau)))  # [N, T, D]
            outside = (x < -0.1) | (x > 1.1)
            record = {
                "workdir": workdir,
                **exp.describe(),
                "train_steps": int(run.state.step),
                "tau": tau,
                "num_windows": len(real),
                "outside": metrics.outside_share(x),
                "step_ratio": metrics.step_ratio(test, x),
                "step_ratio_feature_median": _feature_median(test, x),
                "by_t": outside.mean(axis=(0, 2)).round(4).tolist(),
                "features": _by_feature(test, x, _TOP.value),
                "one_step": one_step,
            }
            xp = scaler.transform(data.scaler.inverse_transform(x))  # the reference's scale
            if _DISC.value:
                disc = metrics.discriminative_score(
                    real, xp, jax.random.key(2), iterations=_DISC.value, repeats=_REPEATS.value
                )
                record["discriminative"] = published.summary(disc.values)
                corr = published.correlational_subsets(real, xp, 5, 0)
                record["correlational"] = published.summary(corr)
            if _TELLS.value:
                record["tells"] = metrics.tells(real, xp, _TELLS.value)
            emit(record, _OUT.value)


if __name__ == "__main__":
    app.run(main)
