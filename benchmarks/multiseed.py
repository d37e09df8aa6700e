"""Is one vmapped S-seed training step faster than S single-seed steps? One JSON line per case.

    python benchmarks/multiseed.py                       # the cpu grid's model, S = 2 and 3
    python benchmarks/multiseed.py --backbones=lstm --seeds=2 --rounds=3

For each backbone and method it compiles `make_train_step` (one seed) and `jax.vmap` of it over
S stacked TrainStates (S seeds, each with its own batch), then alternates timed blocks of the two
in one process (so load from other processes hits both alike) and reports the median time per
seed-step. speedup > 1 means the vmapped step trains S seeds faster than S separate runs.

With --scan_probe it first times the core of a recurrent step alone: T steps of h <- tanh(h W)
with h [B, H], for one seed and for S seeds with their own W (a batched [S, B, H] x [S, H, H]
contraction per step, what vmap makes of the recurrent matmuls), interleaved; one JSON line per
S with both times, their ratio and the achieved GFLOP/s. A ratio near S at equal GFLOP/s means
the batched contraction runs as fast as the plain one and the seeds simply cost S times the work.
"""

import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import TrainStep, emit, time_interleaved  # noqa: E402
from configs.grids import cell_config, get_grid  # noqa: E402
from ldx import compilation_cache  # noqa: E402
from ldx.data import get_batch  # noqa: E402

_BACKBONES = flags.DEFINE_list("backbones", ["lstm", "transformer"], "Backbones.")
_METHODS = flags.DEFINE_list("methods", ["ld", "psld"], "Methods.")
_SEEDS = flags.DEFINE_list("seeds", ["2", "3"], "Numbers of seeds S per vmapped step.")
_GRID = flags.DEFINE_string("grid", "cpu", "Grid whose model and batch settings are used.")
_STEPS = flags.DEFINE_integer("steps", 20, "Steps per timed block.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Timed blocks of each kind, interleaved.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")
_PROBE = flags.DEFINE_bool("scan_probe", False, "Also time a bare recurrent matmul scan per S.")


def _scan_probe(num_seeds: int, batch: int = 128, hidden: int = 64, steps: int = 24) -> dict:
    """Times T steps of h <- tanh(h W) for 1 seed vs S seeds, interleaved."""

    def scan(h, w):  # h [..., B, H], w [..., H, H]
        return jax.lax.scan(lambda c, _: (jnp.tanh(c @ w), None), h, None, length=steps)[0]

    key_h, key_w = jax.random.split(jax.random.key(0))
    h = jax.random.normal(key_h, (num_seeds, batch, hidden))
    w = jax.random.normal(key_w, (num_seeds, hidden, hidden)) / hidden**0.5
    fn = jax.jit(scan)
    times = time_interleaved(
        {
            "one": lambda: jax.block_until_ready(fn(h[0], w[0])),
            "many": lambda: jax.block_until_ready(fn(h, w)),
        },
        repeats=30,
        warmup=3,
    )
    one, many = (float(np.median(times[k])) for k in ("one", "many"))
    flops = 2 * batch * hidden * hidden * steps
    return {
        "benchmark": "multiseed_scan_probe",
        "seeds": num_seeds,
        "shape": [batch, hidden, steps],
        "one_seed_ms": round(one * 1e3, 3),
        "all_seeds_ms": round(many * 1e3, 3),
        "time_ratio_vs_one_seed": round(many / one, 2),
        "gflops_one_seed": round(flops / one / 1e9, 1),
        "gflops_all_seeds": round(num_seeds * flops / many / 1e9, 1),
    }


def _setup(grid, method, backbone, num_seeds):
    """(single step, its state, vmapped step, stacked state, batch fn for one / S seeds)."""
    runs = []
    for seed in range(num_seeds):
        config = cell_config(grid, method, backbone, "sines", seed)
        config.data.num_samples = 2000  # The data size does not change the step.
        runs.append(TrainStep(config))
    bs = runs[0].train.batch_size

    def one(i):
        return get_batch(runs[0].exp.dataset.train, bs, i, 0)

    def many(i):
        return np.stack([get_batch(r.exp.dataset.train, bs, i, s) for s, r in enumerate(runs)])

    stacked = jax.tree.map(lambda *a: jnp.stack(a), *(r.state for r in runs))
    multi = jax.jit(jax.vmap(runs[0].update), donate_argnums=0)
    return runs[0].step, jax.tree.map(jnp.copy, runs[0].state), multi, stacked, one, many


def _block(fn, state, batch_fn, start, steps):
    t0 = time.perf_counter()
    for i in range(start, start + steps):
        state, _ = fn(state, batch_fn(i))
    jax.block_until_ready(state)
    return state, time.perf_counter() - t0


def main(argv):
    del argv
    compilation_cache.enable()
    grid = get_grid(_GRID.value)
    if _PROBE.value:
        for s in (int(v) for v in _SEEDS.value):
            emit(_scan_probe(s), _OUT.value)
    for backbone in _BACKBONES.value:
        for method in _METHODS.value:
            for s in (int(v) for v in _SEEDS.value):
                single, st1, multi, sts, one, many = _setup(grid, method, backbone, s)
                t0 = time.perf_counter()
                st1, _ = _block(single, st1, one, 0, 1)
                compile_single = time.perf_counter() - t0
                t0 = time.perf_counter()
                sts, _ = _block(multi, sts, many, 0, 1)
                compile_multi = time.perf_counter() - t0
                t_single, t_multi = [], []
                for r in range(_ROUNDS.value):
                    start = 1 + r * _STEPS.value
                    st1, dt = _block(single, st1, one, start, _STEPS.value)
                    t_single.append(dt / _STEPS.value)
                    sts, dt = _block(multi, sts, many, start, _STEPS.value)
                    t_multi.append(dt / _STEPS.value / s)
                ms1, msS = statistics.median(t_single) * 1e3, statistics.median(t_multi) * 1e3
                emit(
                    {
                        "benchmark": "multiseed",
                        "backbone": backbone,
                        "method": method,
                        "seeds": s,
                        "single_ms_per_seed_step": round(ms1, 2),
                        "vmapped_ms_per_seed_step": round(msS, 2),
                        "speedup": round(ms1 / msS, 3),
                        # Time of one S-seed step over one 1-seed step (target: <= 3 at S = 8).
                        "time_ratio_vs_one_seed": round(s * msS / ms1, 3),
                        "first_call_single_s": round(compile_single, 1),
                        "first_call_vmapped_s": round(compile_multi, 1),
                    },
                    _OUT.value,
                )


if __name__ == "__main__":
    app.run(main)
