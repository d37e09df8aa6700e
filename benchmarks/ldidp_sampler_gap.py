"""LDIDP: where the explicit sampler's lower spiral MMD comes from (issue 22).

    python -m benchmarks.ldidp_sampler_gap --workdir=W \
        --out=benchmarks/results/ldidp/sampler_gap.jsonl

The explicit sampler reaches each z_k by M Langevin steps on N(mu_k, sigma^2 I) started from
N(0, I). Each step contracts towards mu_k by (1 - s/2) (s = delta / sigma^2), so after M steps
z_k = mu_k + (1 - s/2)^M (z_init - mu_k) + noise: the mean is mu_k shrunk towards 0 by the factor
1 - (1 - s/2)^M (0.9941 at s = 0.1, M = 100), and the variance is sigma^2 / (1 - s/4). Both
differ from the implicit sampler at eta = 1. This benchmark separates them: one
`ldidp_sampler_gap` line per variant, with the sample MMD against the test windows (RBF,
median bandwidth of the test windows) averaged over `--seeds` sampling seeds; every variant
starts from the same z_0 draws per seed (paired):

* `implicit_eta0`, `implicit_eta1`: the committed sampler;
* `implicit_eta_stationary`: eta = 1 / sqrt(1 - s/4), the explicit chain's stationary variance;
* `implicit_eta1_shrunk`: eta = 1 with every transition mean multiplied by 1 - (1 - s/2)^M,
  the explicit chain's start bias;
* `explicit_M`: the committed explicit sampler; `explicit_3M`: three times the steps (start
  forgotten); `explicit_M_from_mean`: M steps started at mu_k (no start bias).
"""

from __future__ import annotations

import math

import jax
import numpy as np
from absl import app, flags

from benchmarks.common import emit
from ldx import compilation_cache
from ldx.ldidp import metrics
from ldx.ldidp.samplers import _rollout, explicit_rollout, implicit_rollout
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained ldidp workdir.")
_NUM = flags.DEFINE_integer("num", 500, "Generated windows per MMD.")
_SEEDS = flags.DEFINE_integer("seeds", 5, "Sampling seeds averaged in each MMD.")
_STEPS = flags.DEFINE_integer("langevin_steps", 100, "M, explicit sampler steps per bin.")
_STEP_SIZE = flags.DEFINE_float("langevin_step_size", 0.1, "s = delta / sigma^2.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")
_TAG = flags.DEFINE_string("tag", "", "Free label copied into every line.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    compilation_cache.enable()
    run = load_run(_WORKDIR.value)
    exp, model = run.experiment, run.model()
    ds, sigma = exp.dataset, model.cfg.sigma
    t, m, s = ds.seq_len, _STEPS.value, _STEP_SIZE.value
    real = np.asarray(ds.test)
    bandwidth = metrics.median_bandwidth(real.reshape(len(real), -1))
    shrink = 1.0 - (1.0 - s / 2) ** m

    def langevin_from_mean(z0, key):
        delta = s * sigma**2

        def draw(mu, k):
            def step(z, kk):
                xi = jax.random.normal(kk, z.shape, z.dtype)
                return z - 0.5 * delta * (z - mu) / sigma**2 + math.sqrt(delta) * xi, None

            return jax.lax.scan(step, mu, jax.random.split(k, m))[0]

        return _rollout(model, z0, key, t, draw, True)

    def shrunk(z0, key):
        def draw(mu, k):
            return shrink * mu + sigma * jax.random.normal(k, mu.shape, mu.dtype)

        return _rollout(model, z0, key, t, draw, True)

    variants = {
        "implicit_eta0": lambda z0, k: implicit_rollout(model, z0, k, t, 0.0),
        "implicit_eta1": lambda z0, k: implicit_rollout(model, z0, k, t, 1.0),
        "implicit_eta_stationary": lambda z0, k: implicit_rollout(
            model, z0, k, t, 1.0 / math.sqrt(1.0 - s / 4)
        ),
        "implicit_eta1_shrunk": shrunk,
        "explicit_M": lambda z0, k: explicit_rollout(model, z0, k, t, m, s),
        "explicit_3M": lambda z0, k: explicit_rollout(model, z0, k, t, 3 * m, s),
        "explicit_M_from_mean": langevin_from_mean,
    }
    for name, rollout in variants.items():

        def draw(key, rollout=rollout):
            k0, k = jax.random.split(key)
            return rollout(model.sample_init(k0, _NUM.value), k)[1]

        fn = jax.jit(draw)
        mmds = [
            metrics.mmd(np.asarray(fn(jax.random.key(seed))), real, bandwidth)
            for seed in range(_SEEDS.value)
        ]
        emit(
            {
                "benchmark": "ldidp_sampler_gap",
                "data": exp.data.name,
                "workdir": _WORKDIR.value,
                "tag": _TAG.value,
                "variant": name,
                "langevin_steps": m,
                "langevin_step_size": s,
                "mean_shrink": shrink,
                "mmd": float(np.mean(mmds)),
                "mmd_std": float(np.std(mmds)),
                "mmds": [round(v, 5) for v in mmds],
            },
            _OUT.value,
        )


if __name__ == "__main__":
    app.run(main)
