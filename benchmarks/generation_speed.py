"""Generation speed: seconds per 1000 windows, prior chain and decoding, against the FLOP bound.

    python -m benchmarks.generation_speed --out=benchmarks/results/generation_speed.jsonl

For each method and backbone (an untrained model of `configs/default.py` at the stocks window
shape, T=24, D=6: the cost does not depend on the weights) every candidate draws N windows in
two jitted calls, the latent chain (`ldx.ld.generate.sample_latents`) and the autoregressive
decoding (`ldx.nn.decode_sample`). Candidates:

* `before`: the code of main before the performance work (issue 21): the U-net with flax's
  `nnx.GroupNorm` and the 1000-step DDPM sampler, the default then;
* `ddpm`, `ddim:K`: today's U-net with each sampler (PSLD adds its random stop to every one).

All candidates and a [1024, 1024] f32 matmul (the peak) are timed interleaved in one process,
so ratios hold under background load. FLOPs come from XLA's cost analysis of one noise-network
call and of one decoder step at batch N, times the number of calls (XLA counts a scan's body
once). Each line: seconds per 1000 windows (chain, decode, total), GFLOP/s, the fraction of
the matmul peak, the FLOP-bound time, and the speed-up over `before`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from flax import nnx

from benchmarks.common import (
    compiled_flops,
    emit,
    experiment_config,
    matmul_runner,
    median_ms,
    sampler_variant,
    time_interleaved,
)
from ldx.experiment import build_experiment
from ldx.ld.generate import sample_latents
from ldx.nn import decode_sample
from ldx.nn.unet import GroupNorm
from ldx.train.state import flatten_model

_METHODS = flags.DEFINE_list("methods", ["ld", "psld"], "Methods.")
_BACKBONES = flags.DEFINE_list("backbones", ["gru"], "Decoder backbones.")
_SAMPLERS = flags.DEFINE_list(
    "samplers",
    ["ddpm", "ddim:100:1", "ddim:50:1", "ddim:20:1", "ddim:10:1"],
    "ddpm, ddim:K or ddim:K:ETA.",
)
_NUM = flags.DEFINE_integer("num", 1000, "Windows per call (the default sample.batch_size).")
_FEATURES = flags.DEFINE_integer("features", 6, "D (stocks: 6).")
_SEQ_LEN = flags.DEFINE_integer("seq_len", 24, "T.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed rounds (interleaved).")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")


def with_flax_groupnorm(model):
    """The model with each U-net GroupNorm replaced by flax's, same parameters (main's code)."""
    model = nnx.clone(model)
    modules = [m for _, m in nnx.iter_graph(model) if hasattr(m, "__dict__")]
    for module in modules:
        for name, child in list(vars(module).items()):
            if isinstance(child, GroupNorm):
                norm = nnx.GroupNorm(
                    child.scale.shape[0], num_groups=child.groups, rngs=nnx.Rngs(0)
                )
                norm.scale[...], norm.bias[...] = child.scale[...], child.bias[...]
                setattr(module, name, norm)
    return model


def _sampler(exp, name: str):
    sampler = sampler_variant(exp.sampler, name)
    steps = exp.schedule.num_steps if sampler.sampler == "ddpm" else sampler.ddim_steps
    return sampler, steps


def _runners(exp, model, sampler, num):
    """(chain, decode, flops): blocking zero-argument calls and the FLOPs of both."""
    model_fn, params = flatten_model(model)
    t, d, key = _SEQ_LEN.value, exp.dataset.dim, jax.random.key(0)
    chain = jax.jit(lambda p: sample_latents(model_fn(p), exp.schedule, sampler, key, num))
    z = chain(params)
    decode = jax.jit(lambda p, z: decode_sample(model_fn(p).decoder, z, key, t, d))
    eps = jax.jit(lambda p, z: model_fn(p).eps(z, jnp.full((num,), 500, jnp.int32)))

    def decoder_step(p, z):
        decoder = model_fn(p).decoder
        return decoder.head(decoder.step(decoder.start(z, t), jnp.zeros((num, d)))[1])

    steps = exp.schedule.num_steps if sampler.sampler == "ddpm" else sampler.ddim_steps
    flops = {
        "chain": steps * compiled_flops(eps, params, z),
        "decode": t * compiled_flops(jax.jit(decoder_step), params, z),
    }
    decode(params, z).block_until_ready()  # compiled here, so the timing needs no warm-up
    return (
        lambda: jax.block_until_ready(chain(params)),
        lambda: jax.block_until_ready(decode(params, z)),
        flops,
    )


def measure(method: str, backbone: str):
    config = experiment_config(method, backbone, seq_len=_SEQ_LEN.value, features=_FEATURES.value)
    exp = build_experiment(config)
    model, num = exp.init_model(), _NUM.value
    candidates = {"before": (with_flax_groupnorm(model), _sampler(exp, "ddpm"))}
    candidates.update({name: (model, _sampler(exp, name)) for name in _SAMPLERS.value})
    fns, flops = {}, {}
    for name, (m, (sampler, _)) in candidates.items():
        chain, decode, flops[name] = _runners(exp, m, sampler, num)
        fns[f"{name}/chain"], fns[f"{name}/decode"] = chain, decode
    peak_fn, peak_flops = matmul_runner()
    fns["peak"] = peak_fn
    times = time_interleaved(fns, _REPEATS.value, warmup=0)
    peak = peak_flops / np.median(times["peak"])
    per_1000 = 1000 / num
    before_s = None
    for name, (_, (sampler, steps)) in candidates.items():
        chain_s = np.median(times[f"{name}/chain"]) * per_1000
        decode_s = np.median(times[f"{name}/decode"]) * per_1000
        total_s, total_flops = chain_s + decode_s, sum(flops[name].values()) * per_1000
        before_s = total_s if name == "before" else before_s
        emit(
            {
                "benchmark": "generation_speed",
                "method": method,
                "backbone": backbone,
                "candidate": name,
                "sampler": sampler.sampler,
                "chain_steps": steps,
                "stop_max": sampler.stop_max,
                "num_windows": num,
                "seq_len": _SEQ_LEN.value,
                "features": exp.dataset.dim,
                "chain_s_per_1000": chain_s,
                "decode_s_per_1000": decode_s,
                "total_s_per_1000": total_s,
                "gflop_per_1000": total_flops / 1e9,
                "gflops": total_flops / total_s / 1e9,
                "peak_gflops": peak / 1e9,
                "fraction_of_peak": total_flops / total_s / peak,
                "flop_bound_s_per_1000": total_flops / peak,
                "speedup_vs_before": before_s / total_s,
                "median_of": _REPEATS.value,
                "peak_ms": median_ms(times["peak"]),
            },
            _OUT.value,
        )


def main(argv):
    del argv
    for method in _METHODS.value:
        for backbone in _BACKBONES.value:
            measure(method, backbone)


if __name__ == "__main__":
    app.run(main)
