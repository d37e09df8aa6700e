"""Tests for ldx.diffusion: schedules, forward noising, eps loss, DDPM and DDIM samplers.

The sampler tests use a Gaussian target x0 ~ N(m, diag(s^2)), whose exact noise predictor is

    eps*(z, i) = sqrt(1 - abar_i) (z - sqrt(abar_i) m) / (abar_i s^2 + 1 - abar_i).

With it every sampler is a linear-Gaussian chain, so the exact mean and variance of its output
follow from a float64 NumPy recursion written here independently of the library.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ldx import diffusion

L = 1000
N = 20_000  # Samples per sampler test.
M = np.array([0.5, -1.0])
S = np.array([0.3, 0.8])
SCHED = diffusion.make_schedule(L)
ABAR = np.asarray(SCHED.alpha_bars, np.float64)  # [L + 1]


def gaussian_eps_fn(z, i):  # [B, Z], [B] -> [B, Z]
    abar = SCHED.alpha_bars[i][:, None]
    return jnp.sqrt(1 - abar) * (z - jnp.sqrt(abar) * M) / (abar * S**2 + 1 - abar)


def _eps_coef(abar):
    """eps*(z, i) = g (z - sqrt(abar) m) with this g."""
    return np.sqrt(1 - abar) / (abar * S**2 + 1 - abar)


def ddpm_moments(stop, variance="beta"):
    """Exact output mean and variance of the DDPM chain run from z^L ~ N(0, I) down to z^stop."""
    betas = 1 - ABAR[1:] / ABAR[:-1]
    betas = np.concatenate([[0.0], betas])
    mu, var = np.zeros(2), np.ones(2)
    for i in range(L, stop, -1):
        g = _eps_coef(ABAR[i])
        k = betas[i] / np.sqrt(1 - ABAR[i]) * g
        a, c = (1 - k) / np.sqrt(1 - betas[i]), k * np.sqrt(ABAR[i]) * M / np.sqrt(1 - betas[i])
        sig2 = betas[i] if variance == "beta" else betas[i] * (1 - ABAR[i - 1]) / (1 - ABAR[i])
        mu, var = a * mu + c, a * a * var + (sig2 if i > 1 else 0.0)
    return mu, var


def ddim_moments(num_steps, eta):
    """Exact output mean and variance of DDIM (Song et al. 2021, eq. 12) on the sub-sequence."""
    seq = np.unique(np.linspace(0, L, num_steps + 1).round().astype(int))
    mu, var = np.zeros(2), np.ones(2)
    for t, s in zip(seq[1:][::-1], seq[:-1][::-1]):
        at, as_ = ABAR[t], ABAR[s]
        g = _eps_coef(at)
        sig = eta * np.sqrt((1 - as_) / (1 - at) * (1 - at / as_))
        d = np.sqrt(1 - as_ - sig**2)
        a = np.sqrt(as_ / at) * (1 - np.sqrt(1 - at) * g) + d * g
        c = (np.sqrt(as_ / at) * np.sqrt(1 - at) - d) * g * np.sqrt(at) * M
        mu, var = a * mu + c, a * a * var + sig**2
    return mu, var


def assert_moments(x, mean, var, slack=0.0):
    """Sample mean/std of x [n, Z] match (mean, sqrt(var)) within 4 standard errors + slack."""
    x = np.asarray(x, np.float64)
    std, n = np.sqrt(var), x.shape[0]
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), 4 * std / np.sqrt(n) + slack)
    np.testing.assert_array_less(np.abs(x.std(0) - std), 4 * std / np.sqrt(2 * n) + slack)


_ddpm = jax.jit(
    lambda key, stop: diffusion.ddpm_sample(gaussian_eps_fn, SCHED, key, (N, 2), stop=stop)
)


# ----------------------------------------------------------------------------- schedules


def test_linear_schedule_matches_float64_reference():
    # Given the DDPM linear schedule.
    sched = diffusion.make_schedule(L, "linear", 1e-4, 0.02)
    # Then betas[1:] is the linspace, betas[0] = 0, and abar is the float64 cumprod.
    betas = np.linspace(1e-4, 0.02, L)
    np.testing.assert_allclose(sched.betas[1:], betas, rtol=1e-6)
    assert sched.betas[0] == 0 and sched.alpha_bars[0] == 1 and sched.num_steps == L
    np.testing.assert_allclose(sched.alphas, 1 - np.asarray(sched.betas), rtol=1e-6)
    np.testing.assert_allclose(sched.alpha_bars[1:], np.cumprod(1 - betas), rtol=1e-5)
    assert sched.betas.shape == sched.alphas.shape == sched.alpha_bars.shape == (L + 1,)
    assert sched.alpha_bars.dtype == jnp.float32


def test_cosine_schedule_matches_closed_form():
    # Given the cosine schedule and f(t) = cos((t/L + s)/(1 + s) * pi/2)^2.
    sched = diffusion.make_schedule(L, "cosine")
    f = lambda t: np.cos((t / L + 0.008) / 1.008 * np.pi / 2) ** 2
    i = np.arange(L - 10)  # Away from the beta <= 0.999 clip at the very end.
    # Then abar_i = f(i) / f(0) and every beta is in [0, 0.999].
    np.testing.assert_allclose(sched.alpha_bars[: L - 10], f(i) / f(0), rtol=1e-5, atol=1e-7)
    assert sched.betas[0] == 0 and float(sched.betas.max()) <= 0.999 + 1e-7


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="quadratic"), "quadratic"),
        (dict(num_steps=0), "0"),
        (dict(num_steps=2.5), "2.5"),
        (dict(beta_start=-0.1), "-0.1"),
        (dict(beta_end=1.5), "1.5"),
        (dict(beta_start=0.1, beta_end=0.01), "0.01"),
    ],
)
def test_bad_schedule_args_raise(kwargs, match):
    # When the schedule arguments are invalid, then a ValueError names the value.
    with pytest.raises(ValueError, match=match):
        diffusion.make_schedule(**kwargs)


def test_bad_sampler_args_raise():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="bogus"):
        diffusion.ddpm_sample(gaussian_eps_fn, SCHED, key, (2, 2), variance="bogus")
    with pytest.raises(ValueError, match="2000"):
        diffusion.ddim_sample(gaussian_eps_fn, SCHED, key, (2, 2), num_steps=2000)


# ------------------------------------------------------------------- forward process and loss


@pytest.mark.parametrize("i", [0, 1, 100, 500, 1000])
def test_q_sample_forward_marginal(i):
    # Given a fixed x0 and 200k noise draws.
    n, x0 = 200_000, np.array([1.5, -0.7], np.float32)
    noise = jax.random.normal(jax.random.key(i), (n, 2))
    # When noising to index i.
    z = diffusion.q_sample(SCHED, jnp.broadcast_to(x0, (n, 2)), jnp.full((n,), i), noise)
    # Then z ~ N(sqrt(abar_i) x0, 1 - abar_i) within 5 standard errors.
    mean, var = np.sqrt(ABAR[i]) * x0, 1 - ABAR[i]
    z = np.asarray(z, np.float64)
    np.testing.assert_array_less(np.abs(z.mean(0) - mean), 5 * np.sqrt(var / n) + 1e-6)
    np.testing.assert_array_less(np.abs(z.var(0) - var), 5 * var * np.sqrt(2 / n) + 1e-6)


def test_eps_loss_matches_numpy_recomputation():
    # Given a simple linear eps_fn and the loss's documented key split.
    x0 = jax.random.normal(jax.random.key(1), (64, 3))
    eps_fn = lambda z, i: 0.5 * z + 1e-3 * i[:, None]
    key = jax.random.key(7)
    key_i, key_noise = jax.random.split(key)
    i = np.asarray(jax.random.randint(key_i, (64,), 1, L + 1))
    noise = np.asarray(jax.random.normal(key_noise, (64, 3)), np.float64)
    # When computing the loss.
    loss = diffusion.eps_loss(eps_fn, SCHED, x0, key)
    # Then it equals the NumPy float64 loss with the same i and noise; eps_fn = 0 gives mean(n^2).
    z = np.sqrt(ABAR[i])[:, None] * np.asarray(x0) + np.sqrt(1 - ABAR[i])[:, None] * noise
    expected = np.mean((0.5 * z + 1e-3 * i[:, None] - noise) ** 2)
    assert loss.shape == () and 1 <= i.min() and i.max() <= L
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    zero_loss = diffusion.eps_loss(lambda z, i: jnp.zeros_like(z), SCHED, x0, key)
    np.testing.assert_allclose(zero_loss, np.mean(noise**2), rtol=1e-6)


# ----------------------------------------------------------------------------------- DDPM


@pytest.mark.parametrize("variance", ["beta", "posterior"])
def test_ddpm_recovers_gaussian_target(variance):
    # Given the exact eps for x0 ~ N(m, s^2).
    sample = jax.jit(
        lambda k: diffusion.ddpm_sample(gaussian_eps_fn, SCHED, k, (N, 2), variance=variance)
    )
    # When sampling with L = 1000.
    x = sample(jax.random.key(0))
    # Then the samples match the exact chain moments, and those are within 1.5% of (m, s).
    mean, var = ddpm_moments(0, variance)
    assert_moments(x, mean, var)
    np.testing.assert_allclose(mean, M, atol=0.015)
    np.testing.assert_allclose(np.sqrt(var), S, rtol=0.015)
    assert_moments(x, M, S**2, slack=0.015)


@pytest.mark.parametrize("k", [10, 500])
def test_ddpm_stop_gives_noised_marginal(k):
    # When every sample stops at z^k.
    x = _ddpm(jax.random.key(k), jnp.full((N,), k))
    # Then z^k ~ N(sqrt(abar_k) m, abar_k s^2 + 1 - abar_k), exactly the chain's moments.
    assert_moments(x, *ddpm_moments(k))
    assert_moments(x, np.sqrt(ABAR[k]) * M, ABAR[k] * S**2 + 1 - ABAR[k], slack=0.015)


def test_ddpm_mixed_per_sample_stop():
    # Given a per-sample stop array with three groups.
    stops = np.array([0, 10, 500])[np.arange(N) % 3]
    # When sampling once.
    x = np.asarray(_ddpm(jax.random.key(3), jnp.asarray(stops)))
    # Then each group has the marginal of its own stop index.
    for k in (0, 10, 500):
        assert_moments(x[stops == k], *ddpm_moments(k))
        assert_moments(
            x[stops == k], np.sqrt(ABAR[k]) * M, ABAR[k] * S**2 + 1 - ABAR[k], slack=0.015
        )


@pytest.mark.parametrize("variance", ["beta", "posterior"])
def test_ddpm_matches_numpy_reference_path(variance):
    # Given a short L = 20 schedule, a per-sample stop array (0 = full chain, 20 = no step at all)
    # and the documented key split.
    l, shape = 20, (5, 3)
    sched = diffusion.make_schedule(l, beta_start=0.01, beta_end=0.3)
    eps_fn = lambda z, i: jnp.tanh(z) * (1 + 0.01 * i[:, None])
    stop = np.array([0, 1, 2, 7, 20])
    key = jax.random.key(11)
    # When sampling.
    x = diffusion.ddpm_sample(eps_fn, sched, key, shape, stop=jnp.asarray(stop), variance=variance)
    # Then it equals a float64 NumPy ancestral sampler fed the same Gaussian draws.
    key_init, key_steps = jax.random.split(key)
    step_keys = jax.random.split(key_steps, l)
    betas = np.linspace(0.01, 0.3, l, dtype=np.float64)
    betas = np.concatenate([[0.0], betas])
    abar = np.cumprod(1 - betas)
    z = np.asarray(jax.random.normal(key_init, shape), np.float64)
    for i in range(l, 0, -1):
        eps = np.tanh(z) * (1 + 0.01 * i)
        var = betas[i] if variance == "beta" else betas[i] * (1 - abar[i - 1]) / (1 - abar[i])
        noise = np.asarray(jax.random.normal(step_keys[l - i], shape), np.float64)
        z_prev = (z - betas[i] / np.sqrt(1 - abar[i]) * eps) / np.sqrt(1 - betas[i])
        z_prev += np.sqrt(var) * noise if i > 1 else 0.0
        z = np.where((i > stop)[:, None], z_prev, z)
    np.testing.assert_allclose(x, z, atol=1e-4)


def test_ddpm_traced_once_per_shape():
    # Given a jitted sampler that may be traced at most once.
    @jax.jit
    @chex.assert_max_traces(n=1)
    def sample(key, stop):
        return diffusion.ddpm_sample(gaussian_eps_fn, SCHED, key, (8, 2), stop=stop)

    # When called with new keys and new stop values, then it never retraces (else chex raises)
    # and different keys give different samples.
    outs = [sample(jax.random.key(s), jnp.full((8,), s)) for s in range(3)]
    assert not np.allclose(outs[1], outs[2])


# ----------------------------------------------------------------------------------- DDIM


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_matches_exact_chain_moments(eta):
    # When sampling 50 DDIM steps with the exact eps.
    x = jax.jit(
        lambda k: diffusion.ddim_sample(gaussian_eps_fn, SCHED, k, (N, 2), num_steps=50, eta=eta)
    )(jax.random.key(1))
    # Then the samples match the exact moments of the 50-step chain. These are biased towards a
    # smaller std by the coarse discretisation (about 9% for eta = 0, 16% for eta = 1 at s = 0.3),
    # so the means match m tightly but the std only loosely.
    mean, var = ddim_moments(50, eta)
    assert_moments(x, mean, var)
    np.testing.assert_allclose(mean, M, atol=0.01)
    np.testing.assert_allclose(np.sqrt(var), S, rtol=0.2)


@pytest.mark.parametrize("eta, rtol", [(0.0, 0.01), (1.0, 0.02)])
def test_ddim_converges_to_gaussian_target(eta, rtol):
    # Given all L steps, the discretisation error vanishes and (m, s) is recovered.
    x = jax.jit(
        lambda k: diffusion.ddim_sample(gaussian_eps_fn, SCHED, k, (N, 2), num_steps=L, eta=eta)
    )(jax.random.key(2))
    mean, var = ddim_moments(L, eta)
    np.testing.assert_allclose(np.sqrt(var), S, rtol=rtol)
    assert_moments(x, mean, var)
    assert_moments(x, M, S**2, slack=rtol * S)


def test_ddim_eta0_is_deterministic_map_of_initial_noise():
    # Given DDIM with eta = 0 and a small batch.
    shape = (16, 2)
    sample = lambda k: diffusion.ddim_sample(gaussian_eps_fn, SCHED, k, shape, num_steps=50)
    key = jax.random.key(5)
    # When sampling twice with the same key, with a new key, and without jit.
    a, b = jax.jit(sample)(key), jax.jit(sample)(key)
    c, eager = jax.jit(sample)(jax.random.key(6)), sample(key)
    # Then same key -> identical, new key -> different, jit == eager.
    np.testing.assert_array_equal(a, b)
    assert np.abs(np.asarray(a) - np.asarray(c)).min() > 1e-6
    np.testing.assert_allclose(a, eager, atol=1e-6)
    # And the output is the float64 NumPy DDIM map applied to z^L from the documented key split.
    z = np.asarray(jax.random.normal(jax.random.split(key)[0], shape), np.float64)
    seq = np.unique(np.linspace(0, L, 51).round().astype(int))
    for t, s in zip(seq[1:][::-1], seq[:-1][::-1]):
        eps = _eps_coef(ABAR[t]) * (z - np.sqrt(ABAR[t]) * M)
        x0 = (z - np.sqrt(1 - ABAR[t]) * eps) / np.sqrt(ABAR[t])
        z = np.sqrt(ABAR[s]) * x0 + np.sqrt(1 - ABAR[s]) * eps
    np.testing.assert_allclose(a, z, atol=1e-4)
