"""Code baselines and the swap test against closed forms; the probe on every method, backbone."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ldx.dependency import (
    BASELINES,
    code_baselines,
    dependency_measures,
    make_probe,
    other_index,
    swap_latents,
    swap_loglik,
    swap_summary,
)
from ldx.experiment import build_experiment
from ldx.ld.objective import METHODS
from ldx.train.state import flatten_model

B, T, D, Z = 5, 4, 2, 3


def linear_decoder(seed=1):
    """h_t = A z + sum_{i<t} W[t, i] x_i + c with H = D, and its Gaussian head (mean h_t,
    fixed per-feature log-variance): the measure and the log-likelihoods in closed form."""
    ka, kw, kc, kv = jax.random.split(jax.random.key(seed), 4)
    a = np.asarray(jax.random.normal(ka, (D, Z)))
    w = (
        np.asarray(jax.random.normal(kw, (T, T, D, D)))
        * np.tril(np.ones((T, T)), -1)[..., None, None]
    )
    c = np.asarray(jax.random.normal(kc, (D,)))
    logvar = np.asarray(jax.random.uniform(kv, (D,), minval=-2.0, maxval=1.0))

    def fn(z1, x1):  # [Z], [T, D] -> [T, H]
        return a @ z1 + jnp.einsum("tihd,id->th", w, x1) + c

    def decode(z, x):  # [B, Z], [B, T, D] -> (mean, logvar) [B, T, D] each
        mean = jax.vmap(fn)(z, x)
        return mean, jnp.broadcast_to(logvar, mean.shape)

    return (a, w, c, logvar), fn, decode


def data(seed=2):
    kz, kx = jax.random.split(jax.random.key(seed))
    z = 0.5 + jax.random.normal(kz, (B, Z))  # codes away from 0
    return np.asarray(z), np.asarray(jax.random.uniform(kx, (B, T, D)))


def test_other_index_pairs_every_window_with_another():
    # Given N windows; then pi is a permutation without fixed points, the same for a seed and
    # not the data order's neighbour (a random cycle); N = 1 keeps its own code.
    for n in (2, 3, 17):
        pi = other_index(n, seed=4)
        assert sorted(pi) == list(range(n)) and np.all(pi != np.arange(n))
        np.testing.assert_array_equal(pi, other_index(n, seed=4))
    assert not np.array_equal(other_index(17, 4), np.roll(np.arange(17), -1))
    np.testing.assert_array_equal(other_index(1), [0])


@pytest.mark.parametrize(
    "baseline, per_series", [(b, True) for b in BASELINES] + [("zero", False), ("mean_code", False)]
)
def test_code_baseline_measure_matches_closed_form(baseline, per_series):
    # Given a decoder linear in (z, x_<t) and z's path starting at z0 (zeros, the mean code or
    # another window's code); then the integrand is constant along the path and
    # m_{t,0} = <d_t, A (z - z0)> / |d_t|^2, m_{t,j} = <d_t, W[t, j-1] x_{j-1}> / |d_t|^2 with
    # d_t = A (z - z0) + sum_{i<t} W[t, i] x_i, for every rule (2 midpoints here).
    # per_series=False passes one [Z] baseline (zeros, the mean code) instead of [B, Z].
    (a, w, _, _), fn, _ = linear_decoder()
    z, x = data()
    pi = other_index(B, seed=1)
    z0 = code_baselines(z, pi)[baseline]  # [B, Z]
    given = z0 if per_series else z0[0]
    m = np.asarray(dependency_measures(fn, z, x, num_points=2, rule="riemann", z_baseline=given))
    expected = np.zeros((B, T, T + 1))
    for b in range(B):
        for t in range(T):
            parts = [a @ (z[b] - z0[b])] + [w[t, i] @ x[b, i] for i in range(t)]
            d = np.sum(parts, axis=0)
            expected[b, t, : t + 1] = [p @ d / (d @ d) for p in parts]
    np.testing.assert_allclose(m, expected, atol=2e-5)
    if baseline == "mean_code":
        np.testing.assert_allclose(z0, np.broadcast_to(z.mean(0), z.shape), rtol=1e-6)
    if baseline == "other_code":
        np.testing.assert_array_equal(z0, z[pi])


def test_swap_loglik_matches_closed_form():
    # Given the linear-Gaussian decoder; then each latent's log p(x_t | z, x_<t) is
    # sum_d log N(x_td; (A z + sum_{i<t} W[t, i] x_i + c)_d, exp(logvar_d)), computed here in
    # NumPy, and the summary's swap gap is own minus other at t = 0 and t = T - 1.
    (a, w, c, logvar), _, decode = linear_decoder()
    z, x = data()
    pi = other_index(B)
    latents = swap_latents(jnp.asarray(z), jnp.asarray(pi), jax.random.key(3))
    np.testing.assert_array_equal(latents["other"], z[pi])
    assert not np.any(np.asarray(latents["zero"]))
    ll = {k: np.asarray(v) for k, v in swap_loglik(decode, latents, jnp.asarray(x)).items()}
    var = np.exp(logvar)
    for name, zl in latents.items():
        zl = np.asarray(zl, np.float64)
        mean = (zl @ a.T)[:, None] + np.einsum("tihd,bid->bth", w, x) + c  # [B, T, D]
        want = -0.5 * (np.square(x - mean) / var + logvar + np.log(2 * np.pi)).sum(-1)
        np.testing.assert_allclose(ll[name], want, rtol=1e-5, atol=1e-4, err_msg=name)
    s = swap_summary(ll)
    gap = ll["own"] - ll["other"]  # [B, T]
    assert s["swap_gap_first"] == pytest.approx(gap[:, 0].mean(), abs=1e-5)
    assert s["swap_gap_last"] == pytest.approx(gap[:, -1].mean(), abs=1e-5)
    assert s["swap_gap_first"] > 0  # at t = 0 only z predicts x_0: the own code fits best here


def test_noise_latents_are_standard_normal():
    # Given 4000 x 8 noise draws; then their mean and variance are 0 and 1 within 4 sigma.
    noise = np.asarray(
        swap_latents(jnp.ones((4000, 8)), jnp.arange(4000), jax.random.key(0))["noise"]
    )
    n = noise.size
    assert abs(noise.mean()) < 4 / np.sqrt(n) and abs(noise.var() - 1) < 4 * np.sqrt(2 / n)


def test_mode_switch_decoder_is_credited_only_from_zero():
    # Given a decoder that is off at z = 0 and reads every code alike (a gate g(z) = 1 for the
    # codes, all in the positive orthant with |z| >= 1, and g(0) = 0), the PSLD failure mode:
    # then the zero-baseline measure credits z (the gate), while from either code baseline
    # the path never leaves the codes, so z's share is 0 (at t = 0, with no past, h_0 does not
    # move at all: the measure is undefined, NaN); the swap gap is 0 at every t and z = 0 is
    # far worse.
    rng = np.random.default_rng(0)
    wx = 0.1 * rng.normal(size=(T, T, D, D)) * np.tril(np.ones((T, T)), -1)[..., None, None]
    k = np.full(D, 3.0)

    def fn(z1, x1):
        gate = 1.0 - jnp.exp(-20.0 * jnp.sum(z1**2))  # 0 at z = 0, 1 (float32) on codes
        return gate * (jnp.einsum("tihd,id->th", wx, x1) + 0.5) + (1 - gate) * k

    def decode(z, x):
        mean = jax.vmap(fn)(z, x)
        return mean, jnp.zeros_like(mean)

    z = 1.0 + rng.uniform(size=(B, Z)).astype(np.float32)
    x = rng.uniform(size=(B, T, D)).astype(np.float32)
    pi = other_index(B)
    glob = {
        name: np.asarray(
            dependency_measures(fn, z, x, num_points=16, rule="gauss_legendre", z_baseline=z0)
        )[..., 0]
        for name, z0 in code_baselines(z, pi).items()
    }
    assert np.all(glob["zero"] > 0.05), glob["zero"]
    for name in ("mean_code", "other_code"):
        assert np.all(np.isnan(glob[name][:, 0])), name
        np.testing.assert_allclose(glob[name][:, 1:], 0.0, atol=1e-4, err_msg=name)
    ll = swap_loglik(decode, swap_latents(jnp.asarray(z), jnp.asarray(pi), jax.random.key(0)), x)
    np.testing.assert_allclose(ll["own"], ll["other"], atol=1e-4)
    assert np.all(ll["zero"] < ll["own"] - 1.0)


# ---- every method and backbone: the training probe on an untrained smoke model ----


# Every backbone and every model the methods build, one compiled probe each (5-15 s apiece):
# ld_kl_annealing and ld_masking build LD's model (checked below), so their diagnostics are LD's.
PAIRS = [("ld", "gru"), ("ld_skip", "lstm"), ("psld", "transformer")]


def _config(method, backbone):
    config = importlib.import_module(f"configs.{method}").get_config("smoke")
    config.model.backbone = backbone
    config.data.seq_len = 3
    return config


OBJECTIVE_ONLY = ["ld_kl_annealing", "ld_masking"]


def test_every_method_and_backbone_is_covered():
    assert {m for m, _ in PAIRS} | set(OBJECTIVE_ONLY) == set(METHODS)
    assert {b for _, b in PAIRS} == {"gru", "lstm", "transformer"}


@pytest.mark.parametrize("method", OBJECTIVE_ONLY)
def test_objective_only_methods_build_lds_model(method):
    # Given a method that only changes LD's objective; then its model config is LD's, so the
    # probe and the report run LD's program (tested below) on it.
    assert (
        build_experiment(_config(method, "gru")).model
        == build_experiment(_config("ld", "gru")).model
    )


@pytest.mark.parametrize("method, backbone", PAIRS)
def test_probe_runs_on_every_method_and_backbone(method, backbone):
    # Given configs/<method>.py:smoke with the backbone, untrained (T = 3 keeps the compiles
    # cheap); then the probe (encode, both baselines' measures, the swap test: the report's
    # functions) gives finite numbers, z already moves the first step (a swap gap != 0) and
    # the zero-baseline rows sum to 1 to the quadrature's error. (The values are checked
    # against recomputations on a trained run in dependency_test.py.)
    exp = build_experiment(_config(method, backbone))
    model_fn, params = flatten_model(exp.init_model())
    got = {
        k: float(v)
        for k, v in make_probe(model_fn, params, exp.dataset.test[:3], 1)(params).items()
    }
    assert all(np.isfinite(v) for v in got.values()), got
    assert got["swap_gap_first"] != 0.0, got
    assert got["dependency_completeness_error"] < 0.5, got
