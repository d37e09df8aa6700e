"""Discrete noise schedules for DDPM-style diffusion.

Indexing convention used throughout ldx: the diffusion index is i in {0, ..., L}, with i = 0 the
clean data. Every schedule array therefore has length L + 1 and

    betas[0] = 0,    alphas[i] = 1 - betas[i],    alpha_bars[i] = prod_{k <= i} alphas[k],

so alpha_bars[0] = 1 and the forward marginal is q(z^i | x) = N(sqrt(abar_i) x, (1 - abar_i) I).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct

_KINDS = ("linear", "cosine")
_COSINE_OFFSET = 0.008  # s in Nichol & Dhariwal (2021), eq. 17.
_MAX_BETA = 0.999  # Clip from Nichol & Dhariwal (2021): avoids a singularity at t = L.


@struct.dataclass
class Schedule:
    """A discrete variance schedule over diffusion indices i = 0..L.

    Attributes:
      betas: [L + 1] float32, beta_i with beta_0 = 0 and beta_i in (0, 1) for i >= 1.
      alphas: [L + 1] float32, alpha_i = 1 - beta_i.
      alpha_bars: [L + 1] float32, abar_i = prod_{k <= i} alpha_k (abar_0 = 1).
    """

    betas: jnp.ndarray  # [L + 1]
    alphas: jnp.ndarray  # [L + 1]
    alpha_bars: jnp.ndarray  # [L + 1]

    @property
    def num_steps(self) -> int:
        """L, the number of noising steps (static: read from the array shape)."""
        return self.betas.shape[0] - 1


def _linear_betas(num_steps: int, beta_start: float, beta_end: float) -> np.ndarray:
    """DDPM (Ho et al. 2020): beta_i = linspace(beta_start, beta_end, L)[i - 1] for i = 1..L."""
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(
            f"make_schedule: need 0 < beta_start <= beta_end < 1, got beta_start={beta_start!r}, "
            f"beta_end={beta_end!r}."
        )
    return np.linspace(beta_start, beta_end, num_steps, dtype=np.float64)


def _cosine_betas(num_steps: int) -> np.ndarray:
    """Nichol & Dhariwal (2021): abar(i) = f(i) / f(0), f(i) = cos((i/L + s)/(1 + s) * pi/2)^2.

    beta_i = min(1 - abar(i) / abar(i - 1), 0.999) for i = 1..L.
    """
    i = np.arange(num_steps + 1, dtype=np.float64)
    f = np.cos((i / num_steps + _COSINE_OFFSET) / (1 + _COSINE_OFFSET) * np.pi / 2) ** 2
    abar = f / f[0]
    return np.minimum(1.0 - abar[1:] / abar[:-1], _MAX_BETA)


def make_schedule(
    num_steps: int = 1000, kind: str = "linear", beta_start: float = 1e-4, beta_end: float = 0.02
) -> Schedule:
    """Builds a schedule with L = num_steps noising steps.

    The arithmetic is done in float64 NumPy and cast to float32 once at the end, so that
    abar_L (which can be ~4e-5 for the linear schedule) keeps its relative precision.

    Args:
      num_steps: L >= 1.
      kind: "linear" (DDPM; uses beta_start and beta_end) or "cosine" (Nichol & Dhariwal 2021;
        ignores beta_start and beta_end).
      beta_start: beta_1 of the linear schedule.
      beta_end: beta_L of the linear schedule.

    Returns:
      A Schedule whose arrays have shape [L + 1].

    Raises:
      ValueError: for an unknown kind, L < 1, or betas outside (0, 1).
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"make_schedule: num_steps must be an int >= 1, got {num_steps!r}.")
    if kind == "linear":
        betas = _linear_betas(int(num_steps), beta_start, beta_end)
    elif kind == "cosine":
        betas = _cosine_betas(int(num_steps))
    else:
        raise ValueError(f"make_schedule: unknown kind {kind!r}; expected one of {_KINDS}.")
    if not np.all((betas > 0) & (betas < 1)):
        raise ValueError(
            f"make_schedule: betas must lie in (0, 1), got range "
            f"[{betas.min()!r}, {betas.max()!r}] for kind={kind!r}."
        )
    betas = np.concatenate([[0.0], betas])  # [L + 1]; index 0 is clean data.
    alphas = 1.0 - betas
    alpha_bars = np.cumprod(alphas)
    betas, alphas, alpha_bars = (jnp.asarray(a, jnp.float32) for a in (betas, alphas, alpha_bars))
    return Schedule(betas=betas, alphas=alphas, alpha_bars=alpha_bars)
