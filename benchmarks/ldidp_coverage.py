"""LDIDP: why generated windows cover less than the data (issue 22), by measurement.

    python -m benchmarks.ldidp_coverage --workdir=W --out=benchmarks/results/ldidp/coverage.jsonl \
        --figure=benchmarks/results/ldidp/spiral_coverage.png

For a trained ldidp workdir (EMA parameters) emits JSON lines:

* `ldidp_z0`: the aggregate posterior of the initial latent, q(z_0) = mean_n q(z_0 | x_n) over
  the training windows, against the prior p(z_0): per dimension the aggregate mean and variance
  (Var_n mu_0 + E_n s_0^2), and KL(N(m, S) || N(0, I)) of the Gaussian with the aggregate's
  mean and full covariance (0 when the two match to second order); for the mixture prior also
  the Monte-Carlo E_q[log N(m, S)(z) - log p(z)] over z from the aggregate (negative: the prior
  fits the aggregate better than its Gaussian fit) and the same against N(0, I).
* `ldidp_coverage`: sample MMD (against the test windows; RBF, median bandwidth of the test
  windows) for each source of the initial latent and each eta: `prior` (what the sampler draws),
  `aggregate` (z_0 ~ q(z_0 | x_n) of training windows, i.e. the prior replaced by the aggregate
  posterior), and `posterior` (the whole path z_{0:T} ~ q(. | x_n) of training windows, then
  x ~ p(x | z): the decoder's own floor). With the floor `mmd_real` (training vs test windows).
  Also the 5-95% range of each observed coordinate (time-averaged per window) of real and
  generated windows.
* `ldidp_first_step`: synthetic data only: the latent MSE per bin after the affine map fitted
  on the training windows (test windows), k = 1 against the mean of k = 2..T
  (benchmarks/ldidp_edges.py has the whole profile and model-free references).

`--figure` draws real vs generated windows (2-D data: every point of 200 windows in the plane,
plus the time-averaged first coordinate's histogram; counts: the per-window mean count of the
two top principal components).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks.common import emit
from ldx import compilation_cache
from ldx.data import split_indices
from ldx.ldidp import metrics
from ldx.ldidp.evaluation import infer
from ldx.ldidp.objective import posterior
from ldx.ldidp.samplers import implicit_rollout, observe, sample
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained ldidp workdir.")
_NUM = flags.DEFINE_integer("num", 500, "Generated windows per MMD.")
_SEEDS = flags.DEFINE_integer("seeds", 3, "Sampling seeds averaged in each MMD.")
_ETAS = flags.DEFINE_list("etas", ["0", "1"], "Implicit sampler eta values.")
_MMD_BIN = flags.DEFINE_integer("mmd_bin", None, "Bins summed before the MMD (default per data).")
_FIGURE = flags.DEFINE_string("figure", None, "Write real vs generated windows to this PNG.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")
_TAG = flags.DEFINE_string("tag", "", "Free label copied into every line.")
flags.mark_flags_as_required(["workdir"])


def aggregate_posterior(model, x: np.ndarray, batch: int = 256):
    """(mu_0 [N, Z], s_0 [N, Z]) of q(z_0 | x_n) for the windows x [N, T, D]."""
    enc = jax.jit(lambda xb: model.encode(xb[..., : model.cfg.din])[1:])
    parts = [enc(jnp.asarray(x[i : i + batch])) for i in range(0, len(x), batch)]
    mu = np.concatenate([np.asarray(p[0]) for p in parts]).astype(np.float64)
    std = np.concatenate([np.asarray(p[1]) for p in parts]).astype(np.float64)
    return mu, std


def gaussian_kl_full(m: np.ndarray, s: np.ndarray) -> float:
    """KL(N(m, S) || N(0, I)) = (tr S + m'm - Z - log det S) / 2."""
    sign, logdet = np.linalg.slogdet(s)
    return float(0.5 * (np.trace(s) + m @ m - len(m) - logdet)) if sign > 0 else float("inf")


def _prep(x, mmd_bin):
    return metrics.bin_counts(np.asarray(x), mmd_bin) if mmd_bin > 1 else np.asarray(x)


def _range(x: np.ndarray) -> list[list[float]]:
    """5% and 95% quantiles of each feature's per-window time mean. # [N, T, D] -> D x [lo, hi]"""
    m = np.asarray(x).mean(1)  # [N, D]
    return [[float(v) for v in np.quantile(m[:, d], [0.05, 0.95])] for d in range(m.shape[1])]


def main(argv):
    del argv
    compilation_cache.enable()
    run = load_run(_WORKDIR.value)
    exp, model = run.experiment, run.model()
    ds, cfg = exp.dataset, model.cfg
    seq_len = ds.seq_len
    head = {"data": exp.data.name, "workdir": _WORKDIR.value, "tag": _TAG.value}
    mmd_bin = _MMD_BIN.value or (10 if exp.data.name == "mc_maze" else 1)
    real = _prep(ds.test, mmd_bin)
    bandwidth = metrics.median_bandwidth(real.reshape(len(real), -1))
    num = _NUM.value
    mmd_real = metrics.mmd(_prep(ds.train, mmd_bin)[:num], real, bandwidth)

    # --- the initial latent: aggregate posterior vs prior -------------------------------------
    mu0, s0 = aggregate_posterior(model, ds.train)
    agg_mean = mu0.mean(0)
    agg_cov = np.cov(mu0.T) + np.diag((s0**2).mean(0))
    record = {
        "benchmark": "ldidp_z0",
        **head,
        "agg_mean": agg_mean.round(3).tolist(),
        "agg_var": np.diag(agg_cov).round(3).tolist(),
        "var_of_mu0": mu0.var(0).round(3).tolist(),
        "mean_s0": s0.mean(0).round(3).tolist(),
        "agg_cov_eigs": np.linalg.eigvalsh(agg_cov).round(3).tolist(),
    }
    record["kl_gauss_agg_vs_standard"] = gaussian_kl_full(agg_mean, agg_cov)
    if cfg.init_prior != "standard":  # Monte Carlo E_q[log N(m, S)(z) - log p(z)], z ~ q(z_0)
        rng = np.random.default_rng(0)
        idx = rng.integers(0, len(mu0), 20000)
        z = mu0[idx] + s0[idx] * rng.normal(size=(len(idx), mu0.shape[1]))
        d = z - agg_mean
        prec = np.linalg.inv(agg_cov)
        log_g = -0.5 * (np.einsum("ni,ij,nj->n", d, prec, d) + np.linalg.slogdet(agg_cov)[1])
        log_g -= 0.5 * len(agg_mean) * np.log(2 * np.pi)
        log_p = np.asarray(model.init_log_prob(jnp.asarray(z, jnp.float32)), np.float64)
        log_n = -0.5 * (z**2 + np.log(2 * np.pi)).sum(-1)
        record["kl_gauss_agg_vs_prior_mc"] = float((log_g - log_p).mean())
        record["kl_gauss_agg_vs_standard_mc"] = float((log_g - log_n).mean())
        # how well the prior covers the aggregate: E_q[log p(z)] vs E_q[log N(m, S)(z)]
        record["prior_loglik_on_agg"] = float(log_p.mean())
    emit(record, _OUT.value)

    # --- sample MMD per initial-latent source and eta -----------------------------------------
    train_x = jnp.asarray(ds.train)
    n_train = len(ds.train)

    def from_aggregate(key, eta):
        k_idx, k_eps, k_roll = jax.random.split(key, 3)
        idx = jax.random.randint(k_idx, (num,), 0, n_train)
        z0 = jnp.asarray(mu0, jnp.float32)[idx] + jnp.asarray(s0, jnp.float32)[
            idx
        ] * jax.random.normal(k_eps, (num, cfg.latent_dim))
        return implicit_rollout(model, z0, k_roll, seq_len, eta, True)[1]

    def from_posterior(key):
        k_idx, k0, k1, k_x = jax.random.split(key, 4)
        idx = jax.random.randint(k_idx, (num,), 0, n_train)
        xb = train_x[idx]
        eps0 = jax.random.normal(k0, (num, cfg.latent_dim))
        eps = jax.random.normal(k1, (num, seq_len, cfg.latent_dim))
        z = posterior(model, xb, eps0, eps)[0]
        return observe(model, z, k_x, True)

    fns = {}
    for e in _ETAS.value:
        sampler = dataclasses.replace(exp.sampler, sampler="implicit", eta=float(e))
        fns[f"prior_eta{e}"] = jax.jit(lambda k, c=sampler: sample(model, c, k, num, seq_len)[1])
        fns[f"aggregate_eta{e}"] = jax.jit(lambda k, e=float(e): from_aggregate(k, e))
    fns["posterior"] = jax.jit(from_posterior)
    generated = {}
    for name, fn in fns.items():
        xs = [np.asarray(fn(jax.random.key(100 + s))) for s in range(_SEEDS.value)]
        generated[name] = xs[0]
        mmds = [metrics.mmd(_prep(x, mmd_bin), real, bandwidth) for x in xs]
        emit(
            {
                "benchmark": "ldidp_coverage",
                **head,
                "source": name,
                "mmd": float(np.mean(mmds)),
                "mmd_std": float(np.std(mmds)),
                "mmd_real": mmd_real,
                "ratio": float(np.mean(mmds)) / mmd_real,
                "range_generated": _range(xs[0])[:4],
                "range_real": _range(ds.test)[:4],
                "mmd_bin": mmd_bin,
            },
            _OUT.value,
        )

    # --- the first step's latent error ---------------------------------------------------------
    truth = exp.true_latents()
    if truth is not None:
        train, test = split_indices(len(truth), exp.data)
        z_train, _ = infer(model, ds.train)
        z_test, _ = infer(model, ds.test)
        err = metrics.per_bin_mse(z_train, truth[train], z_test, truth[test])  # [T]
        scores = metrics.affine_alignment(z_train, truth[train], z_test, truth[test])
        emit(
            {
                "benchmark": "ldidp_first_step",
                **head,
                "mse_first": float(err[0]),
                "mse_rest_mean": float(err[1:].mean()),
                "ratio": float(err[0] / err[1:].mean()),
                "mse_per_bin_head": err[:5].round(4).tolist(),
                "mse_last": float(err[-1]),
                "latent_corr": scores["corr"],
                "latent_mse": scores["mse"],
            },
            _OUT.value,
        )
    if _FIGURE.value:
        _figure(ds.test, generated[f"prior_eta{_ETAS.value[0]}"], _FIGURE.value, exp.data.name)


def _figure(real: np.ndarray, gen: np.ndarray, path: str, name: str, num: int = 200) -> None:
    """Real vs generated windows over the whole range of the data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real, gen = np.asarray(real)[:num], np.asarray(gen)[:num]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    if real.shape[-1] == 2:
        for ax, data, title in ((axes[0], real, "real (test)"), (axes[1], gen, "generated")):
            for w in data[:num]:
                ax.plot(w[:, 0], w[:, 1], "-", lw=0.4, alpha=0.5)
            ax.set_title(f"{title}: {len(data)} windows", fontsize=9)
            ax.set_xlim(-0.05, 1.05)
            ax.set_ylim(-0.05, 1.05)
        feat_real, feat_gen, label = real.mean(1)[:, 0], gen.mean(1)[:, 0], "window mean of x[0]"
    else:
        # principal components of per-window mean counts (fitted on the real windows)
        r, g = real.mean(1), gen.mean(1)  # [N, D]
        mean = r.mean(0)
        _, _, vt = np.linalg.svd(r - mean, full_matrices=False)
        pr, pg = (r - mean) @ vt[:2].T, (g - mean) @ vt[:2].T
        axes[0].scatter(pr[:, 0], pr[:, 1], s=6, label="real (test)")
        axes[0].scatter(pg[:, 0], pg[:, 1], s=6, label="generated", alpha=0.7)
        axes[0].set_title("window-mean counts, PC1 vs PC2", fontsize=9)
        axes[0].legend(fontsize=7)
        tr = (real - mean) @ vt[0]  # [N, T]
        tg = (gen - mean) @ vt[0]
        for w in tr[:20]:
            axes[1].plot(w, "k-", lw=0.5, alpha=0.5)
        for w in tg[:20]:
            axes[1].plot(w, "r-", lw=0.5, alpha=0.5)
        axes[1].set_title("PC1 over time: real (black), generated (red)", fontsize=9)
        feat_real, feat_gen, label = pr[:, 0], pg[:, 0], "window-mean PC1"
    lo, hi = min(feat_real.min(), feat_gen.min()), max(feat_real.max(), feat_gen.max())
    bins = np.linspace(lo, hi, 30)
    axes[2].hist(feat_real, bins, alpha=0.5, label="real")
    axes[2].hist(feat_gen, bins, alpha=0.5, label="generated")
    axes[2].set_title(label, fontsize=9)
    axes[2].legend(fontsize=7)
    fig.suptitle(f"{name}: real vs generated", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    app.run(main)
