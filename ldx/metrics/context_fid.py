"""Context-FID (Jeha et al. 2022, as reported by Diffusion-TS): FID in a TS2Vec embedding.

Shape legend: N real windows, M generated windows, T time, D features, C embedding width (320),
R repeats.

For each repeat, a fresh TS2Vec encoder (`ldx.metrics.ts2vec`) is trained, self-supervised, on
the real windows only; every real and generated window is embedded as one C-vector (max over
time of the per-step representation); Gaussians are fitted to the two sets of embeddings and

    Context-FID = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)),

the squared 2-Wasserstein (Frechet) distance between N(mu_r, S_r) and N(mu_g, S_g), with S the
sample covariance (ddof = 1). Lower is better. Diffusion-TS repeats this 5 times and reports
mean +- the 95% t-interval (`t_interval`).

The number depends on N and M (the covariance estimates are biased; with N, M < C they are
singular), on the data scale and on the encoder's training: compare Context-FIDs only at equal
sizes, on the same normalised data, with the same settings. Real against a fresh real sample of
the same size is the floor. Diffusion-TS passes equal-size sets (M = N); here M may differ.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from ldx.errors import DataError
from ldx.metrics import ts2vec
from ldx.metrics._checks import pair
from ldx.metrics.learned import Repeated


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """The symmetric PSD square root, negative round-off eigenvalues clipped to 0."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, s1, mu2, s2) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, s1) and N(mu2, s2).

        d^2 = ||mu1 - mu2||^2 + Tr(s1) + Tr(s2) - 2 Tr((s1 s2)^(1/2)).

    Tr((s1 s2)^(1/2)) is computed as sum_k sqrt(lambda_k) over the eigenvalues of the symmetric
    PSD matrix A s2 A with A = s1^(1/2) (similar to s1 s2, so the same spectrum), negative
    round-off eigenvalues clipped to 0. This is the quantity `scipy.linalg.sqrtm(s1 @ s2)` gives
    in the standard FID code, without its failure modes: no complex parts to discard and no eps
    added to the diagonals of near-singular covariances (as with fewer samples than dimensions).
    The result is clipped at 0 against round-off.

    Args:
      mu1: mean. # [C]
      s1: covariance (symmetric PSD; symmetrised here). # [C, C]
      mu2: mean. # [C]
      s2: covariance. # [C, C]

    Returns:
      d^2 >= 0.
    """
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    c = mu1.shape[0]
    if mu1.shape != (c,) or mu2.shape != (c,) or s1.shape != (c, c) or s2.shape != (c, c):
        raise DataError(
            f"frechet_distance: means {mu1.shape}, {mu2.shape} and covariances {s1.shape}, "
            f"{s2.shape}; expected [C], [C], [C, C], [C, C] with one C"
        )
    if not all(np.isfinite(a).all() for a in (mu1, mu2, s1, s2)):
        raise DataError("frechet_distance: NaN/Inf in a mean or covariance")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    a = _psd_sqrt(s1)
    lam = np.linalg.eigvalsh((a @ s2 @ a + (a @ s2 @ a).T) / 2)  # [C]
    tr_sqrt = float(np.sqrt(np.clip(lam, 0.0, None)).sum())
    diff = mu1 - mu2
    return max(float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt), 0.0)


def gaussian_fit(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample covariance (ddof = 1) of embeddings [N, C], in float64."""
    e = np.asarray(embeddings, np.float64)
    return e.mean(axis=0), np.cov(e, rowvar=False)


def t_interval(result: Repeated, level: float = 0.95) -> float:
    """Half-width of the `level` Student-t interval of the mean over repeats.

        t_{(1 + level) / 2, R - 1} * std / sqrt(R)

    (Diffusion-TS's display_scores: `scipy.stats.sem` times `t.ppf(0.975, 4)` for R = 5).
    NaN for a single repeat.
    """
    r = len(result.values)
    if r < 2:
        return math.nan
    return float(scipy.stats.t.ppf((1.0 + level) / 2.0, r - 1) * result.std / math.sqrt(r))


@functools.partial(jax.jit, static_argnames=("config", "chunk"))
def _embeddings(real, fake, keys, iterations, *, config, chunk):
    """Per repeat: train on real, embed both. real [N, T, D], fake [M, T, D], keys [R]
    -> ([R, N, C], [R, M, C])."""

    def one(key):
        params = ts2vec.train(real, key, iterations, config)
        return ts2vec.embed(params, real, config, chunk), ts2vec.embed(params, fake, config, chunk)

    return jax.vmap(one)(keys)


def context_fid(
    real,
    fake,
    key: jax.Array,
    *,
    repeats: int = 5,
    iterations: int | None = None,
    batch_size: int = 8,
    learning_rate: float = 1e-3,
    hidden: int = 64,
    depth: int = 10,
    out_features: int = 320,
    chunk: int = 256,
) -> Repeated:
    """Context-FID of generated windows against real ones (module docstring), per repeat.

    Repeat r trains its own encoder with key `jax.random.split(key, repeats)[r]`; the R encoders
    are trained and applied together as one jitted program (`jax.vmap` over repeats).

    Args:
      real: real windows; the encoder is trained on these. # [N, T, D], T >= 2
      fake: generated windows. # [M, T, D]
      key: a `jax.random.key`.
      repeats: R independent encoders (Diffusion-TS: 5).
      iterations: AdamW steps per encoder; None is TS2Vec's default, 200 if N T D <= 100000
        else 600 (`ts2vec.default_iterations`).
      batch_size: windows per step (Diffusion-TS: 8).
      learning_rate: AdamW step size (Diffusion-TS: 1e-3).
      hidden: encoder width H (TS2Vec: 64).
      depth: hidden residual blocks (TS2Vec: 10).
      out_features: embedding width C (Diffusion-TS: 320).
      chunk: windows embedded at once; memory, not the result.

    Returns:
      the Context-FID of each repeat, with mean and std (and `t_interval`).
    """
    r, f = pair(real, fake)
    if r.shape[1] < 2:
        raise DataError(f"context_fid: windows have T={r.shape[1]} steps, expected T >= 2")
    if iterations is None:
        iterations = ts2vec.default_iterations(r.shape)
    for name, value in (
        ("repeats", repeats),
        ("iterations", iterations),
        ("batch_size", batch_size),
        ("hidden", hidden),
        ("depth", depth),
        ("out_features", out_features),
        ("chunk", chunk),
    ):
        if value < 1:
            raise DataError(f"context_fid: {name}={value}, expected an integer >= 1")
    config = ts2vec.TS2VecConfig(
        hidden=hidden,
        depth=depth,
        out_features=out_features,
        batch_size=batch_size,
        learning_rate=learning_rate,
    )
    er, ef = _embeddings(
        jnp.asarray(r, jnp.float32),
        jnp.asarray(f, jnp.float32),
        jax.random.split(key, repeats),
        jnp.int32(iterations),
        config=config,
        chunk=chunk,
    )
    er, ef = np.asarray(er), np.asarray(ef)  # [R, N, C], [R, M, C]
    values = [frechet_distance(*gaussian_fit(a), *gaussian_fit(b)) for a, b in zip(er, ef)]
    return Repeated(tuple(values))
