"""Sample scores per sampler, on one trained run: which fast sampler matches 1000-step DDPM?

    python -m benchmarks.sampler_quality --workdir=W --samplers=ddpm,ddim:100,ddim:50 \
        --out=benchmarks/results/sampler_quality.jsonl

Draws the same number of windows as the published reference set (`--num_windows` caps it)
with each sampler from the run's EMA parameters, with the same key, and scores them with
the published protocol (`ldx.eval.published.score`: discriminative, predictive, correlational
over R repeats) plus the share of values outside [0, 1] and the mean step |x_t - x_{t-1}|
against the real windows' (normalised units), and the latents' spread: the share of 2000 prior
draws whose norm exceeds the 99.9% quantile of posterior draws' norms on training windows. One
JSON line per sampler; `within_1sd` says,
per repeated metric, whether |mean - mean_ddpm| <= the sample standard deviation of DDPM's
repeats (the first sampler listed is the reference). `NAME@S` draws with seed S (default: the
protocol's seed, 0), to see how far a second draw of the same sampler moves the scores.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks.common import emit, sampler_variant
from ldx.eval import published
from ldx.eval.scores import describe, generate_windows
from ldx.ld.generate import sample_latents
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained LD/PSLD run.")
_SAMPLERS = flags.DEFINE_list(
    "samplers", ["ddpm", "ddim:100", "ddim:50"], "ddpm, ddim:K or ddim:K:ETA."
)
_NUM = flags.DEFINE_integer("num_windows", 2000, "Cap on the reference set (0 = all).")
_DISC = flags.DEFINE_integer("disc_iterations", 2000, "Discriminative GRU steps.")
_PRED = flags.DEFINE_integer("pred_iterations", 5000, "Predictive GRU steps.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Repeats of each learned metric.")
_SCORE = flags.DEFINE_bool("score", True, "Run the published metrics (else draws and spread only).")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")
flags.mark_flags_as_required(["workdir"])


def with_sampler(run, name: str):
    """The run drawing with `ddpm`, `ddim:K` or `ddim:K:ETA` (everything else as trained)."""
    sampler = sampler_variant(run.experiment.sampler, name)
    return dataclasses.replace(run, experiment=dataclasses.replace(run.experiment, sampler=sampler))


def latent_spread(run, num: int = 2000) -> dict:
    """Norms of `num` prior latents against those of posterior draws for training windows."""
    model, exp = run.model(True), run.experiment
    mean, logvar = model.encode(jnp.asarray(exp.dataset.train[:num]))
    noise = jax.random.normal(jax.random.key(1), mean.shape)
    post = mean if logvar is None else mean + jnp.exp(0.5 * logvar) * noise  # [N, Z]
    limit = float(np.quantile(np.linalg.norm(post, axis=1), 0.999))
    draw = jax.jit(lambda key: sample_latents(model, exp.schedule, exp.sampler, key, num))
    norms = np.linalg.norm(np.asarray(draw(jax.random.key(0))), axis=1)  # [N]
    return {
        "posterior_norm_q999": limit,
        "latent_norm_max": float(norms.max()),
        "latents_beyond_posterior_q999": float(np.mean(norms > limit)),
    }


def main(argv):
    del argv
    run = load_run(_WORKDIR.value)
    cfg = published.PublishedConfig(
        num_windows=_NUM.value,
        repeats=_REPEATS.value,
        disc_iterations=_DISC.value,
        pred_iterations=_PRED.value,
        context_fid=False,
    )
    real, scaler = published.reference(run.experiment.data, cfg)
    data = run.experiment.dataset
    step_real = float(np.abs(np.diff(data.test, axis=1)).mean())
    reference = None
    for name in _SAMPLERS.value:
        start = time.perf_counter()
        sampler, _, draw_seed = name.partition("@")  # e.g. ddpm@1: draw with seed 1
        fake = generate_windows(with_sampler(run, sampler), len(real), int(draw_seed or cfg.seed))
        draw_s = time.perf_counter() - start
        scores = {}
        if _SCORE.value:
            fake_pub = scaler.transform(data.scaler.inverse_transform(fake))
            scores = published.score(real, fake_pub, cfg)
            reference = reference or scores
        emit(
            {
                "benchmark": "sampler_quality",
                **describe(run),
                "sampler": name,
                "num_windows": len(real),
                "eval": dataclasses.asdict(cfg),
                "draw_seconds": draw_s,
                "outside_01": float(np.mean((fake < 0) | (fake > 1))),
                "step_ratio": float(np.abs(np.diff(fake, axis=1)).mean()) / step_real,
                **latent_spread(with_sampler(run, sampler)),
                **scores,
                "within_1sd": {
                    metric: bool(
                        abs(s["mean"] - reference[metric]["mean"])
                        <= np.std(reference[metric]["values"], ddof=1)
                    )
                    for metric, s in scores.items()
                },
            },
            _OUT.value,
        )


if __name__ == "__main__":
    app.run(main)
