"""How generated windows look, beside what they score: range and roughness.

Shapes (ldx/shapes.py): N windows, T time, D features. Both work on the [0, 1] per-feature scale
of the training split, where the data's range is [0, 1].
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from ldx.metrics._checks import pair, windows


def outside_share(fake, tol: float = 0.1) -> float:
    """The share of values more than `tol` outside the data's range: mean 1[x < -tol or x > 1 + tol]
    over every window, step and feature (issue 18's range target is < 1% at tol = 0.1)."""
    x = windows(fake, "fake")
    return float(np.mean((x < -tol) | (x > 1 + tol)))


def step_ratio(real, fake) -> float:
    """Roughness against the data's: mean |x_t - x_{t-1}| of `fake` over that of `real` (1 = as
    rough as the real windows; above 1 jittery, below 1 too smooth). Against constant real
    windows it is 1 if `fake` is constant too, else inf."""
    r, f = pair(real, fake)
    step_real, step_fake = (float(np.abs(np.diff(a, axis=1)).mean()) for a in (r, f))
    if step_real == 0.0:
        return 1.0 if step_fake == 0.0 else float("inf")
    return step_fake / step_real


def _window_statistics(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-window summaries: name -> [N, D] (pair correlations: [N, D (D - 1) / 2])."""
    dx = np.diff(x, axis=1)
    centred = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt((centred**2).sum(axis=1))  # [N, D]
    lag1 = (centred[:, 1:] * centred[:, :-1]).sum(axis=1) / np.maximum(norm**2, 1e-12)
    i, j = np.triu_indices(x.shape[2], k=1)
    cov = np.einsum("ntd,nte->nde", centred, centred)
    corr = cov[:, i, j] / np.maximum(norm[:, i] * norm[:, j], 1e-12)
    return {
        "mean": x.mean(axis=1),
        "std": x.std(axis=1),
        "min": x.min(axis=1),
        "max": x.max(axis=1),
        "first": x[:, 0],
        "last": x[:, -1],
        "mean_abs_step": np.abs(dx).mean(axis=1),
        "mean_abs_curvature": np.abs(np.diff(dx, axis=1)).mean(axis=1),
        "lag1_autocorrelation": lag1,
        "pair_correlation": corr,
    }


def tells(real, fake, top: int = 10) -> list[dict]:
    """The window statistics that best tell `fake` from `real`, most telling first.

    Each statistic (per feature: mean, std, min, max, first, last, mean |step|, mean |second
    difference|, lag-1 autocorrelation; per feature pair: the within-window correlation) is
    scored by half its two-sample KS distance (SciPy's `ks_2samp` statistic). That is the best
    one-threshold classifier's accuracy above 1/2 on balanced sets, the scale of the
    discriminative score (0 = no tell, 0.5 = told apart): a learned score well above every tell
    comes from no single statistic.

    Returns:
      up to `top` dicts {"statistic", "feature" (index, or "i-j" for a pair), "score",
      "real_median", "fake_median"}.
    """
    r, f = pair(real, fake)
    stats_r, stats_f = _window_statistics(r), _window_statistics(f)
    i, j = np.triu_indices(r.shape[2], k=1)
    rows = []
    for name, sr in stats_r.items():
        sf = stats_f[name]
        labels = [f"{a}-{b}" for a, b in zip(i, j)] if name == "pair_correlation" else None
        ks = scipy.stats.ks_2samp(sr, sf, axis=0, method="asymp").statistic  # [K]
        for k, score in enumerate(ks / 2):
            rows.append(
                {
                    "statistic": name,
                    "feature": labels[k] if labels else k,
                    "score": round(float(score), 4),
                    "real_median": round(float(np.median(sr[:, k])), 4),
                    "fake_median": round(float(np.median(sf[:, k])), 4),
                }
            )
    return sorted(rows, key=lambda row: -row["score"])[:top]
