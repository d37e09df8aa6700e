"""Turning a trained run into numbers: generated windows scored against held-out real ones.

Shapes (ldx/shapes.py): N windows per set, T time, D features.

Everything is on the dataset's normalised scale: each feature min-max scaled to [0, 1] with the
statistics of the training windows (`ldx.data.MinMaxScaler`), the units the model is trained in.

Protocol (`evaluate_sets`): the reference set is N = min(num_windows, #test) test windows drawn
without replacement; the model is scored on N generated windows against it, and the floor on N
training windows (drawn without replacement) against the same reference, i.e. the score of a
model whose samples follow the training distribution exactly. Both use the same keys (common
random numbers), so the learned metrics of model and floor differ only through their inputs.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from ldx import metrics
from ldx.batching import draw, make_generate_fn
from ldx.errors import ConfigError
from ldx.eval.samples import check_finite
from ldx.progress import phase

# Per-coordinate scales s of the fixed MMD bandwidths sigma = s * sqrt(T * D): windows whose
# coordinates differ by about s are at distance about s * sqrt(T * D).
MMD_SCALES = (0.05, 0.1, 0.2, 0.5, 1.0)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How a run is evaluated.

    Attributes:
      num_windows: N, windows per set (capped by the number of test windows).
      repeats: repeats of the learned metrics (mean and std are reported).
      disc_iterations: Adam steps of the discriminative GRU (TimeGAN: 2000).
      pred_iterations: Adam steps of the predictive GRU (TimeGAN: 5000).
      batch_size: batch of the learned metrics (TimeGAN: 128).
      mmd_scales: per-coordinate scales of the multi-scale MMD kernel (see MMD_SCALES).
      floor: also score real-train vs real-test windows.
      seed: seeds the subsets, the generated windows and the learned metrics.
    """

    num_windows: int = 1000
    repeats: int = 5
    disc_iterations: int = 2000
    pred_iterations: int = 5000
    batch_size: int = 128
    mmd_scales: tuple[float, ...] = MMD_SCALES
    floor: bool = True
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "mmd_scales", tuple(float(s) for s in self.mmd_scales))
        for name in ("num_windows", "repeats", "disc_iterations", "pred_iterations", "batch_size"):
            if getattr(self, name) < (4 if name == "num_windows" else 1):
                low = 4 if name == "num_windows" else 1
                raise ConfigError(f"eval.{name}={getattr(self, name)} must be >= {low}.")
        if not self.mmd_scales or min(self.mmd_scales) <= 0:
            raise ConfigError(f"eval.mmd_scales={self.mmd_scales} must be positive numbers.")


# name -> (label, whether the metric is repeated); the order of every table.
METRICS = {
    "wasserstein": ("Wasserstein-1 (exact OT)", False),
    "sliced_wasserstein": ("sliced Wasserstein-1", False),
    "mmd": ("MMD^2 (RBF, median bandwidth)", False),
    "mmd_multiscale": ("MMD^2 (RBF, fixed bandwidths)", False),
    "correlational": ("correlational score", False),
    "discriminative": ("discriminative score", True),
    "predictive": ("predictive score (MAE)", True),
    "outside": ("share of values outside [-0.1, 1.1]", False),
    "step_ratio": ("step ratio (mean |x_t - x_{t-1}| over the real one's; 1 is best)", False),
}


def score(real: np.ndarray, fake: np.ndarray, cfg: EvalConfig, what: str = "model") -> dict:
    """Every metric of `ldx.metrics` for one pair of sets, each shown as a phase.

    Args:
      real: the reference windows. # [N, T, D]
      fake: the windows scored against them (generated, or the floor's train windows). # [N, T, D]
      cfg: evaluation settings.
      what: which set is scored ("model", "floor"), for the progress lines.

    Returns:
      {name: value} for the plain metrics and {name: {mean, std, values}} for the learned ones.
    """
    sigmas = [s * math.sqrt(real.shape[1] * real.shape[2]) for s in cfg.mmd_scales]
    key = jax.random.key(cfg.seed)
    kd, kp = jax.random.split(key)
    learned = dict(repeats=cfg.repeats, batch_size=cfg.batch_size)
    steps = {"discriminative": cfg.disc_iterations, "predictive": cfg.pred_iterations}
    metrics_of = {
        "wasserstein": lambda: metrics.wasserstein(real, fake),
        "sliced_wasserstein": lambda: metrics.sliced_wasserstein(real, fake, seed=cfg.seed),
        "mmd": lambda: metrics.mmd(real, fake),
        "mmd_multiscale": lambda: metrics.mmd(real, fake, bandwidth=sigmas),
        "correlational": lambda: metrics.correlational_score(real, fake),
        "outside": lambda: metrics.outside_share(fake),
        "step_ratio": lambda: metrics.step_ratio(real, fake),
        "discriminative": lambda: metrics.discriminative_score(
            real, fake, kd, iterations=cfg.disc_iterations, **learned
        ).to_dict(),
        "predictive": lambda: metrics.predictive_score(
            real, fake, kp, iterations=cfg.pred_iterations, **learned
        ).to_dict(),
    }
    out = {}
    for i, (name, fn) in enumerate(metrics_of.items(), 1):
        size = f", {cfg.repeats} repeats x {steps[name]} steps" if name in steps else ""
        with phase(f"{what}: metric {i}/{len(metrics_of)} {name} ({len(real)} windows{size})"):
            out[name] = fn()
    return out


def reference_sets(
    train: np.ndarray, test: np.ndarray, num_windows: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(real test windows, real train windows), N = min(num_windows, #test, #train) each, drawn
    without replacement by `np.random.default_rng([seed, 5])`. # [N, T, D] twice"""
    n = min(num_windows, len(test), len(train))
    rng = np.random.default_rng([seed, 5])
    return test[rng.choice(len(test), n, replace=False)], train[
        rng.choice(len(train), n, replace=False)
    ]


def evaluate_sets(
    train: np.ndarray,
    test: np.ndarray,
    fake: np.ndarray,
    cfg: EvalConfig,
    floor: dict | None = None,
) -> dict:
    """Scores generated windows, and the real-train floor, against N held-out test windows.

    Args:
      train: the training windows. # [Ntr, T, D]
      test: the test windows. # [Nte, T, D]
      fake: at least N generated windows; the first N are used. # [M, T, D]
      cfg: evaluation settings.
      floor: a floor already computed for these data and settings (skips recomputing it).

    Returns:
      {"num_windows": N, "model": score(...), "floor": score(...) or None}.
    """
    real, train_sub = reference_sets(train, test, cfg.num_windows, cfg.seed)
    n = len(real)
    if len(fake) < n:
        raise ConfigError(f"{len(fake)} generated windows, expected at least {n}.")
    if floor is None and cfg.floor:
        floor = score(real, train_sub, cfg, "floor")
    return {"num_windows": n, "model": score(real, fake[:n], cfg), "floor": floor}


def generate_windows(run, num: int, seed: int) -> np.ndarray:
    """`num` windows [num, T, D] in normalised units, every column (`MinMaxScaler.expand`), from
    a trained run (its config's EMA and sampling batch settings; key `jax.random.key(seed)`)."""
    exp = run.experiment
    fn = make_generate_fn(run.model_fn, exp.generate)
    params = run.params(exp.draw.use_ema)
    fake = draw(fn, params, jax.random.key(seed), num, exp.draw.batch_size)
    return exp.dataset.scaler.expand(fake)


def describe(run) -> dict:
    """What a run is: method, backbone, dataset, seed, training steps taken."""
    return {
        "workdir": run.workdir,
        **run.experiment.describe(),
        "train_steps": int(run.state.step),
    }


def evaluate_run(run, cfg: EvalConfig, floor: dict | None = None) -> tuple[dict, np.ndarray]:
    """Draws N windows from a trained run and scores them (see `evaluate_sets`).

    Returns:
      (results: `describe(run)` plus "eval" settings and `evaluate_sets` output,
       the generated windows [N, T, D]).
    """
    data = run.experiment.dataset
    n = min(cfg.num_windows, len(data.test), len(data.train))
    fake = generate_windows(run, n, cfg.seed)
    check_finite(fake, f"{run.workdir}: the model", "nothing to evaluate")
    expand = data.scaler.expand  # every column is scored, also those the model does not draw
    out = evaluate_sets(expand(data.train), expand(data.test), fake, cfg, floor)
    return {
        **describe(run),
        "scale": "[0, 1] per feature (training split)",
        "eval": dataclasses.asdict(cfg),
        **out,
    }, fake
