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
    rough as the real windows; above 1 jittery, below 1 too smooth). Against constant real
    windows it is 1 if `fake` is constant too, else inf."""
    r, f = pair(real, fake)
    step_real, step_fake = (float(np.abs(np.diff(a, axis=1)).mean()) for a in (r, f))
    if step_real == 0.0:
        return 1.0 if step_fake == 0.0 else float("inf")
    return step_fake / step_real
