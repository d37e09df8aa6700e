"""Sampling throughput: the latent DDPM / DDIM chain and autoregressive decoding.

    python -m benchmarks.sampling --out=benchmarks/results/sampling.jsonl

* Latent chain: ldx's sampler (the whole chain in one `lax.scan` inside one jit) vs a Python
  loop that calls a jitted single step L times (1000-step DDPM, 50-step DDIM), timed side by
  side on the same untrained prior (the cost does not depend on the weights). Both draw the same
  random numbers, and the benchmark checks they return the same latents. Measured at several
  batch sizes N: the loop pays one dispatch per step, which matters most when N is small.
* Decoding: `decode_sample` (one `lax.scan` over T) in series/s for each backbone, and for the
  Transformer its KV-cache step vs recomputing the causal pass over the whole prefix buffer at
  every step (same outputs, checked).
"""

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks.common import emit, experiment_config, median_ms, time_interleaved
from ldx.diffusion import ddim_sample, ddpm_sample
from ldx.experiment import build_experiment
from ldx.nn import decode_sample
from ldx.train.state import flatten_model

_NUMS = flags.DEFINE_list("num_samples", ["1", "64"], "Latent batch sizes N for the chain.")
_DECODE_NUM = flags.DEFINE_integer("decode_num", 1000, "Series per decoding call.")
_BACKBONES = flags.DEFINE_list("backbones", ["gru", "lstm", "transformer"], "Decoders to time.")
_KV_SEQ_LENS = flags.DEFINE_list("kv_seq_lens", ["24", "96"], "T for the KV-cache comparison.")
_FEATURES = flags.DEFINE_integer("features", 28, "Features D.")
_DDIM_STEPS = flags.DEFINE_integer("ddim_steps", 50, "DDIM steps.")
_REPEATS = flags.DEFINE_integer("repeats", 7, "Timed repeats (interleaved).")
_PARTS = flags.DEFINE_list("parts", ["chain", "decode", "kv_cache"], "What to time.")
_KV_NUM = flags.DEFINE_integer("kv_num", 100, "Series per call in the KV-cache comparison.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")


def _model(backbone="gru", seq_len=24):
    exp = build_experiment(
        experiment_config("ld", backbone, seq_len=seq_len, features=_FEATURES.value)
    )
    model_fn, params = flatten_model(exp.init_model())
    return exp, model_fn, params


def _chain_runners(exp, model_fn, params, num, sampler):
    """(scan fn, loop fn), each params-bound and blocking, returning z [N, Z]."""
    schedule, shape = exp.schedule, (num, exp.model.latent_dim)
    abars = schedule.alpha_bars
    key = jax.random.key(0)
    key_init, key_steps = jax.random.split(key)
    if sampler == "ddpm":
        num_steps = schedule.num_steps
        ts = np.arange(num_steps, 0, -1)
        ss = ts - 1
        scan = jax.jit(lambda p: ddpm_sample(model_fn(p).eps, schedule, key, shape))
    else:
        num_steps = _DDIM_STEPS.value
        seq = np.unique(np.linspace(0, schedule.num_steps, num_steps + 1).round().astype(int))
        ts, ss = seq[1:][::-1], seq[:-1][::-1]
        scan = jax.jit(
            lambda p: ddim_sample(model_fn(p).eps, schedule, key, shape, num_steps=num_steps)
        )
    keys = jax.random.split(key_steps, len(ts))

    @jax.jit
    def step(p, z, k, t, s):  # step k of the chain: z^t -> z^s
        eps = model_fn(p).eps(z, jnp.full((num,), t, jnp.int32))
        noise = jax.random.normal(keys[k], shape, jnp.float32)
        if sampler == "ddpm":
            beta, alpha = schedule.betas[t], schedule.alphas[t]
            mean = (z - beta / jnp.sqrt(1.0 - abars[t]) * eps) / jnp.sqrt(alpha)
            return mean + jnp.where(t > 1, jnp.sqrt(beta), 0.0) * noise
        x0 = (z - jnp.sqrt(1.0 - abars[t]) * eps) / jnp.sqrt(abars[t])
        return jnp.sqrt(abars[s]) * x0 + jnp.sqrt(1.0 - abars[s]) * eps

    def loop():
        z = jax.random.normal(key_init, shape, jnp.float32)
        for k, (t, s) in enumerate(zip(ts.tolist(), ss.tolist())):
            z = step(params, z, k, t, s)
        return jax.block_until_ready(z)

    return (lambda: jax.block_until_ready(scan(params))), loop, len(ts)


def chains():
    exp, model_fn, params = _model()
    for sampler in ("ddpm", "ddim"):
        for num in (int(n) for n in _NUMS.value):
            scan, loop, num_steps = _chain_runners(exp, model_fn, params, num, sampler)
            diff = float(jnp.max(jnp.abs(scan() - loop())))
            repeats = (
                _REPEATS.value if num_steps < 1000 or num <= 16 else max(3, _REPEATS.value // 2)
            )
            times = time_interleaved({"scan": scan, "loop": loop}, repeats, warmup=1)
            scan_ms, loop_ms = median_ms(times["scan"]), median_ms(times["loop"])
            emit(
                {
                    "benchmark": "latent_chain",
                    "sampler": sampler,
                    "chain_steps": num_steps,
                    "num_samples": num,
                    "latent_dim": exp.model.latent_dim,
                    "scan_ms": scan_ms,
                    "loop_ms": loop_ms,
                    "scan_samples_per_s": 1e3 * num / scan_ms,
                    "loop_samples_per_s": 1e3 * num / loop_ms,
                    "speedup": loop_ms / scan_ms,
                    "target": 50.0 if sampler == "ddpm" else None,
                    "max_abs_diff": diff,
                },
                _OUT.value,
            )


def _recompute_decode(decoder, z, key, seq_len, features, noise=True):
    """decode_sample without a cache: step t reruns the causal pass over the [N, T, D] buffer."""
    num = z.shape[0]
    eps = jax.random.normal(key, (seq_len, num, features), z.dtype)

    def body(buf, xs):
        t, eps_t = xs
        mean, logvar = decoder.head(decoder.hidden(z, buf)[:, t])  # h[:, t] sees x[:, :t]
        x_t = mean + noise * jnp.exp(0.5 * logvar) * eps_t
        return buf.at[:, t].set(x_t), None

    buf, _ = jax.lax.scan(
        body, jnp.zeros((num, seq_len, features), z.dtype), (jnp.arange(seq_len), eps)
    )
    return buf


def _decoder_fn(exp, model_fn, params, decode, num, seq_len, noise=True):
    z = jax.random.normal(jax.random.key(1), (num, exp.model.latent_dim))
    key = jax.random.key(2)
    d = exp.model.features
    fn = jax.jit(lambda p: decode(model_fn(p).decoder, z, key, seq_len, d, noise))
    return lambda: jax.block_until_ready(fn(params))


def decoding():
    num = _DECODE_NUM.value
    for backbone in _BACKBONES.value:
        exp, model_fn, params = _model(backbone)
        run = _decoder_fn(exp, model_fn, params, decode_sample, num, 24)
        ms = median_ms(time_interleaved({"d": run}, _REPEATS.value)["d"])
        emit(
            {
                "benchmark": "decode",
                "backbone": backbone,
                "num_series": num,
                "seq_len": 24,
                "decode_ms": ms,
                "series_per_s": 1e3 * num / ms,
            },
            _OUT.value,
        )


def kv_cache():
    num = _KV_NUM.value
    for seq_len in (int(t) for t in _KV_SEQ_LENS.value):
        exp, model_fn, params = _model("transformer", seq_len)
        cached = _decoder_fn(exp, model_fn, params, decode_sample, num, seq_len, noise=False)
        recomputed = _decoder_fn(
            exp, model_fn, params, _recompute_decode, num, seq_len, noise=False
        )
        diff = float(jnp.max(jnp.abs(cached() - recomputed())))
        times = time_interleaved({"cache": cached, "recompute": recomputed}, _REPEATS.value)
        cache_ms, recompute_ms = median_ms(times["cache"]), median_ms(times["recompute"])
        emit(
            {
                "benchmark": "kv_cache",
                "num_series": num,
                "seq_len": seq_len,
                "kv_cache_ms": cache_ms,
                "recompute_ms": recompute_ms,
                "kv_cache_series_per_s": 1e3 * num / cache_ms,
                "recompute_series_per_s": 1e3 * num / recompute_ms,
                "speedup": recompute_ms / cache_ms,
                "max_abs_diff": diff,
            },
            _OUT.value,
        )


def main(argv):
    del argv
    for part, fn in (("chain", chains), ("decode", decoding), ("kv_cache", kv_cache)):
        if part in _PARTS.value:
            fn()


if __name__ == "__main__":
    app.run(main)
