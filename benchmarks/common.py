"""Shared benchmark helpers: interleaved timing, medians, one JSON line per measurement."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable

import jax
import numpy as np


def environment() -> dict:
    """Device and library versions, recorded with every measurement."""
    import flax
    import optax

    device = jax.devices()[0]
    return {
        "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        "num_devices": jax.device_count(),
        "cpu_count": __import__("os").cpu_count(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "python": platform.python_version(),
    }


def emit(record: dict, path: str | None = None) -> None:
    """Prints one JSON line (and appends it to `path` if given)."""
    line = json.dumps({**record, **environment()})
    print(line, flush=True)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def time_interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2, inner: int = 1
) -> dict[str, np.ndarray]:
    """Seconds per call of each fn, alternating between them on every repeat.

    Interleaving exposes every candidate to the same background load on a shared
    machine, so ratios of medians are meaningful even when absolute times drift.
    Each fn must block until its result is ready.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - start) / inner)
    return {name: np.asarray(t) for name, t in times.items()}
