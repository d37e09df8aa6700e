"""Conditional generation from a trained run: forecasting and imputation.

Shapes follow ldx/shapes.py; N windows, K completions per window, P particles.

`complete(run, x, mask, key, ...)` draws K completions of each window x [N, T, D] (data units)
whose entries with mask = 1 are observed, by sequential Monte Carlo over time (`ldx.smc`, which
says why and how) over the run's `experiment.step_model(model)`:

  LD/PSLD   particles carry z from the run's own latent sampler (DDIM or DDPM; PSLD's
            random-stop latent, as in generation) and the decoder's state; the decoder's
            Gaussian likelihood of each step's observed entries weighs them, and the unobserved
            ones are drawn from its conditional (diagonal, or the low-rank noise of
            `model.noise_rank > 0`); ldx/ld/generate.py.
  LDIDP     particles carry (h_k, z_k): z_0 ~ p(z_0), z_k from the generative transition
            N(m(z_{k-1}, c^_k), sigma^2) (the trained model, eta = 1, whatever sample.eta is);
            the observation model's likelihood of bin k's observed entries weighs them, and the
            unobserved ones are drawn from p(x_k | z_k) (conditionally independent given z_k):
            Gaussian, or integer Bernoulli / Poisson draws; ldx/ldidp/samplers.py. All D
            features are modelled (MC_Maze's encoder_features do not matter here).

Every observed entry comes back bit for bit: the completions are mapped back to data units and
then the input's observed values are copied in.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from ldx.batching import batch_map, data_mesh, shardings
from ldx.errors import DataError
from ldx.smc import smc_complete


def make_complete_fn(model_fn, exp, num_particles: int, num_completions: int):
    """Jits (flat params, key, x [B, T, D], mask [B, T, D]) -> `ldx.smc.Completion` of each
    window (samples [B, K, T, D], normalised units), windows split over the local devices."""
    replicated, batched = shardings(data_mesh(jax.local_devices()))

    def fn(params, key, x, mask):
        model = exp.step_model(model_fn(params))
        keys = jax.random.split(key, x.shape[0])
        one = lambda k, xw, mw: smc_complete(  # noqa: E731
            model, xw, mw, k, num_particles, num_completions
        )
        return jax.vmap(one)(keys, x, mask)

    return jax.jit(fn, in_shardings=(replicated, replicated, batched, batched))


def read_input(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, mask) of an .npz holding `x [N, T, D]` (NaN where unknown) and optionally `mask`
    (1 = observed; then x's unobserved entries are ignored). DataError if unusable."""
    if not os.path.isfile(path):
        raise DataError(f"--input={path!r} is not a file.")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # a zip that is no .npz, a truncated file, an object array
        raise DataError(f"cannot read --input={path!r} as an .npz file: {e}") from None
    if "x" not in arrays:
        raise DataError(f"--input={path!r} holds {sorted(arrays)}, expected an array `x`.")
    x = arrays["x"]
    if x.dtype.kind not in "fiu":
        raise DataError(f"--input={path!r}: x has dtype {x.dtype}, expected numbers.")
    if "mask" not in arrays:
        return x, ~np.isnan(x)
    mask = arrays["mask"]
    if mask.shape != x.shape:
        raise DataError(f"--input={path!r}: mask has shape {mask.shape}, x has {x.shape}.")
    if mask.dtype.kind not in "biuf" or not np.isin(mask, (0, 1)).all():
        raise DataError(f"--input={path!r}: mask must hold only 0 and 1 (1 = observed).")
    return x, mask.astype(bool)


def check_input(x: np.ndarray, mask: np.ndarray, exp, where: str = "the input") -> None:
    """DataError unless x and mask [N, T, D] fit the run of `exp` and every window observes
    something and only finite values."""
    seq_len, dim = exp.dataset.seq_len, exp.dataset.scaler.dim
    if x.ndim != 3 or x.shape[1:] != (seq_len, dim):
        raise DataError(
            f"{where}: x has shape {x.shape}, expected [N, {seq_len}, {dim}] (windows of the "
            f"run's data.seq_len={seq_len} and its {dim} features, data {exp.data.name!r})."
        )
    if mask.shape != x.shape:
        raise DataError(f"{where}: mask has shape {mask.shape}, x has {x.shape}.")
    if not len(x):
        raise DataError(f"{where}: x holds no windows.")
    empty = np.flatnonzero(~mask.reshape(len(x), -1).any(axis=1))
    if len(empty):
        raise DataError(
            f"{where}: {len(empty)} window(s) observe nothing (first: window {empty[0]}); "
            "a window without observations is unconditional generation: use launch.sample."
        )
    bad = mask & ~np.isfinite(x)
    if bad.any():
        n, t, d = np.argwhere(bad)[0]
        raise DataError(
            f"{where}: {int(bad.sum())} observed value(s) are NaN or infinite (first: window "
            f"{n}, step {t}, feature {d}); mark unknown values with mask = 0 or NaN in x."
        )


def complete(
    run,
    x: np.ndarray,
    mask: np.ndarray,
    key: jax.Array,
    num_completions: int,
    num_particles: int,
    batch_size: int | None = None,
    use_ema: bool = True,
) -> dict[str, np.ndarray]:
    """K completions of each window of a trained run (any method).

    Args:
      run: an `ldx.train.Run`.
      x: windows in data units [N, T, D]; entries with mask 0 are ignored (NaN allowed there).
      mask: 1 (True) where observed [N, T, D].
      key: PRNG key; window n of chunk c uses split(fold_in(key, c), chunk size)[n].
      num_completions: K.
      num_particles: P per window.
      batch_size: windows per compiled call (default: about 4096 particles per call).
      use_ema: complete with the EMA parameters.

    Returns:
      {"samples": [N, K, T, D] in data units, observed entries copied from x (the dtype of
       x, at least float32); "samples_normalized": the same in the training scale before the
       copy; "log_evidence", "min_ess", "num_ancestors": [N], see `ldx.smc.Completion`}.

    Raises:
      DataError: x or mask do not fit the run (`check_input`).
    """
    mask = np.asarray(mask, bool)
    check_input(x, mask, run.experiment)
    exp = run.experiment
    scaler = exp.dataset.scaler
    # The model's features [N, T, D']; an observed column the model does not draw (an exact
    # function of others, data.drop_dependent) is copied into the output but not conditioned on.
    scaled, model_mask = scaler.transform(np.where(mask, x, 0)), scaler.select(mask)
    fn = make_complete_fn(run.model_fn, exp, num_particles, num_completions)
    params = run.params(use_ema)
    size = batch_size or max(1, 4096 // num_particles)
    out = batch_map(
        lambda c, n, xs, ms: fn(params, jax.random.fold_in(key, c), xs, ms),
        scaled,
        model_mask.astype(np.float32),
        batch_size=size,
        progress=f"completing {len(x)} window(s) with {num_particles} particles each",
    )
    normalized = scaler.expand(np.asarray(out.samples))  # [N, K, T, D]
    dtype = np.result_type(x.dtype, np.float32)
    samples = scaler.inverse_transform(normalized).astype(dtype)
    samples = np.where(mask[:, None], x[:, None].astype(dtype), samples)
    return dict(
        samples=samples,
        samples_normalized=normalized,
        log_evidence=np.asarray(out.log_evidence),
        min_ess=np.asarray(out.min_ess),
        num_ancestors=np.asarray(out.num_ancestors),
    )
