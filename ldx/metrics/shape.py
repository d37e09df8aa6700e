"""How generated windows look, beside what they score: range and roughness.

Shapes (ldx/shapes.py): N windows, T time, D features. Both work on the [0, 1] per-feature scale
of the training split, where the data's range is [0, 1].
"""

from __future__ import annotations

import numpy as np

from ldx.metrics._checks import pair, windows


def outside_share(fake, tol: float = 0.1) -> float:
    """The share of values more than `tol` outside the data's range: mean 1[x < -tol or x > 1 + tol]
    over every window, step and feature (issue 18's range target is < 1% at tol = 0.1)."""
    x = windows(fake, "fake")
    return float(np.mean((x < -tol) | (x > 1 + tol)))


def step_ratio(real, fake) -> float:
    """Roughness against the data's: mean |x_t - x_{t-1}| of `fake` over that of `real` (1 = as
    rough as the real windows; above 1 jittery, below 1 too smooth)."""
    r, f = pair(real, fake)
    return float(np.abs(np.diff(f, axis=1)).mean() / np.abs(np.diff(r, axis=1)).mean())
