"""Separates the causes of poor samples in a trained LD/PSLD run (the quality issue's ablation).

    python -m benchmarks.quality_probe --workdir=W [--num=1000] [--disc_iterations=500]

For one trained run it prints one JSON line per (latent source, decoding) cell:
* latent source `prior` (z from the DDPM, as generation does) vs `posterior` (z encoded from
  held-out windows): the gap is the prior's share of the error;
* decoding `noise` (x_t ~ N(mu_t, sigma_t^2), the default) vs `mean` (x_t = mu_t);
and, for each, the share of values outside [0, 1] and [-0.1, 1.1], the mean step |x_t - x_{t-1}|
against the real windows', and a short discriminative score. A first line reports the decoder's
teacher-forced calibration on held-out windows: predicted sigma against the one-step residual,
and the share of log-variances at the lower bound (a floor the data cannot go below).
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from ldx import metrics
from ldx.ld.generate import sample_latents
from ldx.nn import decode_sample
from ldx.train import load_run

flags.DEFINE_string("workdir", None, "A trained LD/PSLD run.")
flags.DEFINE_integer("num", 1000, "Windows per cell.")
flags.DEFINE_integer("disc_iterations", 500, "Steps of the discriminative GRU (0 skips it).")
flags.DEFINE_integer("seed", 1, "Sampling seed.")
flags.mark_flags_as_required(["workdir"])
FLAGS = flags.FLAGS


def stats(real: np.ndarray, fake: np.ndarray, key, disc_iterations: int) -> dict:
    """Range, roughness and a short discriminative score of fake against real. # [N, T, D]"""
    out = {
        "outside_01": float(np.mean((fake < 0) | (fake > 1))),
        "outside_tol": float(np.mean((fake < -0.1) | (fake > 1.1))),
        "min": float(fake.min()),
        "max": float(fake.max()),
        "step_real": float(np.abs(np.diff(real, axis=1)).mean()),
        "step_fake": float(np.abs(np.diff(fake, axis=1)).mean()),
        "std_real": float(real.std()),
        "std_fake": float(fake.std()),
    }
    if disc_iterations:
        out["discriminative"] = metrics.discriminative_score(
            real, fake, key, iterations=disc_iterations, repeats=1
        ).mean
    return out


def main(_):
    run = load_run(FLAGS.workdir)
    exp, model = run.experiment, run.model(run.experiment.draw.use_ema)
    test = exp.dataset.test
    n = min(FLAGS.num, len(test))
    real = test[np.random.default_rng(0).choice(len(test), n, replace=False)]
    t, d = real.shape[1:]
    mean, logvar = model.decode(model.encode(jnp.asarray(real))[0], jnp.asarray(real))[:2]
    resid = np.asarray(real - mean)
    lo = model.cfg.logvar_min
    print(
        json.dumps(
            {
                "workdir": FLAGS.workdir,
                "cell": "calibration",
                "sigma_pred_median": float(np.median(np.exp(0.5 * np.asarray(logvar)))),
                "resid_rms": float(np.sqrt(np.mean(resid**2))),
                "z_score_rms": float(np.sqrt(np.mean(resid**2 / np.exp(np.asarray(logvar))))),
                "at_lower_bound": float(np.mean(np.asarray(logvar) < lo + 0.05)),
            }
        ),
        flush=True,
    )
    key = jax.random.key(FLAGS.seed)
    k_prior, k_dec, k_disc = jax.random.split(key, 3)
    latents = {
        "prior": sample_latents(model, exp.schedule, exp.sampler, k_prior, n),
        "posterior": model.encode(jnp.asarray(real))[0],
    }
    decode = jax.jit(
        lambda z, k, noise: decode_sample(model.decoder, z, k, t, d, noise), static_argnums=2
    )
    for source, z in latents.items():
        for noise in (True, False):
            fake = np.asarray(decode(z, k_dec, noise))
            cell = {"workdir": FLAGS.workdir, "cell": f"{source}/{'noise' if noise else 'mean'}"}
            print(json.dumps(cell | stats(real, fake, k_disc, FLAGS.disc_iterations)), flush=True)


if __name__ == "__main__":
    app.run(main)
