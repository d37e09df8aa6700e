"""The dependency measure of a trained run: latents and series, measures, npz, figures.

Shapes (ldx/shapes.py): N series, T time, D features, Z latent, J = T + 1 inputs of a step.

`measure_run` is what `launch.dependency` calls:

* source "model": N series drawn from the run (the DDPM prior, PSLD's random stop,
  then X ~ p(X | z)); each series is measured with the z that generated it.
* source "data": N test windows, encoded by the run's encoder (the posterior mean
  for LD and its baselines, the deterministic code v for PSLD).

Beside the paper's measure (all-zero baseline) it takes the measure from two code baselines
(the mean code over the N series; for each series another one's code) and the swap test
(ldx/dependency/latent_use.py).

Ordered or shuffled windows follow the run's `config.data.shuffle_time`.
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import numpy as np
from absl import logging

from ldx.batching import batch_map, draw, make_generate_fn
from ldx.dependency.figures import (
    plot_average,
    plot_latent_use,
    plot_latent_use_series,
    plot_series,
)
from ldx.dependency.latent_use import (
    BASELINES,
    code_baselines,
    other_index,
    swap_curves,
    swap_latents,
    swap_loglik,
    swap_summary,
)
from ldx.dependency.measure import (
    RULES,
    completeness_error,
    decoder_fn,
    dependency_measures,
    global_dependency,
    local_dependency,
)
from ldx.errors import LdxError
from ldx.eval.samples import write_npz
from ldx.ld.generate import generate_with_latents

SOURCES = ("model", "data")
OUTPUTS = (
    "measures.npz",
    "series.png",
    "average.png",
    "series_latent_use.png",
    "latent_use.png",
    "summary.json",
)


@dataclasses.dataclass(frozen=True)
class Report:
    """Measures of N series of a run.

    Attributes:
      m: the measure, all-zero baseline (the paper's). # [N, T, J]
      z: the latents the decoder saw. # [N, Z]
      x: the series, normalised units. # [N, T, D]
      info: JSON-able description (run, source, rule, points, shuffle_time, summaries).
      m_code: {"mean_code", "other_code"}: the measure from those z baselines. # [N, T, J]
      loglik: the swap test, {latent: log p(x_t | z, x_<t)} (latent_use.LATENTS). # [N, T]
      other: pi, series n's other code is z[pi[n]]. # [N]
    """

    m: np.ndarray
    z: np.ndarray
    x: np.ndarray
    info: dict
    m_code: dict = dataclasses.field(default_factory=dict)
    loglik: dict = dataclasses.field(default_factory=dict)
    other: np.ndarray | None = None


def latents_and_series(
    run, source: str, num: int, seed: int = 0, use_ema: bool = True, batch_size: int = 250
) -> tuple[np.ndarray, np.ndarray]:
    """(z [N, Z], x [N, T, D]) from the run's model or its test windows; see the module doc."""
    if source not in SOURCES:
        raise LdxError(f"dependency report source={source!r} is not one of {SOURCES}.")
    exp, params = run.experiment, run.params(use_ema)
    key = jax.random.key(seed)
    if source == "model":
        fn = make_generate_fn(
            run.model_fn,
            lambda model, k, n: generate_with_latents(
                model, exp.schedule, exp.sampler, k, n, exp.dataset.seq_len, exp.tie
            ),
        )
        return tuple(draw(fn, params, key, num, batch_size))
    windows = exp.dataset.test
    if num > len(windows):
        logging.warning("Only %d test windows; measuring all of them.", len(windows))
        num = len(windows)
    x = windows[np.sort(np.random.default_rng(seed).permutation(len(windows))[:num])]
    encode = jax.jit(lambda p, x: run.model_fn(p).encode(x)[0])
    return batch_map(lambda i, size, x: encode(params, x), x, batch_size=batch_size), x


_BATCH, _CHUNK = 100, 8  # Series per compiled call of `measures`, quadrature points per scan step.


def memory_estimate(
    num: int,
    seq_len: int,
    width: int,
    num_points: int,
    rule: str,
    batch_size: int = _BATCH,
    chunk_size: int = _CHUNK,
) -> int:
    """Bytes of the largest arrays that measuring N series holds at once (`measures`).

    * Gauss-Legendre nodes: NumPy's `leggauss` builds an S x S float64 companion matrix and
      LAPACK a working copy of it: 16 S^2 (10^6 points: 14.6 TiB).
    * Points and weights of one batch, with their padded copies: 4 arrays of B x S float32.
    * One chunk of tangents of the decoder's outputs, with their primal and product:
      3 x chunk x B x J x T x H float32.
    * The measures of all series: N x T x J float32, and as many again for the curves.

    Args:
      num: N, series measured.
      seq_len: T.
      width: H, the size of the decoder representation h_t.
      num_points: S.
      rule: one of RULES.
      batch_size: B, series per compiled call.
      chunk_size: quadrature points per scan step.
    """
    j, b, chunk = seq_len + 1, min(batch_size, num), min(chunk_size, num_points)
    nodes = 16 * num_points**2 if rule == "gauss_legendre" else 0
    points = 4 * 4 * b * (num_points + chunk)
    tangents = 3 * 4 * chunk * b * j * seq_len * width
    return nodes + points + tangents + 2 * 4 * num * seq_len * j


def _check_memory(run, num: int, num_points: int, rule: str, copies: int = 1) -> None:
    """LdxError, before any work, if the measure needs more memory than the machine has."""
    model = run.model()
    x = jax.ShapeDtypeStruct(run.experiment.dataset.test.shape[1:], np.float32)  # [T, D]
    z = jax.eval_shape(lambda x: model.encode(x[None])[0][0], x)  # [Z]
    h = jax.eval_shape(decoder_fn(model), z, x)  # [T, H]
    need = memory_estimate(copies * num, *h.shape, num_points, rule)
    have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > have:
        raise LdxError(
            f"the dependency measure of {num} series from {copies} baseline(s) with "
            f"num_points={num_points} ({rule}) "
            f"needs about {_size(need)} of memory, more than this machine's {_size(have)}; "
            "use fewer points (or series)."
        )


def _size(num_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if num_bytes < 1024 or unit == "TiB":
            return f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024


def measures(
    run,
    z: np.ndarray,
    x: np.ndarray,
    *,
    num_points: int = 32,
    rule: str = "gauss_legendre",
    use_ema: bool = True,
    batch_size: int = _BATCH,
    chunk_size: int | None = _CHUNK,
    seed: int = 0,
    z_baseline: np.ndarray | None = None,
) -> np.ndarray:
    """The measure of the run's decoder on (z [N, Z], x [N, T, D]), batch by batch: [N, T, J].

    z_baseline: z's end of the path per series [N, Z] (`dependency_measures`); None: zeros.
    """
    if rule not in RULES:
        raise LdxError(f"dependency rule={rule!r} is not one of {RULES}.")

    @jax.jit
    def fn(params, z, x, z0, key):
        return dependency_measures(
            decoder_fn(run.model_fn(params)),
            z,
            x,
            num_points=num_points,
            rule=rule,
            key=key,
            chunk_size=chunk_size,
            z_baseline=z0,
        )

    params, key = run.params(use_ema), jax.random.key(seed)
    z0 = np.zeros_like(z) if z_baseline is None else z_baseline
    # Chunk i's key folds in its first row, i * size.
    return batch_map(
        lambda i, size, z, x, z0: fn(params, z, x, z0, jax.random.fold_in(key, i * size)),
        z,
        x,
        z0,
        batch_size=batch_size,
        progress=f"dependency measure of {len(z)} series ({num_points} {rule} points)",
    )


def curves(m: np.ndarray) -> dict[str, np.ndarray]:
    """Per-t mean and standard error over series of the global and local-1/2 dependency."""
    out = {}
    for name, v in (
        ("global", global_dependency(m)),
        ("local1", local_dependency(m, 1)),
        ("local2", local_dependency(m, 2)),
    ):
        v = np.asarray(v)  # [N, T]
        out[f"{name}_mean"] = np.mean(v, axis=0)  # NaN where t < order
        out[f"{name}_sem"] = np.std(v, axis=0) / np.sqrt(len(v))
    return out


COMPLETENESS_TOL = 1e-2  # |sum_j m[t, j] - 1| above this: the quadrature has not converged.


def measure_run(
    run,
    source: str = "model",
    num: int = 500,
    *,
    num_points: int = 32,
    rule: str = "gauss_legendre",
    seed: int = 0,
    use_ema: bool = True,
    latent_use: bool = True,
) -> Report:
    """Latents and series from `source`, their measures, and a summary.

    latent_use: also measure from the code baselines and run the swap test (module doc);
    False: the paper's measure alone (a third of the cost).

    Raises:
      LdxError: the measure would need more memory than the machine has (checked first).
    """
    copies = len(BASELINES) if latent_use else 1
    _check_memory(run, num, num_points, rule, copies)
    exp = run.experiment
    z, x = latents_and_series(run, source, num, seed, use_ema)
    n, pi = len(x), other_index(len(x), seed)
    # The baselines as one set of 3N series: one compiled program.
    z0 = np.concatenate(list(code_baselines(z, pi).values())[:copies])  # [3N, Z], BASELINES
    tile = (np.concatenate([z] * copies), np.concatenate([x] * copies))
    m_all = measures(
        run, *tile, num_points=num_points, rule=rule, use_ema=use_ema, seed=seed, z_baseline=z0
    )
    m = m_all[:n]
    m_code = {b: m_all[k * n : (k + 1) * n] for k, b in enumerate(BASELINES[1:copies], 1)}
    loglik = swap_test(run, z, x, pi, seed, use_ema) if latent_use else {}
    c = curves(m)
    completeness = np.asarray(completeness_error(m))  # [N, T]
    info = {
        "workdir": os.path.abspath(run.workdir),
        "method": exp.method,
        "backbone": exp.model.backbone,
        "data": exp.data.name,
        "shuffle_time": bool(exp.data.shuffle_time),
        "step": int(run.state.step),
        "source": source,
        "num_series": len(x),
        "rule": rule,
        "num_points": num_points,
        "global_mean": float(np.mean(c["global_mean"])),
        "global_last": float(c["global_mean"][-1]),
        "local1_mean": float(np.nanmean(c["local1_mean"])),
        "local1_last": float(c["local1_mean"][-1]),
        "max_completeness_error": float(np.max(completeness)),
        "unconverged_fraction": float(np.mean(completeness > COMPLETENESS_TOL)),
    }
    for name, mb in m_code.items():
        g = np.asarray(global_dependency(mb))  # [N, T]
        info[f"{name}_global_mean"] = float(np.mean(g))
        info[f"{name}_global_last"] = float(np.mean(g[:, -1]))
        info[f"{name}_local1_last"] = float(np.mean(np.asarray(local_dependency(mb, 1))[:, -1]))
        info[f"{name}_max_completeness_error"] = float(np.max(completeness_error(mb)))
    if latent_use:
        info.update(swap_summary(loglik))
    return Report(
        m=m, z=z, x=x, info=info, m_code=m_code, loglik=loglik, other=pi if latent_use else None
    )


def swap_test(
    run, z: np.ndarray, x: np.ndarray, pi: np.ndarray, seed: int = 0, use_ema: bool = True
) -> dict[str, np.ndarray]:
    """`latent_use.swap_loglik` of the run's decoder on (z [N, Z], x [N, T, D]): {latent: [N, T]}.

    Another window's code is z[pi]; the noise latents are drawn with fold_in(key(seed), 1).
    """
    latents = swap_latents(jax.numpy.asarray(z), pi, jax.random.fold_in(jax.random.key(seed), 1))
    names = list(latents)

    @jax.jit
    def fn(params, x, *zs):
        model = run.model_fn(params)
        ll = swap_loglik(model.decode, dict(zip(names, zs)), x)
        return tuple(ll[k] for k in names)

    params = run.params(use_ema)
    out = batch_map(
        lambda i, size, x, *zs: fn(params, x, *zs), x, *latents.values(), batch_size=_BATCH
    )
    return dict(zip(names, map(np.asarray, out)))


def save_report(report: Report, folder: str, series_index: int = 0) -> dict[str, str]:
    """Writes OUTPUTS into `folder` (the latent-use figures when the report has the swap test);
    returns their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = {name: os.path.join(folder, name) for name in OUTPUTS}
    if not report.loglik:  # the paper's measure alone: no latent-use figures
        paths = {k: v for k, v in paths.items() if "latent_use" not in k}
    c = curves(report.m)
    swap = swap_curves(report.loglik) if report.loglik else {}
    write_npz(
        paths["measures.npz"],
        m=report.m,
        z=report.z,
        x=report.x,
        global_dependency=np.asarray(global_dependency(report.m)),
        local_dependency=np.asarray(local_dependency(report.m, 1)),
        info=json.dumps(report.info),
        **c,
        **{f"m_{k}": v for k, v in report.m_code.items()},
        **{f"loglik_{k}": v for k, v in report.loglik.items()},
        **({} if report.other is None else {"other_index": report.other}),
        **{f"curve_{k}": v for k, v in swap.items()},
    )
    title = (
        f"{report.info['method']} / {report.info['backbone']} / {report.info['data']}"
        f" ({'shuffled' if report.info['shuffle_time'] else 'ordered'},"
        f" {report.info['source']})"
    )
    i = min(series_index, len(report.m) - 1)
    plot_series(report.m[i], report.x[i], paths["series.png"], title)
    plot_average(c, len(report.m), paths["average.png"], title)
    if report.loglik:
        glob = {"zero": np.asarray(global_dependency(report.m))}
        glob.update({k: np.asarray(global_dependency(v)) for k, v in report.m_code.items()})
        series_ll = {k: np.asarray(v)[i] for k, v in report.loglik.items()}
        plot_latent_use_series(
            {k: v[i] for k, v in glob.items()}, series_ll, paths["series_latent_use.png"], title
        )
        plot_latent_use(glob, swap, len(report.m), paths["latent_use.png"], title)
    with open(paths["summary.json"], "w") as f:
        json.dump(report.info, f, indent=2)
    return paths
