"""Evaluating a trained LDIDP run: latent recovery, co-smoothing, decoding, sample statistics.

Shapes (ldx/shapes.py):
N windows (trials), T time, D features, Din held-in, Z latent, G true latent.

`evaluate(experiment, model)` returns a flat dict of numbers (and writes figures when asked):

* synthetic data (spiral, spikes_*): `latent_mse`, `latent_corr`, `latent_r2` on the test
  windows after the affine map from inferred (posterior-mean) to true latents that is fitted on
  the training windows; `latent_first_ratio` (the first bin's squared error over the mean of
  bins 2..T) and `latent_last_ratio` (bin T's over the mean of bins 1..T-1);
* mc_maze: `co_bps` (bits per spike of the held-out neurons of the local validation trials given
  their held-in neurons), `baseline_co_bps` (spike smoothing + Poisson GLM on the same split),
  `vel_r2` (ridge from inferred latents to hand velocity, fitted on the training trials) and
  `baseline_vel_r2` (the same from smoothed held-in spikes);
* every data set: `test_elbo` per window, and sample statistics of `num_samples` generated
  windows against the test windows: `mmd` (RBF kernel, median-distance bandwidth of the real
  windows) beside `mmd_real` (training vs test windows, the sampling-noise floor), and for counts
  `rate_corr` / `rate_mae` between per-feature mean rates.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from ldx.batching import batch_map
from ldx.data import split_indices
from ldx.data.nlb import load_nlb
from ldx.data.sources import dataset_path
from ldx.errors import ConfigError
from ldx.ldidp import metrics
from ldx.ldidp.experiment import LDIDPExperiment
from ldx.ldidp.model import LDIDP
from ldx.ldidp.objective import elbo_terms, posterior, posterior_mean
from ldx.ldidp.samplers import SamplerConfig, sample
from ldx.progress import phase


def _batched(fn, x: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """A jitted fn over x [N, ...] in fixed-size chunks (`ldx.batching.batch_map`)."""
    return list(batch_map(lambda i, size, xb: fn(xb), x, batch_size=batch_size))


def _mean_obs(model: LDIDP, z: jax.Array) -> jax.Array:
    """E[x | z]: the Gaussian mean, Bernoulli probability or Poisson rate. # [..., Z] -> [..., D]"""
    out = model.decode(z)
    if model.cfg.observation == "poisson":
        return jnp.exp(out)
    if model.cfg.observation == "bernoulli":
        return jax.nn.sigmoid(out)
    return out


def infer(
    model: LDIDP, x: np.ndarray, num_samples: int = 0, seed: int = 0, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior-mean latents and the observation means they imply.

    Args:
      model: a trained LDIDP.
      x: windows (the encoder reads their first Din features). # [N, T, D]
      num_samples: 0: E[x | z = E_q z] (plug-in); S > 0: the posterior predictive mean
        E_q[E[x | z]] estimated from S posterior sample paths.
      seed: seeds the posterior samples.
      batch_size: windows per compiled call.

    Returns:
      (z, mean): E_q[z_{1:T}] [N, T, Z] and the predicted observation means [N, T, D] (rates
      for Poisson, probabilities for Bernoulli).
    """
    key = jax.random.key(seed)
    z_dim = model.cfg.latent_dim

    @jax.jit
    def fn(xb):
        z = posterior_mean(model, xb)
        if not num_samples:
            return z, _mean_obs(model, z)
        b, t = xb.shape[:2]

        def one(k):
            k0, k1 = jax.random.split(k)
            eps0 = jax.random.normal(k0, (b, z_dim))
            eps = jax.random.normal(k1, (b, t, z_dim))
            return _mean_obs(model, posterior(model, xb, eps0, eps)[0])

        return z, jax.lax.map(one, jax.random.split(key, num_samples)).mean(0)

    z, mean = _batched(fn, x, batch_size)
    return z, mean


def heldout_elbo(model: LDIDP, x: np.ndarray, key: jax.Array) -> float:
    """Mean one-sample ELBO per window (nats) on x [N, T, D]."""

    @jax.jit
    def fn(xb):
        loglik, kl0, kl = elbo_terms(model, xb, key)
        return (loglik - kl0 - kl.sum(-1),)

    return float(_batched(fn, x, 256)[0].mean())


def mc_maze_scores(
    exp: LDIDPExperiment,
    z_train: np.ndarray,
    z_test: np.ndarray,
    rates_test: np.ndarray,
    baseline_std_bins: float = 12.0,
    baseline_alpha: float = 0.1,
    ridge_l2: float | None = None,
) -> dict[str, float]:
    """Co-smoothing and velocity decoding on the local train/validation split of MC_Maze_Small.

    Args:
      exp: the experiment (its data config gives the file and the split).
      z_train: inferred latents of the training trials. # [Ntr, T, Z]
      z_test: inferred latents of the validation trials. # [Nte, T, Z]
      rates_test: predicted rates of all neurons of the validation trials. # [Nte, T, D]
      baseline_std_bins: smoothing kernel sd in bins (12 = nlb_tools' 60 ms at 5 ms bins).
      baseline_alpha: GLM penalty of the baseline (nlb_tools: 0.1 for MC_Maze_Small).
      ridge_l2: ridge penalty of the velocity decoders; None: 5-fold cross-validation over the
        training trials.
    """
    d = exp.data
    path = d.path or dataset_path("mc_maze", d.data_dir or None)
    nlb = load_nlb(path)
    train, test = split_indices(len(nlb.spikes), d)
    h = nlb.num_heldin
    spikes, vel = nlb.spikes, nlb.behavior
    base = metrics.smoothing_baseline(
        spikes[train, :, :h],
        spikes[train, :, h:],
        spikes[test, :, :h],
        baseline_std_bins,
        baseline_alpha,
    )
    smooth = metrics.gaussian_smooth(spikes[:, :, :h], baseline_std_bins)
    return {
        "co_bps": metrics.bits_per_spike(rates_test[..., h:], spikes[test, :, h:]),
        "baseline_co_bps": metrics.bits_per_spike(base, spikes[test, :, h:]),
        "vel_r2": metrics.ridge_r2(z_train, vel[train], z_test, vel[test], ridge_l2),
        "baseline_vel_r2": metrics.ridge_r2(
            smooth[train], vel[train], smooth[test], vel[test], ridge_l2
        ),
        "num_train_trials": len(train),
        "num_test_trials": len(test),
    }


def sample_statistics(
    generated: np.ndarray, real: np.ndarray, reference: np.ndarray, counts: bool, mmd_bin: int = 1
) -> dict[str, float]:
    """MMD of generated vs real windows (and of reference vs real), and mean-rate agreement.

    Args:
      generated: generated windows. # [M, T, D]
      real: real test windows. # [N, T, D]
      reference: other real windows (training), for the sampling-noise floor. # [N', T, D]
      counts: spike data: also compare per-feature mean rates.
      mmd_bin: consecutive bins summed before the MMD (coarser spike-count windows).
    """

    def prep(x):
        return metrics.bin_counts(x, mmd_bin) if mmd_bin > 1 else np.asarray(x)

    g, r, ref = prep(generated), prep(real), prep(reference)
    h = metrics.median_bandwidth(r.reshape(len(r), -1))
    out = {"mmd": metrics.mmd(g, r, h), "mmd_real": metrics.mmd(ref[: len(g)], r, h)}
    if counts:
        rate_gen, rate_real = generated.mean((0, 1)), real.mean((0, 1))  # [D]
        out["rate_corr"] = float(metrics.pearson(rate_gen[:, None], rate_real[:, None])[0])
        out["rate_mae"] = float(np.abs(rate_gen - rate_real).mean())
        out["rate_real_mean"] = float(rate_real.mean())
    return out


def generate(
    model: LDIDP, sampler: SamplerConfig, num: int, seq_len: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(latents [num, T, Z], observations [num, T, D]) from the sampler, in one jitted call."""
    fn = jax.jit(lambda key: sample(model, sampler, key, num, seq_len))
    z, x = fn(jax.random.key(seed))
    return np.asarray(z), np.asarray(x)


def evaluate(
    exp: LDIDPExperiment,
    model: LDIDP,
    num_samples: int = 500,
    seed: int = 0,
    mmd_bin: int | None = None,
    figures_dir: str | None = None,
    rate_samples: int = 20,
) -> tuple[dict[str, float], np.ndarray]:
    """Every metric of the module docstring for a trained model; figures into figures_dir.

    Args:
      exp: the run's experiment.
      model: the trained model (EMA parameters, usually).
      num_samples: generated windows for the sample statistics.
      seed: sampling seed.
      mmd_bin: bins summed before the MMD; default 1, or 10 (50 ms) for MC_Maze.
      figures_dir: where to write `latents.png` (synthetic) and `raster.png` (counts).
      rate_samples: MC_Maze: also score co-bps with posterior predictive rates from this many
        posterior samples (`co_bps_sampled`); 0 skips it.

    Returns:
      (numbers, generated windows [num_samples, T, D] in the model's (normalised) units).
    """
    ds, d = exp.dataset, exp.data
    counts = model.cfg.observation != "gaussian"
    with phase(f"posterior latents of {len(ds.train)} + {len(ds.test)} windows, test ELBO"):
        z_train, _ = infer(model, ds.train)
        z_test, mean_test = infer(model, ds.test)
        out: dict[str, float] = {"test_elbo": heldout_elbo(model, ds.test, jax.random.key(seed))}
    truth = exp.true_latents()
    if truth is not None:
        train, test = split_indices(len(truth), d)
        scores = metrics.affine_alignment(z_train, truth[train], z_test, truth[test])
        out.update({f"latent_{k}": v for k, v in scores.items()})
        err = metrics.per_bin_mse(z_train, truth[train], z_test, truth[test])  # [T]
        out["latent_first_ratio"] = float(err[0] / err[1:].mean())
        out["latent_last_ratio"] = float(err[-1] / err[:-1].mean())
    if exp.reference == "nlb":
        with phase("co-smoothing, GLM baseline and velocity decoding"):
            out.update(mc_maze_scores(exp, z_train, z_test, mean_test))
            if rate_samples:  # co-bps of the posterior predictive rates as well
                _, sampled = infer(model, ds.test, rate_samples, seed)
                h = model.cfg.din
                heldout = ds.test[..., h:]
                out["co_bps_sampled"] = metrics.bits_per_spike(sampled[..., h:], heldout)
    with phase(f"drawing {num_samples} windows, their MMD and rates"):
        z_gen, x_gen = generate(model, exp.sampler, num_samples, ds.seq_len, seed)
        bin_width = mmd_bin if mmd_bin is not None else (10 if exp.reference == "nlb" else 1)
        out.update(sample_statistics(x_gen, ds.test, ds.train, counts, bin_width))
    if figures_dir:
        from ldx.eval.plotting import plot_rasters
        from ldx.ldidp import figures

        os.makedirs(figures_dir, exist_ok=True)
        if truth is not None:
            w = metrics.fit_affine(z_train, truth[train])
            figures.plot_latents(
                truth[test],
                metrics.apply_affine(w, z_test),
                os.path.join(figures_dir, "latents.png"),
            )
        if counts:
            plot_rasters(ds.test, x_gen, os.path.join(figures_dir, "raster.png"))
    return out, x_gen


def evaluate_run(run, **kwargs) -> tuple[dict, np.ndarray]:
    """Evaluates a loaded `ldidp` run (EMA parameters); `launch.evaluate` calls this for ldidp.

    Args:
      run: `ldx.train.load_run(workdir)` of a run trained with an ldidp config.
      **kwargs: passed to `evaluate` (num_samples, seed, mmd_bin, figures_dir, rate_samples).

    Returns:
      (results: the run's description and settings plus `evaluate`'s numbers, the generated
       windows [num_samples, T, D] in normalised units).
    """
    exp = run.experiment
    if not isinstance(exp, LDIDPExperiment):
        raise ConfigError(f"{run.workdir} holds a {exp.method!r} run, not an ldidp run.")
    numbers, x_gen = evaluate(exp, run.model(), **kwargs)
    settings = {k: v for k, v in kwargs.items() if k != "figures_dir"}
    head = {
        "workdir": run.workdir,
        **exp.describe(),
        "train_steps": int(run.state.step),
        "eval": settings,
    }
    return {**head, **numbers}, x_gen


def markdown(results: dict, figures: list[str]) -> str:
    """One ldidp run's report: settings, one row per number, links to the figures."""
    lines = [
        f"# Evaluation of `{results['workdir']}`",
        "",
        f"ldidp on {results['dataset']}, seed {results['seed']}, {results['train_steps']} "
        f"training steps; settings {json.dumps(results['eval'])}. The metrics are defined in "
        "ldx/ldidp/evaluation.py and docs/ldidp.md.",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for name, v in results.items():
        if isinstance(v, float):
            lines.append(f"| {name} | {v:.4f} |")
    lines += [""] + [f"![{os.path.splitext(f)[0]}]({f})" for f in figures]
    return "\n".join(lines) + "\n"
