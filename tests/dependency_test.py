"""The dependency measure against closed forms, a brute-force grad loop and completeness."""

import json
import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from ldx.data import sines
from ldx.dependency import (
    decoder_fn,
    dependency_measures,
    global_dependency,
    local_dependency,
    quadrature,
    summarize,
    with_z_baseline,
)
from ldx.dependency.latent_use import LATENTS, other_index
from ldx.dependency.report import OUTPUTS, latents_and_series, measures
from ldx.errors import LdxError
from ldx.ld.objective import step_loglik
from ldx.nn import make_decoder
from ldx.train import load_run
from ldx.train.writer import read_metrics
from tests.launch_test import SMOKE, run_app

B, T, D, Z, H = 2, 5, 2, 3, 4


def small_decoder(backbone: str, skip_z: bool):
    return make_decoder(backbone, D, 4, 8, 1, 2, skip_z, (-8.0, 2.0), rngs=nnx.Rngs(0))


def inputs(key=0, batch=B, latent=4):
    kz, kx = jax.random.split(jax.random.key(key))
    return jax.random.normal(kz, (batch, latent)), jax.random.uniform(kx, (batch, T, D))


@pytest.mark.parametrize(
    "rule, shifted",
    [("riemann", False), ("gauss_legendre", False), ("monte_carlo", False), ("riemann", True)],
)
def test_linear_decoder_matches_closed_form(rule, shifted):
    # Given h_t = A z + sum_{i<t} W[t, i] x_i + c, the integrand is constant along the path,
    # so every rule with any S gives m_{t,0} = <d_t, A z> / |d_t|^2 and
    # m_{t,j} = <d_t, W[t, j-1] x_{j-1}> / |d_t|^2 with d_t = h_t - c.
    # With z's baseline at z0 (with_z_baseline), A z becomes A (z - z0) and c becomes c + A z0.
    ka, kw, kc = jax.random.split(jax.random.key(1), 3)
    a = np.asarray(jax.random.normal(ka, (H, Z)))
    w = (
        np.asarray(jax.random.normal(kw, (T, T, H, D)))
        * np.tril(np.ones((T, T)), -1)[..., None, None]
    )
    c = np.asarray(jax.random.normal(kc, (H,)))
    z, x = inputs(2, latent=Z)

    def fn(z1, x1):
        return a @ z1 + jnp.einsum("tihd,id->th", w, x1) + c

    z0 = 0.5 + np.asarray(inputs(3, latent=Z)[0][0]) if shifted else np.zeros(Z, np.float32)
    f = with_z_baseline(fn, jnp.asarray(z0)) if shifted else fn
    m = dependency_measures(f, z - z0, x, num_points=3, rule=rule, key=jax.random.key(0))
    z, x = np.asarray(z), np.asarray(x)
    expected = np.zeros((B, T, T + 1))
    for b in range(B):
        for t in range(T):
            parts = [a @ (z[b] - z0)] + [w[t, i] @ x[b, i] for i in range(t)]
            d = np.sum(parts, axis=0)
            expected[b, t, : t + 1] = [p @ d / (d @ d) for p in parts]
    np.testing.assert_allclose(m, expected, atol=1e-5)


def brute_force(fn, z, x, points, weights):
    """m[b, t, j] by one jitted jax.grad per (series, t, j, s), for every j including j > t."""
    h0 = fn(jnp.zeros_like(z[0]), jnp.zeros_like(x[0]))

    @jax.jit
    def directional(z1, x1, u, t, j, s):
        dz = jnp.where(j == 0, 1.0, 0.0) * z1  # block j of the input, zero elsewhere
        dx = (jnp.arange(T) == j - 1)[:, None] * x1

        def g(eps):
            return jnp.vdot(u, fn(s * z1 + eps * dz, s * x1 + eps * dx)[t])

        return jax.grad(g)(0.0)

    m = np.zeros((len(x), T, T + 1))
    for b in range(len(x)):
        d = np.asarray(fn(z[b], x[b]) - h0)
        for t in range(T):
            u = d[t] / (d[t] @ d[t])
            for j in range(T + 1):
                for s, w in zip(points, weights):
                    m[b, t, j] += w * float(directional(z[b], x[b], u, t, j, s))
    return m


@pytest.mark.parametrize(
    "backbone, skip_z",
    [("gru", False), ("lstm", True), ("transformer", False), ("transformer", True)],
)
def test_vectorised_equals_brute_force_grad_loop_and_is_causal(backbone, skip_z):
    # Given an ldx decoder through the adapter; then the one-program estimator equals a
    # per-(t, j) loop of jax.grad calls, and entries above the diagonal are exactly 0 in
    # both (the loop shows the decoder is causal; the estimator returns exact zeros).
    fn = decoder_fn(small_decoder(backbone, skip_z))
    z, x = inputs(3)
    points, weights = (np.asarray(a[0]) for a in quadrature("gauss_legendre", 4))
    m = np.asarray(dependency_measures(fn, z, x, num_points=4, rule="gauss_legendre"))
    ref = brute_force(fn, z, x, points, weights)
    np.testing.assert_allclose(m, ref, atol=1e-5)
    above = ~np.tri(T, T + 1, dtype=bool)
    assert np.all(ref[:, above] == 0.0) and np.all(m[:, above] == 0.0)
    assert np.all(np.abs(m[:, ~above]) > 0)  # z and every past step matter a little


def test_chunk_size_gives_the_same_result():
    # Given chunk sizes that divide S, do not divide it, or exceed it; then the measure
    # (Monte Carlo included: points are drawn before chunking) is unchanged.
    fn = decoder_fn(small_decoder("gru", False))
    z, x = inputs(4)
    full = dependency_measures(fn, z, x, num_points=6, rule="monte_carlo", key=jax.random.key(1))
    for chunk in (4, 7):
        part = dependency_measures(
            fn, z, x, num_points=6, rule="monte_carlo", key=jax.random.key(1), chunk_size=chunk
        )
        np.testing.assert_allclose(part, full, atol=1e-6)


def test_helpers_index_the_measure():
    # Given m[b, t, j] = 100 t + j; then global is column 0 and the k-th order local
    # dependency of step t is column t - k + 1, NaN for t < k.
    m = jnp.broadcast_to(100 * jnp.arange(T)[:, None] + jnp.arange(T + 1), (B, T, T + 1))
    np.testing.assert_array_equal(global_dependency(m)[0], 100 * np.arange(T))
    local = np.asarray(local_dependency(m, 2)[0])
    assert np.all(np.isnan(local[:2]))
    np.testing.assert_array_equal(local[2:], [100 * t + t - 1 for t in range(2, T)])
    with pytest.raises(LdxError, match="order=0"):
        local_dependency(m, 0)


def test_summarize_by_hand():
    # Given two series of T = 2 steps whose rows are set by hand; then the summaries are the
    # hand-computed means and the largest |row sum - 1|.
    m = jnp.array(
        [
            [[1.0, 0.0, 0.0], [0.7, 0.3, 0.0]],  # complete rows
            [[1.0, 0.0, 0.0], [0.2, 0.5, 0.0]],  # last row sums to 0.7: error 0.3
        ]
    )
    got = {k: float(v) for k, v in summarize(m).items()}
    want = {
        "dependency_global": (1.0 + 0.7 + 1.0 + 0.2) / 4,
        "dependency_global_last": (0.7 + 0.2) / 2,
        "dependency_local1": (0.3 + 0.5) / 2,  # t = 0 has no past: NaN, left out
        "dependency_local1_last": (0.3 + 0.5) / 2,
        "dependency_completeness_error": 0.3,
    }
    assert got == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rule="trapezoid"), "trapezoid"),
        (dict(rule="monte_carlo"), "key"),
        (dict(num_points=0), "num_points=0"),
        (dict(chunk_size=0), "chunk_size=0"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    z, x = inputs()
    with pytest.raises(LdxError, match=message):
        dependency_measures(lambda z1, x1: x1, z, x, **kwargs)
    with pytest.raises(LdxError, match="same B"):
        dependency_measures(lambda z1, x1: x1, z[:1], x)


# ---- on a trained GRU decoder ----


@pytest.fixture(scope="module")
def trained_gru():
    """A GRU decoder fitted (MSE, 150 Adam steps) to Sines, z = its first two steps."""
    x = jnp.asarray(sines(256, 12, D, seed=0))  # [N, T, D]
    z = x[:, :2].reshape(len(x), -1)  # [N, 2D]: reveals each sine's frequency and phase
    decoder = make_decoder("gru", D, 2 * D, 16, 1, 1, False, (-8.0, 2.0), rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(decoder, nnx.Param)
    opt = optax.adam(1e-2)

    @jax.jit
    def step(params, state):
        def loss(p):
            return jnp.mean(jnp.square(nnx.merge(graphdef, p)(z, x)[0] - x))

        value, grads = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(params, updates), state, value

    state, losses = opt.init(params), []
    for _ in range(150):
        params, state, value = step(params, state)
        losses.append(float(value))
    assert losses[-1] < 0.05 * losses[0]  # it learned
    fn = decoder_fn(nnx.merge(graphdef, params))
    z, x = z[:4], x[:4]
    return fn, z, x, dependency_measures(fn, z, x, num_points=64, rule="gauss_legendre")


def test_completeness_on_trained_gru(trained_gru):
    # Given a trained GRU decoder; then with 64 Gauss-Legendre points every row sums to 1.
    m = trained_gru[-1]
    assert np.max(np.abs(np.sum(m, -1) - 1.0)) < 1e-3


def test_rules_converge_to_the_same_value(trained_gru):
    # Given the trained decoder; then midpoint (error O(S^-2)), Gauss-Legendre and Monte Carlo
    # (O(S^-1/2)) with enough points agree with 64 Gauss-Legendre points.
    fn, z, x, ref = trained_gru

    def err(rule, n):
        m = dependency_measures(fn, z, x, num_points=n, rule=rule, key=jax.random.key(5))
        return float(jnp.max(jnp.abs(m - ref)))

    assert err("riemann", 64) < 2e-4
    assert err("gauss_legendre", 16) < 1e-5
    assert err("monte_carlo", 1024) < 2e-2


# ---- on a smoke-trained run (launch.train, the smoke config plus the probe) ----


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("dep"))
    result = run_app(
        "train",
        SMOKE,
        f"--workdir={path}",
        "--config.train.dependency_every=3",
        "--config.train.dependency_probe_size=8",
        "--config.train.sample_after=False",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return path


@pytest.fixture(scope="module")
def run(workdir):
    return load_run(workdir)


def test_training_logs_the_probe_measure(workdir, run):
    # Given dependency_every=3; then metrics.jsonl holds the probe's summary at steps 3
    # and 6, and the last one equals the measure recomputed from the final checkpoint.
    rows = [r for r in read_metrics(workdir) if "dependency_global" in r]
    assert [r["step"] for r in rows] == [3, 6]
    # The mean-code baseline's last step and the swap gap (own- minus other-code log-lik. at
    # t = 0 and T - 1, other code z[other_index(8)]) are logged beside them.
    model = run.model(use_ema=False)
    x = run.experiment.dataset.train[:8]
    z = model.encode(x)[0]
    fn = decoder_fn(model)
    m = dependency_measures(fn, z, x, num_points=16, rule="gauss_legendre")
    for name, value in summarize(m).items():
        np.testing.assert_allclose(rows[-1][name], float(value), rtol=1e-4, atol=1e-6)
    m_mean = dependency_measures(
        fn, z, x, num_points=16, rule="gauss_legendre", z_baseline=z.mean(0)
    )
    np.testing.assert_allclose(
        rows[-1]["dependency_global_last_mean_code"], float(m_mean[:, -1, 0].mean()), atol=1e-4
    )
    gap = step_loglik(x, *model.decode(z, x)) - step_loglik(
        x, *model.decode(z[other_index(8)], x)
    )  # [8, T]
    np.testing.assert_allclose(rows[-1]["swap_gap_first"], float(gap[:, 0].mean()), atol=1e-3)
    np.testing.assert_allclose(rows[-1]["swap_gap_last"], float(gap[:, -1].mean()), atol=1e-3)


def test_launch_dependency_on_generated_series(workdir, run):
    # Given the trained workdir; when launch.dependency measures 6 generated series; then it
    # writes the measures and figures, each series was decoded from its saved z (the
    # standardised residuals under p(x_t | z, x_<t) are the sampler's noise), rows sum to 1,
    # and a rerun without --overwrite fails and leaves the files untouched.
    result = run_app("dependency", f"--workdir={workdir}", "--num_samples=6", "--seed=0")
    assert result.returncode == 0, result.stderr[-3000:]
    folder = os.path.join(workdir, "dependency", "model")
    for name in OUTPUTS:
        assert os.path.getsize(os.path.join(folder, name)) > 0, name
    with np.load(os.path.join(folder, "measures.npz")) as f:
        m, z, x = f["m"], f["z"], f["x"]
        info = json.loads(str(f["info"]))
        assert info["source"] == "model"
        codes = {b: f[f"m_{b}"] for b in ("mean_code", "other_code")}
        ll = {k: f[f"loglik_{k}"] for k in LATENTS}
        pi = f["other_index"]
    assert m.shape == (6, 24, 25) and z.shape == (6, 8) and x.shape == (6, 24, 5)
    assert np.max(np.abs(m.sum(-1) - 1.0)) < 1e-3
    # The code baselines: rows sum to 1 too; summary.json holds their last-step means. The
    # swap test: log N(x_t; decode(z', x)) with z' own, another window's (pi, no fixed
    # point) and zero codes, recomputed here; the gaps are own minus other.
    with open(os.path.join(folder, "summary.json")) as f:
        assert json.load(f) == info
    np.testing.assert_array_equal(pi, other_index(6, 0))
    for name, mb in codes.items():
        assert mb.shape == m.shape and np.nanmax(np.abs(mb.sum(-1) - 1.0)) < 1e-3, name
        assert info[f"{name}_global_last"] == pytest.approx(float(np.nanmean(mb[:, -1, 0])))
    for name, zl in (("own", z), ("other", z[pi]), ("zero", np.zeros_like(z))):
        want = step_loglik(x, *run.model().decode(zl, x))  # [N, T]
        np.testing.assert_allclose(ll[name], want, rtol=1e-4, atol=1e-3, err_msg=name)
    gap = ll["own"] - ll["other"]
    assert info["swap_gap_first"] == pytest.approx(float(gap[:, 0].mean()), rel=1e-5, abs=1e-3)
    assert info["swap_gap_last"] == pytest.approx(float(gap[:, -1].mean()), rel=1e-5, abs=1e-3)
    key = jax.random.fold_in(jax.random.key(0), 0)  # the first (only) chunk of the draw
    eps = jax.random.normal(jax.random.split(key)[1], (24, 6, 5))  # decode_sample's noise
    mean, logvar = run.model().decode(z, x)
    residual = (x - mean) * np.exp(-0.5 * logvar)  # [N, T, D]
    np.testing.assert_allclose(residual, np.swapaxes(eps, 0, 1), atol=1e-3)
    before = os.path.getmtime(os.path.join(folder, "measures.npz"))
    again = run_app("dependency", f"--workdir={workdir}", "--num_samples=3")
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert os.path.getmtime(os.path.join(folder, "measures.npz")) == before


def test_launch_dependency_flags_an_unconverged_quadrature(workdir, tmp_path):
    # Given one midpoint (--num_points=1), too coarse for the smoke GRU; then summary.json
    # records the share of (series, t) cells whose rows miss completeness by more than 1e-2
    # (recomputed here from measures.npz) and the app warns about it; 64 points: none, no warning.
    for points, coarse in ((1, True), (64, False)):
        out = str(tmp_path / f"s{points}")
        args = ("--num_samples=6", f"--num_points={points}", "--rule=riemann", "--seed=0")
        args += ("--nolatent_use",)  # the zero baseline's rows are what this checks
        args += (f"--output={out}",)
        result = run_app("dependency", f"--workdir={workdir}", *args)
        assert result.returncode == 0, result.stderr[-3000:]
        with open(os.path.join(out, "summary.json")) as f:
            fraction = json.load(f)["unconverged_fraction"]
        with np.load(os.path.join(out, "measures.npz")) as f:
            expected = np.mean(np.abs(f["m"].sum(-1) - 1.0) > 1e-2)
        assert fraction == pytest.approx(expected) and (fraction > 0) == coarse, fraction
        assert ("has not converged" in result.stderr) == coarse


def test_data_source_encodes_test_windows(run):
    # Given --source=data; then the series are distinct test windows and z their encodings.
    z, x = latents_and_series(run, "data", 6, seed=3)
    test = run.experiment.dataset.test
    rows = [np.flatnonzero((test == w).all(axis=(1, 2))) for w in x]
    assert all(len(r) >= 1 for r in rows) and len({int(r[0]) for r in rows}) == 6
    np.testing.assert_allclose(z, run.model().encode(x)[0], atol=1e-5)


@pytest.mark.parametrize("rule", ["gauss_legendre", "monte_carlo"])
def test_report_pads_the_last_batch_and_compiles_once(rule):
    # Given 10 series measured in batches of 4 (the last one holds 2); then the measure is
    # traced once (the last batch is padded to 4) and equals the unpadded batch-by-batch
    # computation, with the padding dropped.
    graphdef, state = nnx.split(small_decoder("gru", False))
    traces = []

    def model_fn(params):
        traces.append(1)  # runs once per trace of the jitted measure
        return nnx.merge(graphdef, params)

    run = types.SimpleNamespace(model_fn=model_fn, params=lambda use_ema: state)
    z, x = inputs(6, batch=10)
    m = measures(run, np.asarray(z), np.asarray(x), num_points=3, rule=rule, batch_size=4)
    assert len(traces) == 1 and m.shape == (10, T, T + 1)
    fn, key = decoder_fn(nnx.merge(graphdef, state)), jax.random.key(0)
    ref = np.concatenate(
        [
            dependency_measures(
                fn,
                z[i : i + 4],
                x[i : i + 4],
                num_points=3,
                rule=rule,
                key=jax.random.fold_in(key, i),
                chunk_size=8,
            )
            for i in range(0, 10, 4)
        ]
    )
    np.testing.assert_allclose(m, ref, atol=1e-6)
