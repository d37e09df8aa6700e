"""Tests of ldx.ldidp.poisson, the inversion Poisson sampler, and its use for observations.

References are closed-form float64 pmfs (math.lgamma), independent of the float32 search.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from flax import nnx

from ldx.ldidp import poisson as poisson_lib
from ldx.ldidp import samplers
from ldx.ldidp.model import LDIDP, ModelConfig

N_DRAWS = 1_000_000


def _pmf(k: np.ndarray, rate: float) -> np.ndarray:
    """Closed-form Poisson pmf in float64: exp(k log rate - rate - log k!)."""
    return np.array([math.exp(i * math.log(rate) - rate - math.lgamma(i + 1)) for i in k])


def _chi_square(draws: np.ndarray, rate: float) -> tuple[float, int]:
    """Pearson chi^2 of the draws against Poisson(rate): cells with >= 20 expected, tails pooled."""
    n = len(draws)
    ks = np.arange(int(rate + 20 * math.sqrt(rate) + 20))
    expected = n * _pmf(ks, rate)
    keep = np.flatnonzero(expected >= 20)
    lo, hi = keep[0], keep[-1]
    counts = np.bincount(draws, minlength=len(ks))
    obs = np.concatenate([[counts[: lo + 1].sum()], counts[lo + 1 : hi], [counts[hi:].sum()]])
    exp = np.concatenate(
        [[expected[: lo + 1].sum()], expected[lo + 1 : hi], [n - expected[:hi].sum()]]
    )
    return float(((obs - exp) ** 2 / exp).sum()), len(obs) - 1


@pytest.mark.parametrize("rate", [0.01, 0.5, 3.0, 12.0, 29.0, 45.0, 59.0, 75.0])
def test_empirical_pmf_matches_closed_form(rate):
    """Given 10^6 draws at one rate, then chi^2 and total variation match the Poisson pmf.

    75 is above INVERSION_MAX_RATE (every element, so jax.random.poisson on the whole array).
    A sampler whose rate is off by 1% gives chi^2 ~ 10^6 * 1e-4 * rate (88 at rate 0.5, 1342
    at 12; bounds 36, 77).
    """
    draws = np.asarray(poisson_lib.poisson(jax.random.key(3), jnp.full((N_DRAWS,), rate)))
    assert draws.min() >= 0
    stat, df = _chi_square(draws, rate)
    assert stat < scipy.stats.chi2.ppf(1 - 1e-6, max(df, 1)), (stat, df)
    ks = np.arange(draws.max() + 1)
    tv = 0.5 * np.abs(np.bincount(draws) / N_DRAWS - _pmf(ks, rate)).sum()
    tv += 0.5 * (1.0 - _pmf(ks, rate).sum())  # mass the draws never reached
    assert tv < 0.004, tv


def test_mixed_rates_are_drawn_elementwise():
    """Given interleaved rates 0, 0.5 and 12 in one array, then each group has its own law."""
    rates = jnp.tile(jnp.array([0.0, 0.5, 12.0]), N_DRAWS // 3)
    draws = np.asarray(poisson_lib.poisson(jax.random.key(4), rates)).reshape(-1, 3)
    assert np.all(draws[:, 0] == 0)
    for column, rate in ((1, 0.5), (2, 12.0)):
        stat, df = _chi_square(draws[:, column], rate)
        assert stat < scipy.stats.chi2.ppf(1 - 1e-6, df), (rate, stat, df)


def test_few_large_rates_take_the_gathered_branch():
    """Given 3000 rates of 75 among 6000 of 0.5 (25 keys), then both groups match their pmf.

    3000 <= LARGE_BUFFER, so the rate-75 elements are gathered for jax.random.poisson while the
    others are drawn by inversion.
    """
    assert 3000 <= poisson_lib.LARGE_BUFFER
    rates = jnp.concatenate([jnp.full((3000,), 75.0), jnp.full((6000,), 0.5)])
    draw = jax.jit(poisson_lib.poisson)
    draws = np.stack([np.asarray(draw(jax.random.key(s), rates)) for s in range(25)])
    for group, rate in ((draws[:, :3000], 75.0), (draws[:, 3000:], 0.5)):
        stat, df = _chi_square(group.ravel(), rate)
        assert stat < scipy.stats.chi2.ppf(1 - 1e-6, df), (rate, stat, df)


def test_max_rate_moves_the_inversion_limit():
    """Given max_rate=30, rate 45 takes the jax.random.poisson path and still matches its pmf;
    given a limit outside [0, 80] (exp(-rate) would leave float32's normal range), an error."""
    draws = np.asarray(
        poisson_lib.poisson(jax.random.key(7), jnp.full((200_000,), 45.0), max_rate=30.0)
    )
    stat, df = _chi_square(draws, 45.0)
    assert stat < scipy.stats.chi2.ppf(1 - 1e-6, df), (stat, df)
    rates = jnp.full((1000,), 45.0)  # same key and shape: the two paths give other draws
    low = poisson_lib.poisson(jax.random.key(8), rates, max_rate=30.0)
    assert not np.array_equal(
        np.asarray(low), np.asarray(poisson_lib.poisson(jax.random.key(8), rates))
    )
    for bad in (-1.0, 90.0):
        with pytest.raises(ValueError, match="max_rate"):
            poisson_lib.poisson(jax.random.key(0), jnp.ones(3), max_rate=bad)


def test_shape_dtype_and_key_determinism():
    """Given the same key twice, then the same counts; another key, other counts; rate 0 -> 0."""
    rates = jnp.linspace(0.0, 8.0, 60).reshape(3, 4, 5)
    a = poisson_lib.poisson(jax.random.key(0), rates)
    b = poisson_lib.poisson(jax.random.key(0), rates)
    c = poisson_lib.poisson(jax.random.key(1), rates)
    assert a.shape == (3, 4, 5) and a.dtype == jnp.int32
    assert poisson_lib.poisson(jax.random.key(0), rates, jnp.int16).dtype == jnp.int16
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    assert np.asarray(a).ravel()[0] == 0
    zeros = poisson_lib.poisson(jax.random.key(2), jnp.zeros((1000,)))
    np.testing.assert_array_equal(np.asarray(zeros), 0)
    assert poisson_lib.poisson(jax.random.key(0), jnp.zeros((0, 3))).shape == (0, 3)


def test_jitted_draws_equal_eager_draws():
    """Given jit, then the same draws as the eager call (the lax.cond / while_loop trace)."""
    rates = jnp.exp(jax.random.normal(jax.random.key(5), (2000,)))
    eager = poisson_lib.poisson(jax.random.key(6), rates)
    jitted = jax.jit(poisson_lib.poisson)(jax.random.key(6), rates)
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(jitted))


def test_poisson_observations_use_the_inversion_sampler():
    """Given a Poisson LDIDP, then observe() draws poisson(key, exp(f(z))) as floats."""
    cfg = ModelConfig(features=6, latent_dim=3, width=8, observation="poisson")
    model = LDIDP(cfg, rngs=nnx.Rngs(0))
    z = jax.random.normal(jax.random.key(0), (4, 7, 3))  # [N, T, Z]
    key = jax.random.key(9)
    x = samplers.observe(model, z, key, decode_noise=True)  # [N, T, D]
    expected = poisson_lib.poisson(key, jnp.exp(model.decode(z)))
    assert x.shape == (4, 7, 6) and x.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(x), np.asarray(expected, np.float32))
