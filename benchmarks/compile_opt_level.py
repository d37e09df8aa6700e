"""Compile time and step time of the cpu grid's training step per XLA optimisation level.

    LDX_COMPILATION_CACHE= python benchmarks/compile_opt_level.py ld lstm
    LDX_COMPILATION_CACHE= XLA_FLAGS=--xla_backend_optimization_level=1 \
        python benchmarks/compile_opt_level.py ld lstm

Prints one JSON line: the XLA flags, the first call's seconds (compilation; run with the
persistent cache off), the mean time of the next 40 steps and the loss after them.
"""

import json
import os
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs.grids import cell_config, get_grid  # noqa: E402
from ldx import compilation_cache  # noqa: E402
from ldx.data import get_batch  # noqa: E402
from ldx.experiment import build_experiment, typed  # noqa: E402
from ldx.train.loop import TrainConfig, init_state  # noqa: E402
from ldx.train.state import make_train_step  # noqa: E402


def main(method: str = "ld", backbone: str = "lstm", steps: int = 40) -> None:
    compilation_cache.enable()
    config = cell_config(get_grid("cpu"), method, backbone, "sines", 0)
    config.data.num_samples = 2000
    exp = build_experiment(config)
    cfg = typed(TrainConfig, config.train, "train")
    model_fn, optimizer, state = init_state(exp, cfg)
    step = jax.jit(
        make_train_step(model_fn, exp.loss_fn(cfg.num_steps), optimizer, cfg.ema_decay),
        donate_argnums=0,
    )

    def batch(i):
        return get_batch(exp.dataset.train, cfg.batch_size, i, exp.seed)

    t0 = time.perf_counter()
    state, _ = step(state, batch(0))
    jax.block_until_ready(state)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(1, steps + 1):
        state, metrics = step(state, batch(i))
    jax.block_until_ready(state)
    print(
        json.dumps(
            {
                "method": method,
                "backbone": backbone,
                "xla_flags": os.environ.get("XLA_FLAGS", ""),
                "first_call_s": round(first, 1),
                "step_ms": round((time.perf_counter() - t0) / steps * 1e3, 1),
                "loss": float(metrics["loss"]),
                "load_avg_1min": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
