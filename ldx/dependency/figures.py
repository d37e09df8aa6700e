"""The figures of a dependency report: per series, and averages over series with bands.

Shapes (ldx/shapes.py): N series, T time, D features, J = T + 1 inputs of a step.

series.png / average.png: the paper's measure (zero baseline). series_latent_use.png /
latent_use.png: the global dependency from each of `latent_use.BASELINES` beside the swap
test's log-likelihoods (ldx/dependency/latent_use.py).
"""

from __future__ import annotations

import numpy as np

from ldx.dependency.latent_use import BASELINES, LATENTS
from ldx.eval.plotting import plt

_BAND = 3  # bands of the averages: +-3 standard errors of the mean


def _save(fig, path: str, title: str) -> None:
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_series(m: np.ndarray, x: np.ndarray, path: str, title: str = "", features: int = 3):
    """One series (top) and its global and first-order local dependency per step (bars).

    Args:
      m: the measure of the series. # [T, J]
      x: the series. # [T, D]
      path: output PNG.
      title: figure title.
      features: features drawn.
    """
    t = np.arange(len(m))
    glob, loc = m[:, 0], np.concatenate([[np.nan], np.diagonal(m, 0)[1:]])  # [T], [T]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    top.plot(t, x[:, :features])
    top.set_ylabel("x_t")
    bottom.bar(t - 0.2, glob, 0.4, label="global  m[t, 0] (on z)")
    bottom.bar(t + 0.2, loc, 0.4, label="local-1  m[t, t] (on x[t-1])")
    bottom.axhline(0.0, color="k", lw=0.5)
    bottom.set_xlabel("t")
    bottom.set_ylabel("dependency")
    bottom.legend(fontsize=8)
    _save(fig, path, title)


def plot_average(c: dict[str, np.ndarray], num: int, path: str, title: str = ""):
    """Mean global and local-1/2 dependency over t with 3-sigma bands (3 standard errors).

    Args:
      c: `curves` of the measures.
      num: N, the number of series averaged.
      path: output PNG.
      title: figure title.
    """
    fig, ax = plt.subplots(figsize=(7, 3.5))
    t = np.arange(len(c["global_mean"]))
    for name, label in (
        ("global", "global (on z)"),
        ("local1", "local-1 (on x[t-1])"),
        ("local2", "local-2 (on x[t-2])"),
    ):
        mean, sem = c[f"{name}_mean"], c[f"{name}_sem"]
        ax.plot(t, mean, marker=".", label=label)
        ax.fill_between(t, mean - _BAND * sem, mean + _BAND * sem, alpha=0.25)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("t")
    ax.set_ylabel(f"mean over {num} series")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_latent_use_series(
    glob: dict[str, np.ndarray], ll: dict[str, np.ndarray], path: str, title: str = ""
):
    """One series: its global dependency per t from each baseline (left, bars) and its
    log p(x_t | z, x_<t) per t under each latent of the swap test (right).

    Args:
      glob: {baseline: global dependency [T]} for BASELINES.
      ll: {latent: log-lik. [T]} for LATENTS.
      path: output PNG.
      title: figure title.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    t = np.arange(len(glob["zero"]))
    width = 0.8 / len(BASELINES)
    for k, name in enumerate(BASELINES):
        left.bar(t + (k - 1) * width, glob[name], width, label=f"from {name.replace('_', ' ')}")
    left.axhline(0.0, color="k", lw=0.5)
    left.set_xlabel("t")
    left.set_ylabel("global dependency (on z)")
    left.legend(fontsize=8)
    for name in LATENTS:
        right.plot(t, ll[name], marker=".", label=f"z = {_LATENT_LABELS[name]}")
    _loglik_axes(right)
    _save(fig, path, title)


def plot_latent_use(
    glob: dict[str, np.ndarray], c: dict[str, np.ndarray], num: int, path: str, title: str = ""
):
    """Means over N series, +-3 standard errors: the global dependency per t from each
    baseline (left), each latent's log-lik. per t (middle) and the swap gap, own- minus
    other-code log-lik. (right).

    Args:
      glob: {baseline: global dependency [N, T]} for BASELINES.
      c: `latent_use.swap_curves` of the swap test.
      num: N.
      path: output PNG.
      title: figure title.
    """
    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(15, 3.8))
    t = np.arange(c["loglik_own_mean"].shape[0])
    for name in BASELINES:
        v = np.asarray(glob[name])  # [N, T]
        mean, sem = v.mean(0), v.std(0) / np.sqrt(len(v))
        left.plot(t, mean, marker=".", label=f"from {name.replace('_', ' ')}")
        left.fill_between(t, mean - _BAND * sem, mean + _BAND * sem, alpha=0.25)
    left.axhline(0.0, color="k", lw=0.5)
    left.set_xlabel("t")
    left.set_ylabel(f"global dependency, mean over {num}")
    left.legend(fontsize=8)
    for name in (*LATENTS, "gap"):
        ax = right if name == "gap" else mid
        mean, sem = c[f"loglik_{name}_mean"], c[f"loglik_{name}_sem"]
        label = "own - other" if name == "gap" else f"z = {_LATENT_LABELS[name]}"
        ax.plot(t, mean, marker=".", label=label)
        ax.fill_between(t, mean - _BAND * sem, mean + _BAND * sem, alpha=0.25)
    _loglik_axes(mid)
    right.axhline(0.0, color="k", lw=0.5)
    right.set_xlabel("t")
    right.set_ylabel("swap gap (nats)")
    right.legend(fontsize=8)
    _save(fig, path, title)


_LATENT_LABELS = {
    "own": "own code",
    "other": "another window's code",
    "zero": "0",
    "noise": "noise N(0, I)",
}


def _loglik_axes(ax):
    # z = 0 and noise can sit thousands of nats below the codes: a symmetric log scale keeps
    # both in view while the codes' own values stay readable.
    ax.set_yscale("symlog", linthresh=10.0)
    ax.set_xlabel("t")
    ax.set_ylabel("log p(x_t | z, x_<t) (nats)")
    ax.legend(fontsize=8)
