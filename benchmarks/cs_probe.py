"""Can a trained PSLD decoder tell a noise latent from a code? (docs/dependency_analysis.md)

    python -m benchmarks.cs_probe --workdir=W [--num_windows=512]

L_CS penalises a good likelihood from a near-noise latent z^i, i ~ U{L-M..L}. A decoder can
meet that by recognising noise and failing on it, while still reading the past x on codes.
This prints the decoder's mean per-step log-likelihood of training windows (EMA weights)
when it reads each window's own code, a diffused code, another window's code (says nothing
about the window, yet looks like a code), noise z^i at several i, and z = 0, next to the
L_CS floor (the batch-marginal Gaussian). Steps above the floor are the ones L_CS penalises.

It then measures the dependency of the first --ig_windows of those windows twice: with the
measure's all-zero baseline, and with z's baseline moved to the mean code (x's stays 0), so
that z is credited only for what tells one code from the average one, not for switching the
decoder out of the state it takes on a non-code such as z = 0.
"""

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks.common import emit
from ldx.dependency import (
    completeness_error,
    decoder_fn,
    dependency_measures,
    global_dependency,
    local_dependency,
    with_z_baseline,
)
from ldx.ld.objective import marginal_loglik, step_loglik
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "A trained run (PSLD, or LD for reference).", required=True
)
_NUM = flags.DEFINE_integer("num_windows", 512, "Training windows to score.")
_STEPS = flags.DEFINE_list("noise_steps", ["500", "950"], "Diffusion steps i of the noise rows.")
_IG_WINDOWS = flags.DEFINE_integer("ig_windows", 128, "Windows whose dependency is measured.")
_IG_POINTS = flags.DEFINE_integer("ig_points", 256, "Gauss-Legendre points of that measure.")
_OUT = flags.DEFINE_string("out", None, "Optional JSONL file to append the record to.")


def main(argv):
    del argv
    run = load_run(_WORKDIR.value)
    exp, model = run.experiment, run.model()
    rng = np.random.default_rng(0)
    train = exp.dataset.train
    x = jnp.asarray(train[rng.choice(len(train), min(_NUM.value, len(train)), replace=False)])
    v, _ = model.encode(x)
    eps = jax.random.normal(jax.random.key(0), v.shape)
    abar = exp.schedule.alpha_bars
    steps = [int(i) for i in _STEPS.value]
    if not all(0 <= i < len(abar) for i in steps) or _IG_WINDOWS.value < 1:
        raise app.UsageError(
            f"--noise_steps must lie in [0, {len(abar) - 1}] and --ig_windows be >= 1; "
            f"got {_STEPS.value} and {_IG_WINDOWS.value}."
        )

    def diffused(code, i):
        return jnp.sqrt(abar[i]) * code + jnp.sqrt(1.0 - abar[i]) * eps

    latents = {
        "own code": v,
        "own code, z^50": diffused(v, 50),
        "another window's code": v[rng.permutation(len(v))],
        **{f"noise z^{i}": diffused(v, i) for i in steps},
        "z = 0": jnp.zeros_like(v),
    }
    floor = np.asarray(marginal_loglik(x, per_step=True))  # [N, T]
    rows = {"L_CS floor (batch marginal)": floor}
    rows.update({k: np.asarray(step_loglik(x, *model.decode(z, x))) for k, z in latents.items()})
    saturated = float((jnp.abs(v) > 0.99).mean())  # how far a code is from z = 0
    print(f"share of code coordinates beyond +-0.99: {saturated:.2f}")
    print(
        f"{'decoder reads':30s} {'t=0':>8s} {'t=1':>8s} {'t=T-1':>8s} {'window':>9s}  above floor"
    )
    record = {
        "benchmark": "cs_probe",
        "workdir": _WORKDIR.value,
        "step": int(run.state.step),
        "code_beyond_0.99": saturated,
    }
    for name, ll in rows.items():
        above = float((ll > floor).mean())
        print(
            f"{name:30s} {ll[:, 0].mean():8.1f} {ll[:, 1].mean():8.1f} {ll[:, -1].mean():8.1f} "
            f"{ll.sum(1).mean():9.1f}  {above:.2f}"
        )
        record[name] = {
            "t0": float(ll[:, 0].mean()),
            "last": float(ll[:, -1].mean()),
            "window": float(ll.sum(1).mean()),
            "above_floor": above,
        }
    fn, zbar = decoder_fn(model), v.mean(axis=0)
    n = min(_IG_WINDOWS.value, len(v))
    for name, f, z in (("zero", fn, v), ("mean code", with_z_baseline(fn, zbar), v - zbar)):
        m = dependency_measures(
            f, z[:n], x[:n], num_points=_IG_POINTS.value, rule="gauss_legendre", chunk_size=32
        )
        record[f"baseline {name}"] = dep = {
            "global_last": float(global_dependency(m)[:, -1].mean()),
            "global_mean": float(global_dependency(m).mean()),
            "local1_last": float(local_dependency(m)[:, -1].mean()),
            "max_completeness_error": float(completeness_error(m).max()),
        }
        print(
            f"dependency, z baseline {name}: "
            + ", ".join(f"{k} {val:.3f}" for k, val in dep.items())
        )
    emit(record, _OUT.value)


if __name__ == "__main__":
    app.run(main)
