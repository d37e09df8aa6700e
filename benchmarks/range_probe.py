"""Where a trained LD/PSLD run's out-of-range values come from (issue 18, docs/quality.md Cause 3).

    python -m benchmarks.range_probe --workdir=W --out=benchmarks/results/quality/range_probe.jsonl

Emits one JSON line. For six ways of drawing N windows (latents from the `prior`, the
posterior means of the first N test windows, `post`, or one draw z ~ q(z | x) for each of them,
`post_draw`, the aggregate posterior the prior is fitted to; decoded with `noise` or the
`mean`): the share of values outside [-0.1, 1.1] in normalised units, overall and per t
(`by_t`). `prior` against `post_draw` isolates the prior. Then the
prior's far draws: the Mahalanobis distance of N prior latents to the aggregate posterior (one
draw z ~ q(z | x) per training window, its mean and covariance), the share of prior latents
beyond the posterior's 99.9% quantile (`far_share`; 0.001 if the prior matched) and their share
of the out-of-range values (`far_share_of_misses`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks.common import emit
from ldx.ld.generate import sample_latents
from ldx.nn import decode_sample
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained LD/PSLD workdir.")
_NUM = flags.DEFINE_integer("num", 2000, "Windows per draw.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON line to this file.")
flags.mark_flags_as_required(["workdir"])


def _outside(x: np.ndarray) -> np.ndarray:
    return (x < -0.1) | (x > 1.1)  # [N, T, D]


def main(_):
    run = load_run(_WORKDIR.value)
    exp, model = run.experiment, run.model(True)
    data, n, key = exp.dataset, _NUM.value, jax.random.key(1)
    t, d = data.test.shape[1:]
    z_prior = sample_latents(model, exp.schedule, exp.sampler, key, n)
    mean, logvar = model.encode(jnp.asarray(data.test[:n]))
    drawn = (
        mean
        if logvar is None
        else mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
    )
    record = {"workdir": _WORKDIR.value, "num": n}
    # Drawn as the run's samples are: tied columns (exp.tie) stay tied in the loop.
    dec = jax.jit(
        lambda z, noise: decode_sample(model.decoder, z, key, t, d, noise, exp.tie),
        static_argnums=1,
    )
    for latents, z in (("prior", z_prior), ("post", mean), ("post_draw", drawn)):
        for noise in (True, False):
            out = _outside(np.asarray(dec(z, noise)))
            record[f"{latents}/{'noise' if noise else 'mean'}"] = {
                "outside": float(out.mean()),
                "by_t": out.mean(axis=(0, 2)).round(4).tolist(),
            }
    # The aggregate posterior: one draw per training window (LD); PSLD's codes are themselves.
    m, lv = model.encode(jnp.asarray(data.train[:n]))
    q = np.asarray(m if lv is None else m + jnp.exp(0.5 * lv) * jax.random.normal(key, m.shape))
    prec = np.linalg.inv(np.cov(q.T))

    def maha(z):
        c = np.asarray(z) - q.mean(0)
        return np.sqrt(np.einsum("ni,ij,nj->n", c, prec, c))

    far = maha(z_prior) > np.quantile(maha(q), 0.999)
    misses = _outside(np.asarray(dec(z_prior, True))).sum(axis=(1, 2))
    record["far_share"] = float(far.mean())
    record["far_share_of_misses"] = float(misses[far].sum() / max(misses.sum(), 1))
    emit(record, _OUT.value)


if __name__ == "__main__":
    app.run(main)
