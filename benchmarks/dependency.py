"""Times the vectorised dependency measure against a grad loop and Captum's IntegratedGradients.

    python -m benchmarks.dependency                       # B=16, T=24, S=32, GRU H=64
    python -m benchmarks.dependency --batch=64 --skip_loop

Prints one JSON line per measurement (median seconds over --repeats after a warm-up call,
the device and library versions), then one line of speedups. Three implementations of the
same numbers, on the same decoder weights, series and Gauss-Legendre points:

* `vectorised`: `ldx.dependency.dependency_measures` in one jitted program (params are
  an argument, so it is compiled once).
* `loop`: `ldx.dependency.dependency_measures_loop`, one jitted `jax.grad` per
  (series, t, quadrature point), each returning the T + 1 attributions of that gradient.
* `captum`: `captum.attr.IntegratedGradients` on a PyTorch `nn.GRU` with the weights
  copied from the ldx decoder, one `attribute` call per output step t (each batched over
  series and points). Needs the optional `bench` extra (torch CPU, captum).

Every line records the largest absolute difference of its measure from the vectorised one.
"""

import json
import os
import platform
import statistics
import time

import jax
import numpy as np
from absl import app, flags
from flax import nnx

from ldx.dependency import decoder_fn, dependency_measures, dependency_measures_loop
from ldx.ld.model import LatentDiffusionModel, ModelConfig
from ldx.train.state import flatten_model

_B = flags.DEFINE_integer("batch", 16, "Series B.")
_T = flags.DEFINE_integer("seq_len", 24, "Window length T.")
_S = flags.DEFINE_integer("num_points", 32, "Gauss-Legendre points S.")
_H = flags.DEFINE_integer("width", 64, "Decoder width H.")
_D = flags.DEFINE_integer("features", 5, "Features D.")
_Z = flags.DEFINE_integer("latent", 16, "Latent size Z.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per implementation.")
_LOOP_REPEATS = flags.DEFINE_integer("loop_repeats", 2, "Timed calls of the slow loop.")
_SKIP_LOOP = flags.DEFINE_bool("skip_loop", False, "Do not time the grad loop.")
_SKIP_CAPTUM = flags.DEFINE_bool("skip_captum", False, "Do not time Captum.")
_THREADS = flags.DEFINE_integer(
    "threads", 1, "CPU threads for XLA and torch; 0 keeps each library's default."
)


def timed(fn, repeats: int, warmup=None) -> tuple[object, list[float]]:
    """Calls warmup (default fn) once, then fn `repeats` times; returns (last result, seconds)."""
    out, times = (warmup or fn)(), []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, times


def captum_measure(model, z, x, num_points: int):
    """(callable computing m [B, T, T + 1] with Captum, torch and captum versions)."""
    import captum
    import torch
    from captum.attr import IntegratedGradients

    if _THREADS.value:
        torch.set_num_threads(_THREADS.value)

    dec = model.decoder
    cell = dec.rnn.cells[0]
    hidden, features = cell.hidden, x.shape[-1]
    gru = torch.nn.GRU(features, hidden, batch_first=True)
    init = torch.nn.Linear(z.shape[-1], hidden)

    def copy(param, value):  # ldx kernels are [in, out], torch weights [out, in]
        param.data = torch.from_numpy(np.array(value)).float()

    copy(gru.weight_ih_l0, cell.input_proj.kernel[...].T)
    copy(gru.bias_ih_l0, cell.input_proj.bias[...])
    copy(gru.weight_hh_l0, cell.hidden_proj.kernel[...].T)
    copy(gru.bias_hh_l0, cell.hidden_proj.bias[...])
    copy(init.weight, dec.init.kernel[...].T)
    copy(init.bias, dec.init.bias[...])

    def hidden_states(zt, xt):  # [B, Z], [B, T, D] -> [B, T, H], as RNNDecoder.hidden
        inputs = torch.nn.functional.pad(xt, (0, 0, 1, 0))[:, :-1]  # x_{t-1}, x_{-1} = 0
        return gru(inputs, init(zt)[None])[0]

    def scores(zt, xt, u):  # <u_t, h_t> for every t: [B, T]
        return (hidden_states(zt, xt) * u).sum(-1)

    zt, xt = torch.from_numpy(np.array(z)), torch.from_numpy(np.array(x))
    ig = IntegratedGradients(scores)

    def run():
        b, t = xt.shape[:2]
        with torch.no_grad():
            delta = hidden_states(zt, xt) - hidden_states(zt * 0, xt * 0)  # [B, T, H]
            u = delta / delta.square().sum(-1, keepdim=True)
        m = torch.zeros(b, t, t + 1)
        for step in range(t):
            az, ax = ig.attribute(
                (zt, xt),
                baselines=(zt * 0, xt * 0),
                target=step,
                additional_forward_args=(u,),
                n_steps=num_points,
                method="gausslegendre",
            )
            m[:, step, 0] = az.sum(-1)
            m[:, step, 1 : step + 1] = ax[:, :step].sum(-1)
        return m.numpy()

    return run, {"torch": torch.__version__, "captum": captum.__version__}


def main(argv):
    del argv
    if _THREADS.value:  # before the first JAX operation starts the backend
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
            f"{'false' if _THREADS.value == 1 else 'true'}"
            f" intra_op_parallelism_threads={_THREADS.value}"
        )
    b, t, s = _B.value, _T.value, _S.value
    cfg = ModelConfig(features=_D.value, backbone="gru", latent_dim=_Z.value, width=_H.value)
    model = LatentDiffusionModel(cfg, rngs=nnx.Rngs(0))
    model_fn, params = flatten_model(model)
    kz, kx = jax.random.split(jax.random.key(1))
    z = jax.random.normal(kz, (b, cfg.latent_dim))  # [B, Z]
    x = jax.random.uniform(kx, (b, t, cfg.features))  # [B, T, D]
    common = {
        "benchmark": "dependency",
        "B": b,
        "T": t,
        "S": s,
        "H": cfg.width,
        "D": cfg.features,
        "Z": cfg.latent_dim,
        "rule": "gauss_legendre",
        "device": f"{jax.devices()[0].device_kind} x{jax.device_count()} ({platform.machine()})",
        "jax": jax.__version__,
        "threads": _THREADS.value or "default",
    }

    @jax.jit
    def vectorised(params, z, x):
        return dependency_measures(
            decoder_fn(model_fn(params)), z, x, num_points=s, rule="gauss_legendre"
        )

    start = time.perf_counter()
    ref = np.asarray(vectorised(params, z, x))
    compile_s = time.perf_counter() - start
    _, times = timed(lambda: vectorised(params, z, x).block_until_ready(), _REPEATS.value)
    medians = {"vectorised": statistics.median(times)}
    report = dict(common, impl="vectorised", median_s=medians["vectorised"], times_s=times)
    report["first_call_s"] = compile_s
    report["max_completeness_error"] = float(np.max(np.abs(ref.sum(-1) - 1)))
    print(json.dumps(report), flush=True)

    others = []
    if not _SKIP_LOOP.value:
        fn = decoder_fn(model)

        def loop(n=b):
            return dependency_measures_loop(fn, z[:n], x[:n], num_points=s, rule="gauss_legendre")

        # Warm-up on one series compiles the loop's only program.
        others.append(("loop", loop, _LOOP_REPEATS.value, lambda: loop(1), {}))
    if not _SKIP_CAPTUM.value:
        run, versions = captum_measure(model, z, x, s)
        others.append(("captum", run, _REPEATS.value, None, versions))
    for name, call, repeats, warmup, extra in others:
        m, times = timed(call, repeats, warmup)
        medians[name] = statistics.median(times)
        line = dict(common, impl=name, median_s=medians[name], times_s=times, **extra)
        line["max_abs_diff_vs_vectorised"] = float(np.max(np.abs(np.asarray(m) - ref)))
        print(json.dumps(line), flush=True)
    speedups = {f"{k}_over_vectorised": v / medians["vectorised"] for k, v in medians.items()}
    speedups.pop("vectorised_over_vectorised")
    print(json.dumps(dict(common, impl="speedup", **speedups)), flush=True)


if __name__ == "__main__":
    app.run(main)
