"""The sample-quality ablation: train one (dataset, variant) cell, then probe and score it.

    python -m benchmarks.quality_ablation --dataset=stocks --variant=lv14 --workdir=W

Each variant is a set of overrides on configs/default.py (see VARIANTS). The cell prints one
JSON line with:
* `calibration`: the decoder's teacher-forced sigma against its one-step residual on held-out
  windows and the share of log-variances at the lower bound;
* for each way of drawing windows (latents from the `prior` or the `posterior` of held-out
  windows; decoding with `noise` or the `mean`): the share of values outside [-0.1, 1.1] in
  normalised units, the mean step |x_t - x_{t-1}| against the real one, and the published
  protocol's discriminative and correlational scores (ldx.eval.published) against every real window;
* the published predictive score of the default draw (prior, noise).
Comparing `posterior/*` with `prior/*` isolates the prior; `*/mean` with `*/noise` the decoder's
observation noise; variants isolate training choices.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from configs import default
from ldx import metrics
from ldx.batching import draw, make_generate_fn
from ldx.data import DataConfig
from ldx.errors import LdxError
from ldx.eval import published
from ldx.experiment import build_experiment, typed
from ldx.ld.generate import sample_latents
from ldx.nn import decode_sample
from ldx.train import load_run, train

VARIANTS = {
    "base": {"model.logvar_min": -8.0},  # the defaults before the ablation
    "lv14": {"model.logvar_min": -14.0},
    "lv14_in": {"model.logvar_min": -14.0, "objective.input_noise": 0.01},
    "lv14_in03": {"model.logvar_min": -14.0, "objective.input_noise": 0.03},
    "lv14_ss25": {"model.logvar_min": -14.0, "objective.scheduled_sampling": 0.25},
    "lv14_ss50": {"model.logvar_min": -14.0, "objective.scheduled_sampling": 0.5},
    "lv14_ss75": {"model.logvar_min": -14.0, "objective.scheduled_sampling": 0.75},
    "lv14_ss100": {"model.logvar_min": -14.0, "objective.scheduled_sampling": 1.0},
    "lv14_kl01": {"model.logvar_min": -14.0, "objective.kl_weight": 0.1},
    "lv14_kl01_ss25": {
        "model.logvar_min": -14.0,
        "objective.kl_weight": 0.1,
        "objective.scheduled_sampling": 0.25,
    },
    "lv14_psld": {"model.logvar_min": -14.0, "method": "psld"},
    "rank8": {"model.logvar_min": -14.0, "model.noise_rank": 8},
    "rank8_in": {"model.logvar_min": -14.0, "model.noise_rank": 8, "objective.input_noise": 0.01},
    "rank8_psld": {"model.logvar_min": -14.0, "model.noise_rank": 8, "method": "psld"},
}
DRAWS = ("prior/noise", "prior/mean", "posterior/noise", "posterior/mean")
_DATASET = flags.DEFINE_string("dataset", "sines", "Dataset name.")
_VARIANT = flags.DEFINE_enum("variant", "base", list(VARIANTS), "Variant of configs/default.py.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the cell trains (reused if finished).")
_STEPS = flags.DEFINE_integer("num_steps", 4000, "Training steps (a variant may override).")
_SEED = flags.DEFINE_integer("seed", 0, "Training seed.")
_MAX = flags.DEFINE_integer("max_windows", 0, "Cap on the published reference set (0 = all).")
_PRED = flags.DEFINE_integer("pred_iterations", 5000, "Predictive GRU steps.")
_DISC = flags.DEFINE_integer("disc_iterations", 2000, "Discriminative GRU steps.")
_DRAWS = flags.DEFINE_list("draws", list(DRAWS), "Which draws to score (prior/noise always).")
flags.mark_flags_as_required(["workdir"])


def cell_config(dataset: str, variant: str, num_steps: int, seed: int):
    config = default.get_config()
    config.data.name = dataset
    config.seed = seed
    config.train.num_steps = num_steps
    config.train.progress_bar = False
    config.train.sample_after = False
    config.train.dependency_every = 0
    config.train.keep_checkpoints = 1
    config.train.checkpoint_every = num_steps
    for path, value in VARIANTS[variant].items():
        *parents, leaf = path.split(".")
        section = config
        for p in parents:
            section = section[p]
        section[leaf] = value
    return config


def main(_):
    start = time.perf_counter()
    config = cell_config(_DATASET.value, _VARIANT.value, _STEPS.value, _SEED.value)
    try:
        run = load_run(_WORKDIR.value)
    except LdxError:  # not trained yet (no config.json or checkpoint)
        train(build_experiment(config), _WORKDIR.value)
        run = load_run(_WORKDIR.value)
    train_s = time.perf_counter() - start
    exp, model = run.experiment, run.model(True)
    data = exp.dataset
    pcfg = published.PublishedConfig(
        num_windows=_MAX.value, pred_iterations=_PRED.value, context_fid=False
    )
    dcfg = typed(DataConfig, config.data, "data", seed=config.seed)
    real_pub, pub_scaler = published.reference(dcfg, pcfg)
    n = len(real_pub)
    t, d = data.test.shape[1:]
    held = data.test[np.random.default_rng(0).choice(len(data.test), min(n, len(data.test)))]

    mean, logvar = model.decode(model.encode(jnp.asarray(held))[0], jnp.asarray(held))[:2]
    resid, logvar = np.asarray(held - mean), np.asarray(logvar)
    out = {
        "dataset": _DATASET.value,
        "variant": _VARIANT.value,
        "seed": _SEED.value,
        "train_steps": int(run.state.step),
        "num_windows": n,
        "train_seconds": round(train_s, 1),
        "calibration": {
            "sigma_median": float(np.median(np.exp(0.5 * logvar))),
            "resid_rms": float(np.sqrt(np.mean(resid**2))),
            "z_rms": float(np.sqrt(np.mean(resid**2 / np.exp(logvar)))),
            "at_lower_bound": float(np.mean(logvar < model.cfg.logvar_min + 0.05)),
        },
    }

    def to_pub(x):  # normalised training units -> published scale
        return pub_scaler.transform(data.scaler.inverse_transform(x))

    key = jax.random.key(1)
    gen = make_generate_fn(run.model_fn, exp.generate)
    fake = {"prior/noise": draw(gen, run.params(True), key, n, 1000)}
    dec = jax.jit(lambda z, k: decode_sample(model.decoder, z, k, t, d, False, exp.tie))
    z_prior = sample_latents(model, exp.schedule, exp.sampler, key, min(n, 4000))
    fake["prior/mean"] = np.asarray(dec(z_prior, key))
    z_post = model.encode(jnp.asarray(held[:4000]))[0]
    post = jax.jit(lambda z, k: decode_sample(model.decoder, z, k, t, d, True, exp.tie))
    fake["posterior/noise"] = np.asarray(post(z_post, key))
    fake["posterior/mean"] = np.asarray(dec(z_post, key))
    real_sub = real_pub[np.random.default_rng(1).choice(n, min(n, 4000), replace=False)]
    step_real = float(np.abs(np.diff(held, axis=1)).mean())
    fake = {k: v for k, v in fake.items() if k == "prior/noise" or k in _DRAWS.value}
    for name, x in fake.items():
        ref = real_pub if len(x) == n else real_sub
        xp = to_pub(x)
        kd = jax.random.key(2)
        out[name] = {
            "outside_tol": float(np.mean((x < -0.1) | (x > 1.1))),
            "outside_01": float(np.mean((x < 0) | (x > 1))),
            "step_ratio": float(np.abs(np.diff(x, axis=1)).mean()) / step_real,
            "discriminative": published.summary(
                metrics.discriminative_score(ref, xp, kd, iterations=_DISC.value, repeats=5).values
            ),
            "correlational": published.summary(published.correlational_subsets(ref, xp, 5, 0)),
        }
    out["prior/noise"]["predictive"] = published.summary(
        metrics.predictive_score(
            real_pub,
            to_pub(fake["prior/noise"]),
            jax.random.key(3),
            iterations=_PRED.value,
            repeats=5,
        ).values
    )
    np.savez_compressed(
        f"{_WORKDIR.value}/probe_samples.npz",
        real=held[:64],
        **{k.replace("/", "_"): v[:64] for k, v in fake.items()},
    )
    out["seconds"] = round(time.perf_counter() - start, 1)
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    app.run(main)
