"""Tests of ldx.ld.objective: likelihoods, KL, weight schedules and the LD / PSLD losses.

Shape legend: B batch, T time, D features, Z latent, L diffusion steps.
References are SciPy / float64 NumPy; the loss tests redraw the documented random numbers
from the documented key splits and recompute every metric from values captured at the
decoder call.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats
from flax import nnx

from ldx import diffusion, probability
from ldx.errors import ConfigError
from ldx.ld import model as models
from ldx.ld import objective as objectives
from ldx.ld.objective import ObjectiveConfig

B, T, D, Z, L = 3, 5, 2, 8, 100
SCHED = diffusion.make_schedule(L)
ABAR = np.asarray(SCHED.alpha_bars, np.float64)  # [L + 1]
BACKBONES = ("gru", "lstm", "transformer")
KEY = jax.random.key(7)


def _np(a):
    return np.asarray(a, np.float64)


def _normal(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def np_loglik(x, mean, logvar):
    """Per-window log N(x; mean, exp(logvar)) from SciPy, summed over T and D."""
    return scipy.stats.norm.logpdf(_np(x), _np(mean), np.exp(0.5 * _np(logvar))).sum((-2, -1))


def np_kl(mean, logvar):
    """KL(q || N(0, I)) = cross-entropy - entropy, with the entropy from SciPy: [B, Z] -> [B]."""
    mean, var = _np(mean), np.exp(_np(logvar))
    entropy = scipy.stats.norm(mean, np.sqrt(var)).entropy()
    cross_entropy = 0.5 * math.log(2 * math.pi) + 0.5 * (var + mean**2)  # -E_q log N(z; 0, 1)
    return (cross_entropy - entropy).sum(-1)


# ---------------------------------------------------------------------------------------------
# Densities.


def test_gaussian_loglik_matches_scipy():
    """Given x, mean, logvar with batch dims, when summing log-densities, then equal SciPy."""
    x, mean, logvar = _normal(0, 2, 3, T, D), _normal(1, 2, 3, T, D), _normal(2, 2, 3, T, D)
    np.testing.assert_allclose(
        _np(objectives.window_loglik(x, mean, logvar)), np_loglik(x, mean, logvar), rtol=1e-5
    )


@pytest.mark.parametrize("rank", [1, 3])
def test_low_rank_gaussian_loglik_matches_scipy_multivariate(rank):
    """Given Sigma = S (I + U U^T) S per step, when summing log-densities, then equal SciPy's
    dense multivariate normal (independent of the Woodbury / determinant-lemma evaluation)."""
    d = 4
    x, mean, logvar = _normal(30, 2, T, d), _normal(31, 2, T, d), 0.5 * _normal(32, 2, T, d)
    factor = _normal(33, 2, T, d, rank)
    got = _np(objectives.step_loglik(x, mean, logvar, factor))  # [2, T]
    want = np.zeros((2, T))
    for b in range(2):
        for t in range(T):
            s = np.diag(np.exp(0.5 * _np(logvar[b, t])))
            u = _np(factor[b, t])
            cov = s @ (np.eye(d) + u @ u.T) @ s
            want[b, t] = scipy.stats.multivariate_normal(_np(mean[b, t]), cov).logpdf(_np(x[b, t]))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        _np(objectives.window_loglik(x, mean, logvar, factor)), want.sum(-1), rtol=1e-4
    )


def test_gaussian_kl_matches_quadrature_and_monte_carlo():
    """Given q = N(m, diag s^2), when computing KL(q || N(0, I)), then equal quadrature and MC."""
    mean, logvar = _normal(3, 2, 3), _normal(4, 2, 3)
    kl = _np(probability.standard_normal_kl(mean, logvar))  # [2]
    q = scipy.stats.norm(_np(mean), np.exp(0.5 * _np(logvar)))
    p = scipy.stats.norm()

    def kl_1d(b, k):  # int q log(q / p) over the real line
        qk = scipy.stats.norm(q.mean()[b, k], q.std()[b, k])
        return scipy.integrate.quad(
            lambda u: qk.pdf(u) * (qk.logpdf(u) - p.logpdf(u)), -np.inf, np.inf
        )[0]

    quad = np.array([[kl_1d(b, k) for k in range(3)] for b in range(2)]).sum(-1)
    np.testing.assert_allclose(kl, quad, rtol=1e-6)
    samples = q.rvs(size=(200_000, 2, 3), random_state=np.random.default_rng(5))
    log_ratio = (q.logpdf(samples) - p.logpdf(samples)).sum(-1)  # [S, 2]
    stderr = log_ratio.std(0) / math.sqrt(len(log_ratio))
    assert np.all(np.abs(log_ratio.mean(0) - kl) < 5 * stderr), (log_ratio.mean(0), kl, stderr)


def test_marginal_loglik_matches_per_feature_gaussian():
    """Given a batch, when scoring it under its per-feature Gaussian fit, then equal NumPy."""
    x = _normal(6, B, T, D) * np.array([0.5, 3.0], np.float32) + 2.0
    mean, var = _np(x).mean((0, 1)), _np(x).var((0, 1)) + 1e-6
    np.testing.assert_allclose(
        _np(objectives.marginal_loglik(x)),
        np_loglik(x, np.broadcast_to(mean, x.shape), np.log(var)),
        rtol=1e-5,
    )


# ---------------------------------------------------------------------------------------------
# Weight schedules.


def _beta(num_steps=1000, **kw):
    return objectives.kl_weight_fn(ObjectiveConfig(kl_weight=0.8, **kw), num_steps)


@pytest.mark.parametrize("method", ["ld", "ld_masking", "ld_skip"])
def test_kl_weight_is_constant_without_annealing(method):
    """Given a method without annealing, when reading beta at any step, then it is kl_weight."""
    beta = _beta(method=method, kl_schedule="cyclical")
    for step in (0, 1, 250, 10**6):
        assert float(beta(jnp.asarray(step))) == pytest.approx(0.8)


def test_kl_weight_linear_warmup():
    """Given a linear warm-up of 100 steps, when reading beta, then beta * min(step / 100, 1)."""
    beta = _beta(method="ld_kl_annealing", kl_schedule="linear", kl_warmup_steps=100)
    for step, expected in ((0, 0.0), (50, 0.4), (100, 0.8), (200, 0.8)):
        assert float(beta(jnp.asarray(step))) == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize(
    "cycles, steps_and_values",
    [
        # period = 1000 // 4 = 250; tau = (step mod 250) / 250; beta * min(tau / 0.5, 1)
        (4, ((0, 0.0), (50, 0.8 * 0.4), (125, 0.8), (249, 0.8), (250, 0.0), (300, 0.8 * 0.4))),
        # period = 1000 // 3 = 333 (the remainder is not spread); step 400 -> tau = 67 / 333
        (3, ((0, 0.0), (100, 0.8 * 200 / 333), (333, 0.0), (400, 0.8 * 134 / 333), (999, 0.0))),
    ],
)
def test_kl_weight_cyclical(cycles, steps_and_values):
    """Given a cyclical schedule, when reading beta, then beta * min((step mod P) / P / 0.5, 1)."""
    beta = _beta(
        method="ld_kl_annealing", kl_schedule="cyclical", kl_cycles=cycles, kl_ramp_fraction=0.5
    )
    for step, expected in steps_and_values:
        assert float(beta(jnp.asarray(step))) == pytest.approx(expected, abs=1e-6), step


def test_kl_weight_cyclical_zero_ramp_is_rejected_or_finite():
    """Given kl_ramp_fraction=0, when building or reading beta, then ConfigError or finite beta."""
    try:
        beta = _beta(method="ld_kl_annealing", kl_schedule="cyclical", kl_ramp_fraction=0.0)
    except ConfigError:
        return
    assert np.isfinite(float(beta(jnp.asarray(0))))


IDX = np.arange(L + 1)  # every diffusion index


@pytest.mark.parametrize("gamma", [2.0, 1.5, 0.5])
def test_psld_vi_weight(gamma):
    """Given each i, when weighting, then abar[min(round(gamma i), L)] ("index") or abar_i^gamma."""
    index = ObjectiveConfig(method="psld", gamma=gamma, vi_weight="index")
    power = ObjectiveConfig(method="psld", gamma=gamma, vi_weight="power")
    expected_index = ABAR[np.minimum(np.round(gamma * IDX).astype(int), L)]
    np.testing.assert_allclose(
        _np(objectives.psld_vi_weight(index, SCHED, jnp.asarray(IDX))), expected_index, rtol=1e-6
    )
    np.testing.assert_allclose(
        _np(objectives.psld_vi_weight(power, SCHED, jnp.asarray(IDX))), ABAR**gamma, rtol=1e-5
    )


@pytest.mark.parametrize("eta", [1.0, 2.5, 0.5])
def test_psld_cs_weight(eta):
    """Given each index i, when weighting, then 1 - abar[min(ceil(i / eta), L)]."""
    cfg = ObjectiveConfig(method="psld", cs_eta=eta)
    expected = 1.0 - ABAR[np.minimum(np.ceil(IDX / eta).astype(int), L)]
    np.testing.assert_allclose(
        _np(objectives.psld_cs_weight(cfg, SCHED, jnp.asarray(IDX))), expected, atol=1e-6
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("method", "vae"),
        ("mask_rate", 1.0),
        ("mask_rate", -0.1),
        ("kl_schedule", "cosine"),
        ("vi_weight", "linear"),
        ("cs_bound", "hard"),
        ("cs_eta", 0.0),
        ("gamma", -1.0),
        ("cs_latent", "shuffled"),
    ],
)
def test_objective_config_rejects_bad_values(field, value):
    """Given a bad field value, when building ObjectiveConfig, then ConfigError names the field."""
    with pytest.raises(ConfigError, match=field):
        ObjectiveConfig(**{field: value})


# ---------------------------------------------------------------------------------------------
# Losses on tiny models.


@pytest.fixture(scope="module")
def model_for():
    """(backbone, method) -> a cached tiny model; the prior's last conv is made non-zero."""
    cache = {}

    def get(backbone, method):
        key = (backbone, method == "psld", method == "ld_skip")
        if key not in cache:
            cfg = models.ModelConfig(
                features=D,
                backbone=backbone,
                latent_dim=Z,
                width=8,
                num_heads=2,
                unet_channels=(8, 16),
                unet_emb=8,
                skip_z=method == "ld_skip",
                posterior="deterministic" if method == "psld" else "gaussian",
            )
            # rbg keys: module init compiles ~2.5x faster than with threefry.
            model = models.LatentDiffusionModel(cfg, rngs=nnx.Rngs(jax.random.key(0, impl="rbg")))
            # At init eps_theta = 0 exactly, which would make every prior gradient trivially zero.
            kernel = model.prior.out.kernel
            kernel[...] = 0.3 * jnp.asarray(_normal(9, *kernel.shape))
            cache[key] = model
        return cache[key]

    return get


@pytest.fixture
def decode_calls(monkeypatch):
    """Records z, x and (mean, logvar) of every LatentDiffusionModel.decode call (eager only)."""
    calls = []
    original = models.LatentDiffusionModel.decode

    def recording(self, z, x):
        mean, logvar = original(self, z, x)
        calls.append({k: _np(v) for k, v in dict(z=z, x=x, mean=mean, logvar=logvar).items()})
        return mean, logvar

    monkeypatch.setattr(models.LatentDiffusionModel, "decode", recording)
    return calls


def _loss(cfg, model, x, step=4, stage="joint", key=KEY):
    return objectives.make_loss_fn(cfg, SCHED, 1000)(model, x, key, step, stage)


def _objective(method, **kw):
    kw = (
        dict(
            kl_weight=0.7,
            prior_weight=0.3,
            cs_weight=0.6,
            kl_warmup_steps=10,
            num_vi_steps=20,
            cs_window=10,
            input_noise=0.0,  # the losses below are checked against clean teacher forcing
        )
        | kw
    )
    return ObjectiveConfig(method=method, **kw)


X = _normal(10, B, T, D)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("method", objectives.METHODS)
def test_loss_is_finite_sum_of_its_terms(model_for, method, backbone):
    """Given any method and backbone, when computing the loss, then it is the sum of its terms."""
    loss, m = _loss(_objective(method), model_for(backbone, method), X)
    assert np.isfinite(float(loss))
    if method == "psld":
        expected = m["vi"] + 0.6 * m["cs"] + 0.3 * m["prior"]
    else:
        beta = 0.7 * 4 / 10 if method == "ld_kl_annealing" else 0.7
        assert float(m["kl_weight"]) == pytest.approx(beta)
        expected = m["nll"] + beta * m["kl"] + 0.3 * m["prior"]
    assert float(loss) == pytest.approx(float(expected), rel=1e-4)


def np_prior_loss(model, z0, key):
    """DDPM eps loss redrawn from eps_loss's documented split: key -> (i ~ U{1..L}, noise)."""
    k_i, k_noise = jax.random.split(key)
    i = jax.random.randint(k_i, (len(z0),), 1, L + 1)
    noise = _np(jax.random.normal(k_noise, z0.shape))
    abar = ABAR[np.asarray(i)][:, None]
    z = np.sqrt(abar) * z0 + np.sqrt(1 - abar) * noise
    return np.mean((_np(model.eps(jnp.asarray(z, jnp.float32), i)) - noise) ** 2)


def test_ld_metrics_match_independent_computation(model_for, decode_calls):
    """Given "ld", when redoing z, nll, KL and prior from the key split, then the metrics agree."""
    model = model_for("gru", "ld")
    _, m = _loss(_objective("ld"), model, X)
    k_z, _, k_prior = jax.random.split(KEY, 3)
    mean, logvar = (_np(a) for a in model.encode(X))
    z = mean + np.exp(0.5 * logvar) * _np(jax.random.normal(k_z, mean.shape))
    (call,) = decode_calls
    np.testing.assert_allclose(call["z"], z, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(call["x"], X)  # no masking: the decoder reads the batch
    dec_mean, dec_logvar = model.decode(jnp.asarray(z, jnp.float32), X)
    assert float(m["nll"]) == pytest.approx(-np_loglik(X, dec_mean, dec_logvar).mean(), rel=1e-4)
    assert float(m["kl"]) == pytest.approx(np_kl(mean, logvar).mean(), rel=1e-4)
    assert float(m["prior"]) == pytest.approx(np_prior_loss(model, z, k_prior), rel=1e-4)


def test_masking_zeroes_whole_decoder_inputs_not_targets(model_for, decode_calls):
    """Given mask_rate 0.99, when computing the loss, then ~99% of inputs are zero, no targets."""
    _, m = _loss(ObjectiveConfig(method="ld_masking", mask_rate=0.99), model_for("gru", "ld"), X)
    (call,) = decode_calls
    zeroed = np.all(call["x"] == 0, axis=-1)  # [B, T]
    kept = np.all(call["x"] == X, axis=-1)
    assert np.all(zeroed ^ kept), "a time step is partly masked"
    assert zeroed.mean() >= 0.8, zeroed.mean()  # P(>= 3 of 15 kept | p = 0.01) < 5e-4
    _, k_mask, _ = jax.random.split(KEY, 3)  # documented split: the mask is Bernoulli(1 - p)
    keep = np.asarray(jax.random.bernoulli(k_mask, 1.0 - 0.99, X.shape[:-1] + (1,)))[..., 0]
    np.testing.assert_array_equal(kept, keep)
    nll = -np_loglik(X, call["mean"], call["logvar"]).mean()  # scored on the unmasked x
    assert float(m["nll"]) == pytest.approx(nll, rel=1e-5)


def _psld_draws(model, x, cfg, key=KEY):
    """Redraws PSLD's indices and latents from the documented split (vi, cs, eps, prior)."""
    k_vi, k_cs, k_eps, _ = jax.random.split(key, 4)
    n_cs = max(1, round(cfg.cs_batch_fraction * len(x)))  # the first C windows get a noisy pass
    i_vi = np.asarray(jax.random.randint(k_vi, (len(x),), 0, cfg.num_vi_steps + 1))
    i_cs = np.asarray(jax.random.randint(k_cs, (n_cs,), L - cfg.cs_window, L + 1))
    v = _np(model.encode(x)[0])
    i = np.concatenate([i_vi, i_cs])
    eps = _np(jax.random.normal(k_eps, (len(x) + n_cs, v.shape[1])))
    v2 = np.concatenate([v, v[:n_cs]])
    z = np.sqrt(ABAR[i])[:, None] * v2 + np.sqrt(1 - ABAR[i])[:, None] * eps
    return i_vi, i_cs, z


@pytest.mark.parametrize(
    "cs_bound, vi_weight, fraction",
    [
        ("marginal", "index", 1.0),
        ("none", "power", 1.0),
        ("constant", "index", 1.0),
        ("marginal_step", "index", 1.0),
        ("marginal_step", "index", 0.67),  # C = round(0.67 * 3) = 2 of the 3 windows
        ("marginal", "power", 0.2),  # C = max(1, round(0.6)) = 1
    ],
)
def test_psld_metrics_match_independent_computation(
    model_for, decode_calls, cs_bound, vi_weight, fraction
):
    """Given PSLD, when computing the loss, then one B + C decoder call; vi, cs, nll match NumPy."""
    x = 3.0 + _normal(12, B, T, D)  # far from the untrained decoder: noisy likelihood below floor
    cfg = _objective(
        "psld", cs_bound=cs_bound, vi_weight=vi_weight, cs_floor=-2.0, cs_batch_fraction=fraction
    )
    model = model_for("gru", "psld")
    _, m = _loss(cfg, model, x)
    assert len(decode_calls) == 1, "the informative and noisy passes are not one decoder call"
    (call,) = decode_calls
    n_cs = {1.0: B, 0.67: 2, 0.2: 1}[fraction]
    np.testing.assert_array_equal(call["x"], np.concatenate([x, x[:n_cs]]))
    i_vi, i_cs, z = _psld_draws(model, x, cfg)
    np.testing.assert_allclose(call["z"], z, rtol=1e-5, atol=1e-5)
    ll = np_loglik(call["x"], call["mean"], call["logvar"])
    ll_vi, ll_cs = ll[:B], ll[B:]
    w_vi = (
        ABAR[np.minimum(np.round(2 * i_vi), L).astype(int)]
        if vi_weight == "index"
        else ABAR[i_vi] ** 2
    )
    floor = {  # the floor is fitted to the whole batch, applied to the C noisy windows
        "marginal": np_loglik(x, _np(x).mean((0, 1)), np.log(_np(x).var((0, 1)) + 1e-6))[:n_cs],
        "constant": np.full(n_cs, -2.0 * T * D),
        "none": np.full(n_cs, -np.inf),
        "marginal_step": -np.inf,  # floored per step below
    }[cs_bound]
    if cs_bound == "marginal_step":  # per-step SciPy log-likelihoods, each floored
        steps = scipy.stats.norm.logpdf(
            _np(call["x"][B:]), _np(call["mean"][B:]), np.exp(0.5 * _np(call["logvar"][B:]))
        ).sum(-1)  # [C, T]
        marginal = scipy.stats.norm.logpdf(
            _np(x), _np(x).mean((0, 1)), np.sqrt(_np(x).var((0, 1)) + 1e-6)
        ).sum(-1)[:n_cs]  # [C, T]
        assert np.any(steps < marginal), "the floor does not bind: the case tests nothing"
        ll_cs = np.maximum(steps, marginal).sum(-1)
    if cs_bound not in ("none", "marginal_step"):
        assert np.any(ll_cs < floor), "the floor does not bind: the case tests nothing"
    cs = np.mean((1 - ABAR[i_cs]) * np.maximum(ll_cs, floor))  # eta = 1
    assert float(m["vi"]) == pytest.approx(-np.mean(w_vi * ll_vi), rel=1e-5)
    assert float(m["cs"]) == pytest.approx(cs, rel=1e-5)
    assert float(m["nll"]) == pytest.approx(-ll_vi.mean(), rel=1e-5)


@pytest.mark.parametrize("cs_bound", ["marginal_step", "none"])
def test_psld_cs_on_other_code_matches_independent_computation(model_for, decode_calls, cs_bound):
    """Given cs_latent="other_code" and C = 2 of 3 windows; then the one decoder call's C noisy
    rows read the neighbour's clean code, roll(v[:C], 1) (not z^i), cs = mean over C of
    (1 - abar_i) sum_t max(log p(x_t | v_other, x_<t), floor) in NumPy (floor: the per-step
    marginal, or none), and vi, nll equal those of the noise form (the same VI draws)."""
    x, model = 3.0 + _normal(12, B, T, D), model_for("gru", "psld")
    base = _objective("psld", cs_batch_fraction=0.67, cs_bound=cs_bound)
    cfg = _objective("psld", cs_batch_fraction=0.67, cs_bound=cs_bound, cs_latent="other_code")
    _, off = _loss(base, model, x)
    decode_calls.clear()
    loss, m = _loss(cfg, model, x)
    (call,) = decode_calls
    n_cs = 2
    v = _np(model.encode(x)[0])
    np.testing.assert_allclose(call["z"][B:], v[[1, 0]], atol=1e-6)  # roll by 1 of 2 rows
    np.testing.assert_array_equal(call["x"][B:], x[:n_cs])
    _, i_cs, _ = _psld_draws(model, x, cfg)
    steps = scipy.stats.norm.logpdf(
        _np(call["x"][B:]), _np(call["mean"][B:]), np.exp(0.5 * _np(call["logvar"][B:]))
    ).sum(-1)  # [C, T]
    if cs_bound == "marginal_step":
        marginal = scipy.stats.norm.logpdf(
            _np(x), _np(x).mean((0, 1)), np.sqrt(_np(x).var((0, 1)) + 1e-6)
        ).sum(-1)[:n_cs]  # [C, T]
        assert np.any(steps < marginal), "the floor does not bind: the case tests nothing"
        steps = np.maximum(steps, marginal)
    else:  # unfloored, the noisy pass's value shows which latent it read
        assert float(m["cs"]) != pytest.approx(float(off["cs"]), rel=1e-3)
    cs = np.mean((1 - ABAR[i_cs]) * steps.sum(-1))
    assert float(m["cs"]) == pytest.approx(cs, rel=1e-5)
    for k in ("vi", "nll", "prior"):
        assert float(m[k]) == pytest.approx(float(off[k]), rel=1e-5), k
    assert float(loss) == pytest.approx(float(m["vi"] + 0.6 * m["cs"] + 0.3 * m["prior"]), rel=1e-5)


def test_other_code_needs_two_noisy_windows(model_for):
    """Given C = round(0.2 * 3) = 1 noisy-pass window and cs_latent="other_code" (the roll would
    wrap to the window's own code); then one ConfigError naming cs_batch_fraction and C >= 2."""
    cfg = _objective("psld", cs_batch_fraction=0.2, cs_latent="other_code")
    with pytest.raises(ConfigError, match="cs_batch_fraction=0.2 .* C >= 2"):
        _loss(cfg, model_for("gru", "psld"), X)


def test_psld_marginal_floor_only_raises_cs(model_for):
    """Given a noisy loglik below the marginal floor, when bounding, then cs is raised."""
    x, model = 3.0 + _normal(12, B, T, D), model_for("gru", "psld")
    cs = {
        b: float(_loss(_objective("psld", cs_bound=b), model, x)[1]["cs"])
        for b in ("none", "marginal")
    }
    assert cs["marginal"] > cs["none"], cs


# ---------------------------------------------------------------------------------------------
# Stages: which parameters each stage trains.


def _grad_norms(cfg, model, stage, wrt):
    """Max |d loss / d param| over each named top-level submodule in wrt (e.g. "encoder")."""
    params_of = nnx.All(nnx.Param, nnx.Any(*(nnx.PathContains(name) for name in wrt)))
    graphdef, params, rest = nnx.split(model, params_of, ...)

    def loss(p):
        return _loss(cfg, nnx.merge(graphdef, p, rest), X, stage=stage)[0]

    # Only wrt is differentiated, so a stopped gradient compiles to (almost) nothing.
    grads = nnx.to_pure_dict(jax.jit(jax.grad(loss))(params))
    assert set(grads) == set(wrt)
    return {
        name: max(float(np.abs(g).max()) for g in jax.tree.leaves(sub))
        for name, sub in grads.items()
    }


AUTOENCODER = ("encoder", "to_latent", "decoder")


@pytest.mark.parametrize("method", ["ld", "psld"])
def test_prior_stage_trains_only_the_prior(model_for, method):
    """Given stage "prior", when differentiating, then encoder and decoder get zero gradient."""
    model = model_for("gru", method)
    loss, m = _loss(_objective(method), model, X, stage="prior")
    assert set(m) == {"prior"} and float(loss) == float(m["prior"])
    norms = _grad_norms(_objective(method), model, "prior", AUTOENCODER)
    assert set(norms.values()) == {0.0}, norms


def test_prior_gradient_reaches_encoder_only_when_asked(model_for):
    """Given prior_grad_to_encoder, when differentiating stage "prior", then the encoder learns."""
    cfg = _objective("ld", prior_grad_to_encoder=True)
    # to_latent stands for the encoder side (its backward is cheaper than the scan's).
    norms = _grad_norms(cfg, model_for("gru", "ld"), "prior", ("to_latent", "decoder"))
    assert norms["to_latent"] > 0 and norms["decoder"] == 0.0, norms


@pytest.mark.parametrize("method", ["ld", "psld"])
def test_autoencoder_stage_leaves_the_prior_alone(model_for, method):
    """Given stage "autoencoder", when differentiating, then the prior gets zero gradient."""
    model = model_for("gru", method)
    joint, m = _loss(_objective(method), model, X)
    auto, _ = _loss(_objective(method), model, X, stage="autoencoder")
    assert float(auto) == pytest.approx(float(joint - 0.3 * m["prior"]), rel=1e-5)
    norms = _grad_norms(_objective(method), model, "autoencoder", AUTOENCODER + ("prior",))
    assert norms.pop("prior") == 0.0
    assert min(norms.values()) > 0, norms


def test_loss_rejects_unknown_stage(model_for):
    """Given stage "decoder", when calling the loss, then ValueError names it."""
    with pytest.raises(ValueError, match="'decoder'"):
        _loss(_objective("ld"), model_for("gru", "ld"), X, stage="decoder")


def test_scheduled_sampling_feeds_the_decoders_own_draws(model_for, decode_calls):
    """Given scheduled_sampling=0.5, when computing the LD loss, then a first decoder pass reads
    the batch, and each time step of the second pass's input is either x_t or that first pass's
    draw mean + exp(logvar / 2) eps (redrawn here from the documented key), whole steps at a
    time; the nll scores the batch under the second pass."""
    cfg = _objective("ld", scheduled_sampling=0.5)
    _, m = _loss(cfg, model_for("gru", "ld"), X)
    first, second = decode_calls
    np.testing.assert_array_equal(first["x"], X)
    np.testing.assert_array_equal(second["z"], first["z"])
    k_eps, _ = jax.random.split(jax.random.fold_in(KEY, 2))
    eps = _np(jax.random.normal(k_eps, X.shape))
    drawn = first["mean"] + np.exp(0.5 * first["logvar"]) * eps
    fed = np.all(np.isclose(second["x"], drawn, rtol=1e-5, atol=1e-6), axis=-1)  # [B, T]
    kept = np.all(second["x"] == X, axis=-1)
    assert np.all(fed ^ kept), "a time step is partly replaced, or neither x_t nor the draw"
    assert fed.any() and kept.any(), fed.mean()  # B * T = 15 Bernoulli(0.5) steps
    nll = -np_loglik(X, second["mean"], second["logvar"]).mean()
    assert float(m["nll"]) == pytest.approx(nll, rel=1e-5)


def test_input_noise_corrupts_the_inputs_not_the_targets(model_for, decode_calls):
    """Given input_noise=0.01 (ObjectiveConfig's default, asserted first), when computing the LD
    loss, then the decoder reads X + 0.01 eps with eps redrawn here from the documented key
    (fold_in(key, 1)), and the nll scores the clean X under that pass."""
    assert ObjectiveConfig().input_noise == 0.01
    _, m = _loss(_objective("ld", input_noise=0.01), model_for("gru", "ld"), X)
    (call,) = decode_calls
    eps = _np(jax.random.normal(jax.random.fold_in(KEY, 1), X.shape))
    np.testing.assert_allclose(call["x"], X + 0.01 * eps, rtol=1e-6, atol=1e-7)
    nll = -np_loglik(X, call["mean"], call["logvar"]).mean()
    assert float(m["nll"]) == pytest.approx(nll, rel=1e-5)


def test_scheduled_sampling_reaches_the_psld_decoder(model_for, decode_calls):
    """Given PSLD with scheduled_sampling=1, when computing the loss, then the second decoder
    pass reads the first pass's means + noise at every step, not the batch; a rate outside
    [0, 1] is refused."""
    _loss(_objective("psld", scheduled_sampling=1.0), model_for("gru", "psld"), X)
    first, second = decode_calls
    assert first["x"].shape == second["x"].shape
    assert not np.any(np.all(second["x"] == first["x"], axis=-1))  # no step kept
    spread = np.abs(second["x"] - first["mean"]) / np.exp(0.5 * first["logvar"])
    assert 0.3 < spread.mean() < 1.3, spread.mean()  # |N(0, 1)| has mean 0.80
    with pytest.raises(ConfigError, match="scheduled_sampling"):
        ObjectiveConfig(scheduled_sampling=1.5)
