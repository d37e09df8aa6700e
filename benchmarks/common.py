"""Shared benchmark helpers: interleaved timing, medians, one JSON line per measurement."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def environment() -> dict:
    """Device and library versions, recorded with every measurement."""
    import flax
    import optax

    device = jax.devices()[0]
    return {
        "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        "num_devices": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0],
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


def median_ms(times: np.ndarray) -> float:
    return float(1e3 * np.median(times))


def matmul_runner(n: int = 1024) -> tuple[Callable[[], object], float]:
    """(run, flops): a jitted f32 [n, n] @ [n, n], to time beside other work as the peak."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    return (lambda: dot(a, a).block_until_ready()), 2.0 * n**3


def compiled_flops(jitted, *args) -> float | None:
    """FLOPs of one call of `jitted` on args, from XLA's cost analysis (None if unreported)."""
    cost = jitted.lower(*args).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax: one dict per computation
        cost = cost[0] if cost else None
    flops = (cost or {}).get("flops")
    return float(flops) if flops is not None and flops > 0 else None


def loglog_exponent(sizes, costs) -> float:
    """The slope k of log(cost) = k log(size) + c, least squares."""
    return float(np.polyfit(np.log(sizes), np.log(costs), 1)[0])


def sampler_variant(sampler, name: str):
    """A copy of SamplerConfig `sampler` drawing with `ddpm`, `ddim:K` or `ddim:K:ETA`."""
    kind, *args = name.split(":")
    if kind == "ddpm" and not args:
        return dataclasses.replace(sampler, sampler="ddpm")
    if kind != "ddim" or len(args) not in (1, 2):
        raise ValueError(f"sampler {name!r}: expected ddpm, ddim:K or ddim:K:ETA.")
    eta = float(args[1]) if len(args) == 2 else sampler.ddim_eta
    return dataclasses.replace(sampler, sampler="ddim", ddim_steps=int(args[0]), ddim_eta=eta)


def experiment_config(
    method: str = "ld",
    backbone: str = "gru",
    batch_size: int = 128,
    seq_len: int = 24,
    features: int = 28,
    **objective,
):
    """configs/default.py on synthetic sines of the given window shape (Energy: T=24, D=28)."""
    from configs.default import get_config

    config = get_config()
    config.method, config.model.backbone = method, backbone
    config.data.name, config.data.dim, config.data.seq_len = "sines", features, seq_len
    config.data.num_samples = 64  # The step does not read the dataset; keep set-up quick.
    config.train.batch_size = batch_size
    config.train.dependency_every = 0
    for name, value in objective.items():
        config.objective[name] = value
    return config


class TrainStep:
    """The jitted, donating ldx train step of a config, on one fixed batch [B, T, D].

    `run()` takes one step and blocks; `flops()` is XLA's count for one step. `update` is
    the pure step (state, batch) -> (state, metrics) before jit, `step` the jitted one;
    `exp` and `train` are the experiment and its typed TrainConfig.
    """

    def __init__(self, config, batch: np.ndarray | None = None):
        from ldx.experiment import build_experiment
        from ldx.train import init_state
        from ldx.train.state import make_train_step

        self.config = config
        self.exp = exp = build_experiment(config)
        self.train = cfg = exp.train
        self.model_fn, optimizer, self.state = init_state(exp)
        self.num_params = int(self.state.params.size)
        self.update = make_train_step(
            self.model_fn, exp.loss_fn(cfg.num_steps), optimizer, cfg.ema_decay
        )
        self.step = jax.jit(self.update, donate_argnums=0)
        if batch is None:
            shape = (cfg.batch_size, config.data.seq_len, exp.dataset.dim)
            batch = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
        self.batch = jax.device_put(batch)

    def run(self):
        self.state, metrics = self.step(self.state, self.batch)
        jax.block_until_ready(metrics["loss"])
        return metrics

    def flops(self) -> float | None:
        return compiled_flops(self.step, self.state, self.batch)
