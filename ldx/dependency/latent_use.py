"""Does the decoder use z? Code baselines and the swap test, beside the paper's measure.

Shapes (ldx/shapes.py): N series, T time, D features, Z latent, J = T + 1 inputs of a step.

The paper's measure integrates from the all-zero input, so it credits z with every change of
h_t between z = 0 and z. A decoder that fails on z = 0 (PSLD's L_CS trains it to fail on
non-codes) then shows a large global dependency without telling one window from another
(docs/dependency_analysis.md, fifth session). Two checks that do not rest on z = 0:

* Code baselines (`code_baselines`): the same measure with z's path starting at a code, the
  mean code zbar (one for all series) or another window's code z_pi(n) (pi = `other_index`, a
  fixed permutation without fixed points); x's baseline stays 0. z is then credited only with
  what tells its code from a code.
* The swap test (`swap_loglik`): per t, log p(x_t | z, x_<t) of each window with z its own code,
  another window's code z_pi(n), z = 0 and noise z ~ N(0, I). The swap gap, own minus other,
  is what z tells the decoder about this window at step t beyond what any code does: a decoder
  that ignores z has gap 0 at every t, one that reads the past alone late in the window has a
  gap that shrinks along t. z = 0 and noise show whether the decoder treats non-codes apart.

The training probe (`make_probe`, `config.train.dependency_every`) logs the zero-baseline
summaries, the mean-code baseline's last-step global dependency and the swap gap at the first
and the last step, so collapse is visible while training.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ldx.dependency.measure import (
    decoder_fn,
    dependency_measures,
    global_dependency,
    summarize,
)
from ldx.ld.objective import step_loglik

BASELINES = ("zero", "mean_code", "other_code")  # z's end of the measure's path
LATENTS = ("own", "other", "zero", "noise")  # what the decoder reads in the swap test


def other_index(num: int, seed: int = 0) -> np.ndarray:
    """pi [N]: a fixed random permutation with pi[n] != n (for N >= 2); N = 1 gives [0].

    The windows are put in a seeded random order and each gets the code of the next one in it
    (a random cycle), so no window is paired with itself and the pairs do not follow the data
    order (neighbouring windows of a series overlap).
    """
    order = np.random.default_rng(seed).permutation(num)
    pi = np.empty(num, np.int64)
    pi[order] = np.roll(order, -1)
    return pi


def code_baselines(z: np.ndarray, pi: np.ndarray) -> dict[str, np.ndarray]:
    """{baseline: z0 [N, Z]} for BASELINES: zeros, the mean code zbar, the code z[pi]."""
    z = np.asarray(z)
    return {
        "zero": np.zeros_like(z),
        "mean_code": np.broadcast_to(z.mean(axis=0), z.shape).copy(),
        "other_code": z[pi],
    }


def swap_latents(z: jax.Array, pi: jax.Array, key: jax.Array | None) -> dict[str, jax.Array]:
    """{latent: [N, Z]} for LATENTS: z, z[pi], zeros and N(0, I) noise drawn with `key`
    (key None: no noise row)."""
    out = {"own": z, "other": z[pi], "zero": jnp.zeros_like(z)}
    if key is not None:
        out["noise"] = jax.random.normal(key, z.shape, z.dtype)
    return out


def swap_loglik(
    decode: Callable, latents: dict[str, jax.Array], x: jax.Array
) -> dict[str, jax.Array]:
    """{latent: log p(x_t | z, x_<t) [N, T]}, teacher forced, for each latent z [N, Z].

    Args:
      decode: decode(z [N, Z], x [N, T, D]) -> the decoder head's (mean, logvar[, factor]),
        e.g. a model's `decode`.
      latents: e.g. `swap_latents`.
      x: the windows. # [N, T, D]
    """
    return {name: step_loglik(x, *decode(z, x)) for name, z in latents.items()}


def swap_summary(ll: dict[str, np.ndarray]) -> dict[str, float]:
    """Means over series of each latent's log-lik. at the first (t = 0) and the last step and
    averaged over t, and the swap gap (own minus other) at the first and the last step."""
    out = {}
    for name, v in ll.items():
        v = np.asarray(v)  # [N, T]
        out[f"loglik_{name}_first"] = float(v[:, 0].mean())
        out[f"loglik_{name}_last"] = float(v[:, -1].mean())
        out[f"loglik_{name}_mean"] = float(v.mean())
    for where in ("first", "last"):
        out[f"swap_gap_{where}"] = out[f"loglik_own_{where}"] - out[f"loglik_other_{where}"]
    return out


def swap_curves(ll: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-t mean and standard error over series of each latent's log-lik. and the swap gap."""
    ll = {**ll, "gap": np.asarray(ll["own"]) - np.asarray(ll["other"])}
    out = {}
    for name, v in ll.items():
        v = np.asarray(v)  # [N, T]
        out[f"loglik_{name}_mean"] = v.mean(axis=0)
        out[f"loglik_{name}_sem"] = v.std(axis=0) / np.sqrt(len(v))
    return out


def make_probe(
    model_fn: Callable, params, windows: np.ndarray, num_points: int = 16
) -> Callable[[jax.Array], dict[str, jax.Array]] | None:
    """Training diagnostics: probe(params) -> metrics of a fixed batch of windows.

    Each window is encoded by the model being trained (posterior mean, or PSLD's v). The
    metrics are `summarize` of the zero-baseline measure, `dependency_global_last_mean_code`
    (the last step's global dependency from the mean code) and `swap_gap_first` /
    `swap_gap_last` (own- minus other-code log-lik. at t = 0 and t = T - 1, pi = `other_index`);
    the measures take `num_points` Gauss-Legendre points. Returns None (diagnostics off) for a
    model without `encode`, `decode` and `decoder.hidden`.

    Args:
      model_fn: flat params [P] -> model.
      params: example parameters [P], used only to check the model's interface.
      windows: the probe batch. # [B, T, D]
      num_points: S.
    """
    model = model_fn(params)
    if not (
        hasattr(model, "encode")
        and hasattr(model, "decode")
        and hasattr(getattr(model, "decoder", None), "hidden")
    ):
        return None
    x = jnp.asarray(windows)  # [B, T, D]
    pi = jnp.asarray(other_index(len(x)))

    @jax.jit
    def probe(flat):
        model = model_fn(flat)
        z = model.encode(x)[0]  # [B, Z]: posterior mean, or v for PSLD
        fn = decoder_fn(model)
        both = dependency_measures(
            fn,
            jnp.concatenate([z, z]),
            jnp.concatenate([x, x]),
            num_points=num_points,
            rule="gauss_legendre",
            z_baseline=jnp.concatenate([jnp.zeros_like(z), jnp.broadcast_to(z.mean(0), z.shape)]),
        )  # [2B, T, J]: zero baseline, then mean code
        out = summarize(both[: len(x)])
        out["dependency_global_last_mean_code"] = jnp.nanmean(
            global_dependency(both[len(x) :])[:, -1]
        )
        ll = step_loglik(x, *model.decode(z, x)) - step_loglik(x, *model.decode(z[pi], x))
        out["swap_gap_first"], out["swap_gap_last"] = ll[:, 0].mean(), ll[:, -1].mean()
        return out

    return probe
