"""Compile time and step time of the cpu grid's training step per XLA optimisation level.

    LDX_COMPILATION_CACHE= python benchmarks/compile_opt_level.py ld lstm [steps]
    LDX_COMPILATION_CACHE= XLA_FLAGS=--xla_backend_optimization_level=1 \
        python benchmarks/compile_opt_level.py ld lstm

Prints one JSON line: the XLA flags, the first call's seconds (compilation; run with the
persistent cache off), the mean time of the next 40 (or `steps`) steps and the loss after them.
"""

import os
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import TrainStep, emit  # noqa: E402
from configs.grids import cell_config, get_grid  # noqa: E402
from ldx import compilation_cache  # noqa: E402
from ldx.data import get_batch  # noqa: E402


def main(method: str = "ld", backbone: str = "lstm", steps: int = 40) -> None:
    compilation_cache.enable()
    config = cell_config(get_grid("cpu"), method, backbone, "sines", 0)
    config.data.num_samples = 2000
    train = TrainStep(config)
    step, state = train.step, train.state

    def batch(i):
        return get_batch(train.exp.dataset.train, train.train.batch_size, i, train.exp.seed)

    t0 = time.perf_counter()
    state, _ = step(state, batch(0))
    jax.block_until_ready(state)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(1, steps + 1):
        state, metrics = step(state, batch(i))
    jax.block_until_ready(state)
    emit(
        {
            "benchmark": "compile_opt_level",
            "method": method,
            "backbone": backbone,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "first_call_s": round(first, 1),
            "step_ms": round((time.perf_counter() - t0) / steps * 1e3, 1),
            "loss": float(metrics["loss"]),
        }
    )


if __name__ == "__main__":
    main(*sys.argv[1:3], *map(int, sys.argv[3:4]))
