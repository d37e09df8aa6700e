"""Context-FID on stocks: the real-vs-real floor, perturbed copies, and seconds per repeat.

    python benchmarks/context_fid.py [--repeats=5] [--iterations=600] [--noise=0.05]

Stocks windows (T = 24, stride 1, every feature min-max scaled to [0, 1] over the whole series,
as Diffusion-TS) are split at random into two halves A and B. The encoders are trained on A;
Context-FID(A, B) is the floor (real against fresh real of the same size), and A against A plus
Gaussian noise of std --noise and against A shifted by --shift shows the scale of a defect.
Every comparison uses the same key, so the same R encoders (training sees only A). Prints one
JSON line; seconds_per_repeat excludes compilation (a first call with one step compiles the
program every step count shares). Skips with a message when the data file is absent.
"""

import os
import sys
import time

import jax
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import emit  # noqa: E402
from ldx import compilation_cache, metrics  # noqa: E402
from ldx.data import MinMaxScaler, load_csv, make_windows  # noqa: E402

_PATH = flags.DEFINE_string(
    "path", "/work/shared/data/stocks/stock_data.csv", "The stocks CSV (Diffusion-TS's)."
)
_REPEATS = flags.DEFINE_integer("repeats", 5, "Encoders per Context-FID (Diffusion-TS: 5).")
_ITERATIONS = flags.DEFINE_integer("iterations", None, "Steps; default TS2Vec's 200/600 rule.")
_NOISE = flags.DEFINE_float("noise", 0.05, "Std of the noise added to A.")
_SHIFT = flags.DEFINE_float("shift", 0.05, "Constant added to A.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the split, the noise and the encoders.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON line to this file.")


def main(_):
    if not os.path.exists(_PATH.value):
        print(f"context_fid benchmark skipped: {_PATH.value} not found", flush=True)
        return
    compilation_cache.enable()
    series = load_csv(_PATH.value)  # [L, D]
    windows = make_windows(MinMaxScaler.fit(series).transform(series), 24)  # [N, 24, D]
    rng = np.random.default_rng(_SEED.value)
    perm = rng.permutation(len(windows))
    half = len(windows) // 2
    a, b = windows[perm[:half]], windows[perm[half : 2 * half]]
    key = jax.random.key(_SEED.value)
    kw = dict(repeats=_REPEATS.value, iterations=_ITERATIONS.value)

    start = time.perf_counter()
    metrics.context_fid(a, b, key, **{**kw, "iterations": 1})
    compile_s = time.perf_counter() - start

    results, seconds = {}, []
    fakes = {
        "real_vs_real": b,
        "real_vs_noised": a + rng.normal(0.0, _NOISE.value, a.shape).astype(np.float32),
        "real_vs_shifted": a + np.float32(_SHIFT.value),
    }
    for name, fake in fakes.items():
        start = time.perf_counter()
        r = metrics.context_fid(a, fake, key, **kw)
        seconds.append((time.perf_counter() - start) / _REPEATS.value)
        results[name] = {**r.to_dict(), "t95": metrics.t_interval(r)}
    emit(
        {
            "benchmark": "context_fid",
            "dataset": "stocks",
            "windows_each": half,
            "shape": list(a.shape),
            "iterations": _ITERATIONS.value or metrics.ts2vec.default_iterations(a.shape),
            "repeats": _REPEATS.value,
            "noise": _NOISE.value,
            "shift": _SHIFT.value,
            **results,
            "seconds_per_repeat": float(np.median(seconds)),
            "compile_s": compile_s,
        },
        _OUT.value,
    )


if __name__ == "__main__":
    app.run(main)
