"""LDIDP: implicit (one step per bin) vs explicit (M Langevin steps per bin) sampling.

    python -m benchmarks.ldidp_sampling --workdir=W --num=500 \
        --out=benchmarks/results/ldidp_sampling.jsonl

For a trained ldidp workdir, times one jitted call that draws --num windows (latents and
observations) with each sampler, interleaved, medians after warm-up, and scores each sampler's
windows against the real test windows with the same RBF-kernel MMD (bandwidth from the real
windows; spike counts summed over --mmd_bin bins). One JSON line per sampler, then a summary
line with the explicit / implicit time ratio and the relative MMD difference. With
--nodecode_noise the samplers return observation means instead of draws (for spike data the
Poisson draws can dominate both samplers' time); the MMD then compares means with real counts
and only the times are meaningful.

Two further lines locate the time: `ldidp_sampling_parts` (each sampler's latent scan alone, x
dropped so that XLA removes the decoding, and the shared decoder + observation noise on all
[N, T, Z] latents) and, for Poisson models, `ldidp_poisson` (ldx's inversion sampler vs
`jax.random.poisson` on the rates of one sampling call, N T D draws; with
--poisson_max_rates=30,60 also ldx's sampler at those inversion limits).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks.common import emit, time_interleaved
from ldx import compilation_cache
from ldx.ldidp import metrics
from ldx.ldidp.poisson import poisson
from ldx.ldidp.samplers import observe, sample
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained ldidp workdir.")
_NUM = flags.DEFINE_integer("num", 500, "Windows per sampling call.")
_REPEATS = flags.DEFINE_integer("repeats", 7, "Timed repeats per sampler (interleaved).")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed calls per sampler after compilation.")
_ETAS = flags.DEFINE_list("etas", ["0", "1"], "Implicit sampler eta values.")
_STEPS = flags.DEFINE_integer("langevin_steps", 100, "Explicit sampler steps per bin (M).")
_STEP_SIZE = flags.DEFINE_float("langevin_step_size", 0.1, "Explicit delta / sigma^2.")
_MMD_BIN = flags.DEFINE_integer("mmd_bin", None, "Bins summed before the MMD (default per data).")
_MMD_SEEDS = flags.DEFINE_integer("mmd_seeds", 3, "Sampling seeds averaged in the MMD.")
_NOISE = flags.DEFINE_bool(
    "decode_noise", True, "Draw x ~ p(x | z) (True) or time latents plus observation means."
)
_MAX_RATES = flags.DEFINE_list(
    "poisson_max_rates", [], "Also time ldx's Poisson sampler with these inversion limits."
)
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")
flags.mark_flags_as_required(["workdir"])


def _block(fn):
    """A no-argument call of fn(key) that waits for the result (for time_interleaved).

    The key is made once, outside the timed call: building it is a dispatch of its own (about
    0.5 ms on the H100 together with the sync), not part of either sampler.
    """
    key = jax.block_until_ready(jax.random.key(0))
    return lambda: jax.block_until_ready(fn(key))


def _parts(model, samplers, seq_len, data_name):
    """Emits median seconds of each sampler's latent scan and of the shared decoding + noise."""
    fns = {
        f"{name}_latents": jax.jit(lambda key, c=cfg: sample(model, c, key, _NUM.value, seq_len)[0])
        for name, cfg in samplers.items()
    }
    z = next(iter(fns.values()))(jax.random.key(0))  # [N, T, Z]
    fns["observe"] = jax.jit(lambda key: observe(model, z, key, _NOISE.value))
    times = time_interleaved({n: _block(f) for n, f in fns.items()}, _REPEATS.value, _WARMUP.value)
    record = {f"{n}_median_s": float(np.median(t)) for n, t in times.items()}
    emit({"benchmark": "ldidp_sampling_parts", "data": data_name, **record}, _OUT.value)
    return z


def _poisson_speed(model, z, data_name):
    """Emits median seconds of ldx's Poisson sampler (at its default and at each
    --poisson_max_rates) and of jax.random.poisson on exp(f(z))."""
    rate = jnp.exp(model.decode(z))  # [N, T, D]
    fns = {
        "inversion": jax.jit(lambda key: poisson(key, rate)),
        "jax": jax.jit(lambda key: jax.random.poisson(key, rate)),
    }
    for m in _MAX_RATES.value:
        fns[f"inversion_max_rate{m}"] = jax.jit(
            lambda key, m=float(m): poisson(key, rate, max_rate=m)
        )
    times = time_interleaved({n: _block(f) for n, f in fns.items()}, _REPEATS.value, _WARMUP.value)
    median = {n: float(np.median(t)) for n, t in times.items()}
    inv, ref = median["inversion"], median["jax"]
    record = {"num_draws": int(rate.size), "max_rate": float(rate.max())}
    record |= {"inversion_median_s": inv, "jax_median_s": ref, "speedup": ref / inv}
    record |= {f"{n}_median_s": t for n, t in median.items() if n.startswith("inversion_max")}
    emit({"benchmark": "ldidp_poisson", "data": data_name, **record}, _OUT.value)


def main(argv):
    del argv
    compilation_cache.enable()
    run = load_run(_WORKDIR.value)
    exp, model = run.experiment, run.model()
    seq_len = exp.dataset.seq_len
    base = dataclasses.replace(exp.sampler, decode_noise=_NOISE.value)
    samplers = {
        f"implicit_eta{e}": dataclasses.replace(base, sampler="implicit", eta=float(e))
        for e in _ETAS.value
    }
    samplers[f"explicit_M{_STEPS.value}"] = dataclasses.replace(
        base,
        sampler="explicit",
        langevin_steps=_STEPS.value,
        langevin_step_size=_STEP_SIZE.value,
    )
    fns = {
        name: jax.jit(lambda key, c=cfg: sample(model, c, key, _NUM.value, seq_len))
        for name, cfg in samplers.items()
    }
    times = time_interleaved({n: _block(f) for n, f in fns.items()}, _REPEATS.value, _WARMUP.value)

    mmd_bin = _MMD_BIN.value or (10 if exp.data.name == "mc_maze" else 1)

    def prep(x):
        return metrics.bin_counts(np.asarray(x), mmd_bin) if mmd_bin > 1 else np.asarray(x)

    real = prep(exp.dataset.test)
    bandwidth = metrics.median_bandwidth(real.reshape(len(real), -1))
    mmd_real = metrics.mmd(prep(exp.dataset.train)[: _NUM.value], real, bandwidth)
    records = {}
    for name, fn in fns.items():
        mmds = [
            metrics.mmd(prep(fn(jax.random.key(100 + s))[1]), real, bandwidth)
            for s in range(_MMD_SEEDS.value)
        ]
        records[name] = {
            "benchmark": "ldidp_sampling",
            "sampler": name,
            "data": exp.data.name,
            "num": _NUM.value,
            "seq_len": seq_len,
            "median_s": float(np.median(times[name])),
            "min_s": float(np.min(times[name])),
            "repeats": _REPEATS.value,
            "mmd": float(np.mean(mmds)),
            "mmd_std": float(np.std(mmds)),
            "mmd_real": mmd_real,
            "mmd_bin": mmd_bin,
            "decode_noise": _NOISE.value,
        }
        emit(records[name], _OUT.value)
    explicit = records[f"explicit_M{_STEPS.value}"]
    for name, rec in records.items():
        if name.startswith("implicit"):
            emit(
                {
                    "benchmark": "ldidp_sampling_summary",
                    "implicit": name,
                    "explicit": explicit["sampler"],
                    "speedup": explicit["median_s"] / rec["median_s"],
                    "mmd_rel_diff": (rec["mmd"] - explicit["mmd"]) / explicit["mmd"],
                    "data": exp.data.name,
                    "decode_noise": _NOISE.value,
                },
                _OUT.value,
            )
    z = _parts(model, samplers, seq_len, exp.data.name)
    if model.cfg.observation == "poisson":
        _poisson_speed(model, z, exp.data.name)


if __name__ == "__main__":
    app.run(main)
