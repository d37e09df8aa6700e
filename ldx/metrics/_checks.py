"""Input validation shared by the metrics: shapes, sizes and finiteness, one clear message."""

from __future__ import annotations

import numpy as np

from ldx.errors import DataError


def windows(x, name: str, ndim: int = 3) -> np.ndarray:
    """Returns `x` as a float64 array of rank `ndim`, or raises DataError naming `name`.

    Args:
      x: array-like windows. # [N, T, D] (or [N, F] for ndim=2)
      name: how the message refers to the argument.
      ndim: expected rank.

    Returns:
      float64 array. # same shape as x
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != ndim:
        want = "[N, T, D]" if ndim == 3 else "[N, F]"
        raise DataError(f"{name} has shape {a.shape}, expected a rank-{ndim} array {want}")
    if len(a) < 2:
        raise DataError(f"{name} holds {len(a)} window(s), expected at least 2")
    bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
    if bad:
        raise DataError(f"{name} holds {bad} NaN/Inf value(s), expected only finite numbers")
    return a


def pair(real, fake, ndim: int = 3, same_size: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validates two sets of windows that must agree in every axis but the first.

    Args:
      real: real windows. # [N, T, D]
      fake: generated windows. # [M, T, D]
      ndim: expected rank of both.
      same_size: also require N == M.

    Returns:
      (real, fake) as float64 arrays.
    """
    r, f = windows(real, "real", ndim), windows(fake, "fake", ndim)
    if r.shape[1:] != f.shape[1:]:
        raise DataError(
            f"real windows have shape {r.shape[1:]} and fake windows {f.shape[1:]} "
            "(after the first axis); expected the same"
        )
    if same_size and len(r) != len(f):
        raise DataError(
            f"real has {len(r)} windows and fake {len(f)}; the exact assignment needs equal "
            "sizes (subsample the larger set, or use sliced_wasserstein)"
        )
    return r, f


def flatten(x: np.ndarray) -> np.ndarray:
    """Windows as vectors: [N, T, D] -> [N, T * D] (row-major, time outer)."""
    return x.reshape(len(x), -1)
