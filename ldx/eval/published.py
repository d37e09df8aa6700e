"""Diffusion-TS's published evaluation protocol, so that ldx's scores sit beside the tables.

Shape legend: N windows, T time, D features, R repeats.

ldx's own protocol (`ldx.eval.scores`, "heldout") scores generated windows against held-out test
windows, which also catches memorisation. The published protocol (Yuan & Qiao 2024, Diffusion-TS,
re-used by its successors; "diffusion_ts") differs in five ways, all reproduced here:

* the reference set is every window of the series (stride 1), not a test split;
* real data are min-max scaled with the statistics of the whole series; Sines are not rescaled
  (TimeGAN's generator already gives values in [0, 1], about [0.5, 1]);
* as many generated windows as real ones;
* the learned metrics use TimeGAN's 2000 (discriminative) and 5000 (predictive) Adam steps, 5
  repeats, and report mean +- the half-width of a 95% Student-t interval, t_{0.975, R-1} SEM
  (2.776 SEM for R = 5);
* the correlational score is averaged over 5 subsets of N / 5 windows drawn with replacement.

The "Original" row of the paper (the predictive score of a predictor trained and tested on the
real windows) is `floor`.

A run trained on ldx's own split is scored by mapping its samples back to data units and then
into the published scale, so any trained run can be scored under either protocol.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ldx import metrics
from ldx.data import DataConfig, MinMaxScaler, make_windows
from ldx.data.pipeline import load_raw
from ldx.errors import ConfigError
from ldx.eval.samples import check_finite
from ldx.eval.scores import describe, generate_windows
from ldx.progress import phase

PROTOCOLS = ("heldout", "diffusion_ts")
TELLS = 5  # window statistics listed under "What tells the windows apart"


@dataclasses.dataclass(frozen=True)
class PublishedConfig:
    """Settings of the published protocol (its defaults are Diffusion-TS's).

    Attributes:
      num_windows: cap on N (0 = every window, the protocol); a cap draws that many real
        windows at random and is recorded as a deviation.
      repeats: R, repeats of every repeated metric.
      disc_iterations: Adam steps of the discriminative GRU.
      pred_iterations: Adam steps of the predictive GRU.
      corr_subsets: subsets of the correlational score.
      context_fid: also compute Context-FID (TS2Vec embeddings, `ldx.metrics.context_fid`).
      fid_iterations: TS2Vec training steps; 0 = TS2Vec's own rule (200 or 600).
      seed: seeds the subsets, samples and learned metrics.
    """

    num_windows: int = 0
    repeats: int = 5
    disc_iterations: int = 2000
    pred_iterations: int = 5000
    corr_subsets: int = 5
    context_fid: bool = True
    fid_iterations: int = 0
    seed: int = 0

    def __post_init__(self):
        for name in ("repeats", "disc_iterations", "pred_iterations", "corr_subsets"):
            if getattr(self, name) < 1:
                raise ConfigError(f"eval.{name}={getattr(self, name)} must be >= 1.")
        if self.num_windows < 0:
            raise ConfigError(f"eval.num_windows={self.num_windows} must be >= 0 (0 = all).")


def summary(values) -> dict:
    """{mean, interval (95% t half-width, `metrics.t_interval`; 0 for one value), values}."""
    result = metrics.Repeated(tuple(float(v) for v in values))
    interval = metrics.t_interval(result) if len(result.values) > 1 else 0.0
    return {"mean": result.mean, "interval": interval, "values": list(result.values)}


def published_windows(cfg: DataConfig) -> tuple[np.ndarray, MinMaxScaler]:
    """Every window of the data source in the published scale, and that scale's scaler.

    Returns:
      (windows [N, T, D], scaler): the scaler maps data units to the published scale (the
      identity for Sines and for `scale="none"` data).
    """
    if cfg.shuffle_time:
        raise ConfigError(
            "the diffusion_ts protocol scores ordered windows; this run has "
            "config.data.shuffle_time=True."
        )
    raw = load_raw(cfg)
    windows = raw if raw.ndim == 3 else make_windows(raw, cfg.seq_len)  # [N, T, D]
    if cfg.name == "sines" or cfg.scale == "none":
        scaler = MinMaxScaler.identity(windows.shape[-1])
    else:
        scaler = MinMaxScaler.fit(raw)  # the whole series, as Diffusion-TS's loader
    return scaler.transform(windows), scaler


def correlational_subsets(real, fake, subsets: int, seed: int) -> list[float]:
    """Diffusion-TS's correlational score: `subsets` draws of N // subsets windows of each set,
    with replacement, one score per draw. # [N, T, D], [M, T, D] -> [subsets]"""
    rng = np.random.default_rng([seed, 7])
    size = max(len(real) // subsets, 2)
    return [
        metrics.correlational_score(
            real[rng.integers(0, len(real), size)], fake[rng.integers(0, len(fake), size)]
        )
        for _ in range(subsets)
    ]


def score(real: np.ndarray, fake: np.ndarray, cfg: PublishedConfig) -> dict:
    """Every metric of the published protocol for one pair of sets (same N), each a phase.

    Args:
      real: every real window, published scale. # [N, T, D]
      fake: as many generated windows, published scale. # [N, T, D]
      cfg: protocol settings.

    Returns:
      {metric: {mean, interval, values}}.
    """
    kd, kp, kc = jax.random.split(jax.random.key(cfg.seed), 3)
    r = cfg.repeats
    metrics_of = {
        "discriminative": (
            f"{r} repeats x {cfg.disc_iterations} steps",
            lambda: (
                metrics.discriminative_score(
                    real, fake, kd, iterations=cfg.disc_iterations, repeats=r
                ).values
            ),
        ),
        "predictive": (
            f"{r} repeats x {cfg.pred_iterations} steps",
            lambda: (
                metrics.predictive_score(
                    real, fake, kp, iterations=cfg.pred_iterations, repeats=r
                ).values
            ),
        ),
        "correlational": (
            f"{cfg.corr_subsets} subsets",
            lambda: correlational_subsets(real, fake, cfg.corr_subsets, cfg.seed),
        ),
    }
    if cfg.context_fid:
        metrics_of["context_fid"] = (
            f"{r} repeats of TS2Vec",
            lambda: (
                metrics.context_fid(
                    real, fake, kc, repeats=r, iterations=cfg.fid_iterations or None
                ).values
            ),
        )
    out = {}
    for i, (name, (size, fn)) in enumerate(metrics_of.items(), 1):
        with phase(f"model: metric {i}/{len(metrics_of)} {name} ({len(real)} windows, {size})"):
            out[name] = summary(fn())
    return out


def floor(real: np.ndarray, cfg: PublishedConfig) -> dict:
    """The paper's "Original" row: the predictive score trained and tested on the real windows."""
    kp = jax.random.split(jax.random.key(cfg.seed), 3)[1]
    what = f"original: predictive on real windows ({cfg.repeats} x {cfg.pred_iterations} steps)"
    with phase(what):
        values = metrics.predictive_score(
            real, real, kp, iterations=cfg.pred_iterations, repeats=cfg.repeats
        ).values
    return {"predictive": summary(values)}


def reference(data_cfg: DataConfig, cfg: PublishedConfig) -> tuple[np.ndarray, MinMaxScaler]:
    """The reference windows (all, or a seeded random subset of cfg.num_windows) and scaler."""
    real, scaler = published_windows(data_cfg)
    if cfg.num_windows and cfg.num_windows < len(real):
        rng = np.random.default_rng([cfg.seed, 5])
        real = real[np.sort(rng.choice(len(real), cfg.num_windows, replace=False))]
    return real, scaler


def evaluate_run(
    run, cfg: PublishedConfig, original: dict | None = None
) -> tuple[dict, np.ndarray]:
    """Scores a trained LD/PSLD run under the published protocol.

    Draws as many windows as the reference set holds (every window, or cfg.num_windows) from
    the run, maps them into the published scale and scores them with `score`; the "Original"
    predictive row is `floor`, or `original` when given (the floor already computed for the
    same data and settings, e.g. by another cell of a grid).

    Returns:
      (results, generated windows in the run's normalised units [N, T, D]).
    """
    data_cfg = run.experiment.data
    real, scaler = reference(data_cfg, cfg)
    fake = generate_windows(run, len(real), cfg.seed)
    check_finite(fake, f"{run.workdir}: the model", "nothing to evaluate")
    fake_pub = scaler.transform(run.experiment.dataset.scaler.inverse_transform(fake))
    results = {
        **describe(run),
        "protocol": "diffusion_ts",
        "scale": "published: Sines as generated, real data min-max over the whole series",
        "eval": dataclasses.asdict(cfg),
        "num_windows": len(real),
        "model": score(real, fake_pub, cfg),
        "tells": metrics.tells(real, fake_pub, top=TELLS),
    }
    results["floor"] = original if original is not None else floor(real, cfg)
    return results, fake


def markdown(results: dict) -> str:
    """A run's published-protocol table: mean +- 95% interval per metric, and the floor."""
    lines = [
        f"# `{results['workdir']}` under the published (Diffusion-TS) protocol",
        "",
        f"{results['method']} / {results['backbone']} on {results['dataset']}, seed "
        f"{results['seed']}, {results['train_steps']} training steps; {results['num_windows']} "
        "real windows (every window unless `eval.num_windows` capped them) against as many "
        "generated ones. Mean +- half-width of the 95% t-interval over repeats; lower is better.",
        "",
        "| metric | model | original (real vs real) |",
        "|---|---|---|",
    ]
    for name, entry in results["model"].items():
        fl = results["floor"].get(name)
        fl_txt = f"{fl['mean']:.3f} +- {fl['interval']:.3f}" if fl else "-"
        lines.append(f"| {name} | {entry['mean']:.3f} +- {entry['interval']:.3f} | {fl_txt} |")
    if results.get("tells"):  # absent from runs scored before it existed
        lines += [
            "",
            "## What tells the windows apart",
            "",
            "The window statistics (`ldx.metrics.tells`) whose best one-threshold classifier "
            "separates generated from real windows most (score: its accuracy above 1/2, the "
            "discriminative score's scale; feature: index, or i-j for a pair).",
            "",
            "| statistic | feature | score | real median | generated median |",
            "|---|---|---|---|---|",
        ]
        for t in results["tells"]:
            lines.append(
                f"| {t['statistic']} | {t['feature']} | {t['score']:.3f} | "
                f"{t['real_median']:.4f} | {t['fake_median']:.4f} |"
            )
    return "\n".join(lines) + "\n"
