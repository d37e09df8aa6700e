"""Tests of ldx.ldidp: densities, closed-form KL, the posterior scan, samplers and metrics.

Shape legend: B batch, T time, D features, Z latent, L true latent.
References are SciPy / float64 NumPy or Python loops over the model's own one-step functions
(independent of the `lax.scan`s under test).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.signal
import scipy.special
import scipy.stats
from flax import nnx

from ldx import probability
from ldx.errors import ConfigError
from ldx.ldidp import metrics, objective, samplers
from ldx.ldidp.model import LDIDP, ModelConfig

B, T, D, Z = 3, 6, 5, 4


def _np(a):
    return np.asarray(a, np.float64)


def _model(**kw) -> LDIDP:
    cfg = dict(features=D, latent_dim=Z, width=8, observation="gaussian", decoder="mlp")
    return LDIDP(ModelConfig(**{**cfg, **kw}), rngs=nnx.Rngs(0))


# ---------------------------------------------------------------------------------------------
# Densities and KL.


def test_gaussian_kl_matches_quadrature_and_monte_carlo():
    """Given Gaussian pairs, when computing the closed form, then equal to the integral and MC."""
    rng = np.random.default_rng(0)
    mu_q, mu_p = rng.normal(size=4), rng.normal(size=4)
    std_q, std_p = rng.uniform(0.3, 2.0, 4), rng.uniform(0.3, 2.0, 4)
    kl = _np(probability.gaussian_kl(mu_q, std_q, mu_p, std_p))
    for i in range(4):
        q, p = scipy.stats.norm(mu_q[i], std_q[i]), scipy.stats.norm(mu_p[i], std_p[i])
        integral, _ = scipy.integrate.quad(
            lambda z: q.pdf(z) * (q.logpdf(z) - p.logpdf(z)), -np.inf, np.inf
        )
        np.testing.assert_allclose(kl[i], integral, rtol=1e-5, atol=1e-8)
        z = q.rvs(size=200_000, random_state=rng)
        terms = q.logpdf(z) - p.logpdf(z)
        assert abs(terms.mean() - kl[i]) < 4 * terms.std() / math.sqrt(len(z))


@pytest.mark.parametrize("kind", ["gaussian", "bernoulli", "poisson"])
def test_observation_logliks_match_scipy(kind):
    """Given observations and decoder outputs, then log-likelihoods equal scipy.stats."""
    rng = np.random.default_rng(1)
    out = rng.normal(size=(2, 7, 3)).astype(np.float32)
    if kind == "gaussian":
        x = rng.normal(size=out.shape).astype(np.float32)
        expected = scipy.stats.norm.logpdf(x, out, 0.3)
    elif kind == "bernoulli":
        x = rng.integers(0, 2, out.shape).astype(np.float32)
        expected = scipy.stats.bernoulli.logpmf(x, 1 / (1 + np.exp(-_np(out))))
    else:
        x = rng.poisson(2.0, out.shape).astype(np.float32)
        expected = scipy.stats.poisson.logpmf(x, np.exp(_np(out)))
    got = objective.obs_loglik(kind, jnp.asarray(x), jnp.asarray(out), 0.3)
    np.testing.assert_allclose(_np(got), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "inference, init_std, first_step",
    [
        ("non_markovian", 0.1, "transition"),
        ("markovian", 0.0, "transition"),
        ("non_markovian", 0.0, "initial"),
    ],
)
def test_posterior_scan_matches_step_by_step_reference(inference, init_std, first_step):
    """Given noise, when running the posterior scan, then z and every KL equal a Python loop.

    The loop uses the model's one-step functions and the SciPy-free closed form
    KL_k = sum_z log(s_p / s_q) + (s_q^2 + (mu_q - mu_p)^2) / (2 s_p^2) - 1/2, and checks the
    equal-variance simplification KL_k = abar ||c_k - c^_k||^2 / (2 sigma^2). With
    first_step="initial", z_1 = z_0, KL_1 = 0 and the transitions start at k = 2.
    """
    model = _model(inference=inference, init_std=init_std, first_step=first_step)
    cfg = model.cfg
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(B, T, D)), jnp.float32)
    eps0 = jnp.asarray(rng.normal(size=(B, Z)), jnp.float32)
    eps = jnp.asarray(rng.normal(size=(B, T, Z)), jnp.float32)
    z, kl0, kl = objective.posterior(model, x, eps0, eps)

    c, mu0, s0 = model.encode(x)
    z_prev = mu0 + s0 * eps0
    s0 = _np(s0)
    kl0_ref = (-np.log(s0) + (s0**2 + _np(mu0) ** 2) / 2 - 0.5).sum(-1)
    np.testing.assert_allclose(_np(kl0), kl0_ref, rtol=1e-5)
    h = np.tanh(_np(z_prev) @ _np(model.dyn_init.kernel[...]) + _np(model.dyn_init.bias[...]))
    h = jnp.asarray(h, jnp.float32)
    first = 0
    if first_step == "initial":
        np.testing.assert_allclose(_np(z[:, 0]), _np(z_prev), rtol=1e-6)
        np.testing.assert_array_equal(_np(kl[:, 0]), 0.0)
        first = 1
    rho = 0.0 if inference == "markovian" else math.sqrt(1 - cfg.signal - cfg.sigma**2)
    for k in range(first, T):
        h, c_hat = model.dynamics(h, z_prev)
        mu_q = math.sqrt(cfg.signal) * _np(c[:, k]) + rho * _np(z_prev)
        mu_p = math.sqrt(cfg.signal) * _np(c_hat) + rho * _np(z_prev)
        kl_ref = ((mu_q - mu_p) ** 2 / (2 * cfg.sigma**2)).sum(-1)
        np.testing.assert_allclose(_np(kl[:, k]), kl_ref, rtol=1e-4, atol=1e-6)
        short = cfg.signal * ((_np(c[:, k]) - _np(c_hat)) ** 2).sum(-1) / (2 * cfg.sigma**2)
        np.testing.assert_allclose(kl_ref, short, rtol=1e-4, atol=1e-6)
        z_prev = jnp.asarray(mu_q + cfg.sigma * _np(eps[:, k]), jnp.float32)
        np.testing.assert_allclose(_np(z[:, k]), _np(z_prev), rtol=1e-4, atol=1e-5)


def test_markovian_pointwise_latent_ignores_the_past():
    """Given the pointwise encoder, then E_q[z_k] depends on x_j (j != k) only if non-Markovian."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, T, D)).astype(np.float32)
    x2 = x.copy()
    x2[:, 2] += 1.0  # change x_3 only
    for inference in ("markovian", "non_markovian"):
        model = _model(encoder="pointwise", inference=inference)
        za, zb = (_np(objective.posterior_mean(model, jnp.asarray(v))) for v in (x, x2))
        changed = ~np.all(np.isclose(za, zb, atol=1e-6), axis=(0, 2))  # [T]
        if inference == "markovian":  # z_k = sqrt(abar) MLP(x_k): only z_3 moves
            np.testing.assert_array_equal(changed, np.arange(T) == 2)
        else:  # z_3 reaches z_4.. through rho z_{k-1}, and z_0 summarises the window
            assert changed.all()


def test_initial_first_step_puts_z0_on_the_path():
    """Given first_step="initial", then E_q[z_1] = mu_0 and z_1 = z_0 moves with eps0 exactly;
    with "transition" z_1 = m(z_0, c_1) + sigma eps_1 (z_0 scaled by rho)."""
    rng = np.random.default_rng(11)
    x = jnp.asarray(rng.normal(size=(B, T, D)), jnp.float32)
    eps = jnp.asarray(rng.normal(size=(B, T, Z)), jnp.float32)
    e0a, e0b = (jnp.asarray(rng.normal(size=(B, Z)), jnp.float32) for _ in range(2))
    for first_step in ("initial", "transition"):
        model = _model(first_step=first_step)
        c, mu0, s0 = (_np(a) for a in model.encode(x))
        za, _, _ = objective.posterior(model, x, e0a, eps)
        zb, _, _ = objective.posterior(model, x, e0b, eps)
        dz0 = s0 * (_np(e0a) - _np(e0b))
        if first_step == "initial":
            np.testing.assert_allclose(_np(za[:, 0]) - _np(zb[:, 0]), dz0, rtol=1e-4, atol=1e-5)
            z_mean = _np(objective.posterior_mean(model, x))
            np.testing.assert_allclose(z_mean[:, 0], mu0, rtol=1e-5)
        else:
            rho = model.cfg.rho
            np.testing.assert_allclose(
                _np(za[:, 0]) - _np(zb[:, 0]), rho * dz0, rtol=1e-4, atol=1e-5
            )


def _mixture_model(k=3, z=2, seed=0):
    """A model with a k-component mixture prior over a z-dim initial latent, and its
    (weights, means, stds) computed in NumPy from the parameters:
    [mean, log std] = tanh(U) W + b (the posterior head at the pseudo-states)."""
    model = LDIDP(
        ModelConfig(features=D, latent_dim=z, width=8, init_prior="mixture", init_components=k),
        rngs=nnx.Rngs(seed),
    )
    rng = np.random.default_rng(seed)
    model.prior_logits[...] = jnp.asarray(rng.normal(size=k), jnp.float32)
    kernel = np.concatenate([2 * rng.normal(size=(8, z)), 0.5 * rng.normal(size=(8, z))], 1)
    model.enc_init.kernel[...] = jnp.asarray(kernel, jnp.float32)
    bias = np.concatenate([rng.normal(size=z), np.zeros(z)])
    model.enc_init.bias[...] = jnp.asarray(bias, jnp.float32)
    pi = scipy.special.softmax(_np(model.prior_logits[...]))
    out = np.tanh(_np(model.prior_states[...])) @ _np(model.enc_init.kernel[...])
    out += _np(model.enc_init.bias[...])
    return model, pi, out[:, :z], np.exp(np.clip(out[:, z:], -7, 2))


def test_mixture_prior_log_density_matches_scipy():
    """Given a mixture p(z_0), then log p = log sum_j pi_j prod_i N(z_i; a_ji, b_ji) (SciPy)."""
    model, pi, mean, std = _mixture_model()
    assert std.min() > 0.05  # no component so narrow that float32 loses the comparison
    z = np.random.default_rng(12).normal(0, 3, (50, 2))
    terms = [np.log(pi[j]) + scipy.stats.norm.logpdf(z, mean[j], std[j]).sum(-1) for j in range(3)]
    ref = scipy.special.logsumexp(terms, axis=0)
    got = _np(model.init_log_prob(jnp.asarray(z, jnp.float32)))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    std_model = _model()  # N(0, I)
    np.testing.assert_allclose(
        _np(std_model.init_log_prob(jnp.asarray(z[:, :1].repeat(Z, 1), jnp.float32))),
        scipy.stats.norm.logpdf(z[:, :1].repeat(Z, 1)).sum(-1),
        rtol=1e-5,
    )


def _gru_np(cell, x, reverse=False):
    """Final state of a GRU cell run over x [B, T, F] from zeros, in float64 NumPy."""
    w_x, b_x = _np(cell.input_proj.kernel[...]), _np(cell.input_proj.bias[...])
    w_h = _np(cell.hidden_proj.kernel[...])
    b_h = _np(cell.hidden_proj.bias[...]) if cell.hidden_proj.bias is not None else 0.0
    h = np.zeros((x.shape[0], w_h.shape[0]))
    for t in range(x.shape[1])[:: -1 if reverse else 1]:
        xr, xu, xn = np.split(x[:, t] @ w_x + b_x, 3, -1)
        hr, hu, hn = np.split(h @ w_h + b_h, 3, -1)
        r, u = scipy.special.expit(xr + hr), scipy.special.expit(xu + hu)
        h = (1 - u) * np.tanh(xn + r * hn) + u * h
    return h


def test_init_encoder_both_reads_both_final_states():
    """Given init_encoder="both", then q(z_0 | x) = head(tanh([h_fwd_T, h_bwd_1] W1 + b1)) with
    both GRUs run in NumPy; the mixture components are the same head at tanh(u_j) (SciPy
    density). A pointwise encoder has no forward GRU: "both" is refused."""
    model = _model(init_encoder="both", init_prior="mixture", init_components=3)
    x = np.random.default_rng(13).normal(size=(B, T, D))
    state = np.concatenate([_gru_np(model.enc_fwd, x), _gru_np(model.enc_bwd, x, True)], -1)

    def head(s):
        h = np.tanh(
            s @ _np(model.enc_init_hidden.kernel[...]) + _np(model.enc_init_hidden.bias[...])
        )
        mu, log_std = np.split(
            h @ _np(model.enc_init.kernel[...]) + _np(model.enc_init.bias[...]), 2, -1
        )
        return mu, np.exp(np.clip(log_std, -7, 2))

    _, mu0, s0 = model.encode(jnp.asarray(x, jnp.float32))
    mu_ref, s_ref = head(state)
    np.testing.assert_allclose(_np(mu0), mu_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(s0), s_ref, rtol=1e-4, atol=1e-5)
    mean, std = head(np.tanh(_np(model.prior_states[...])))
    pi = scipy.special.softmax(_np(model.prior_logits[...]))
    z = np.random.default_rng(14).normal(size=(20, Z))
    terms = [np.log(pi[j]) + scipy.stats.norm.logpdf(z, mean[j], std[j]).sum(-1) for j in range(3)]
    np.testing.assert_allclose(
        _np(model.init_log_prob(jnp.asarray(z, jnp.float32))),
        scipy.special.logsumexp(terms, axis=0),
        rtol=1e-4,
        atol=1e-4,
    )
    with pytest.raises(ConfigError, match="init_encoder"):
        ModelConfig(features=2, encoder="pointwise", init_encoder="both")


def test_mixture_prior_draws_follow_its_cdf():
    """Given a mixture p(z_0), when drawing 20000 z_0, then each coordinate passes a KS test
    against the mixture CDF sum_j pi_j Phi((z - a_j) / b_j), and the component shares match."""
    model, pi, mean, std = _mixture_model(k=3, z=2, seed=1)
    z = _np(model.sample_init(jax.random.key(0), 20000))
    for i in range(2):

        def cdf(v, i=i):
            return sum(pi[j] * scipy.stats.norm.cdf(v, mean[j, i], std[j, i]) for j in range(3))

        assert scipy.stats.kstest(z[:, i], cdf).pvalue > 1e-4
    draws = _np(samplers.sample(model, samplers.SamplerConfig(), jax.random.key(0), 7, T)[0])
    assert draws.shape == (7, T, 2)


def test_mixture_init_kl_is_unbiased_for_the_true_kl():
    """Given q(z_0|x) and a mixture prior, then E_eps[init_kl(mu, s, mu + s eps)] equals
    KL(q || p) by 1-D quadrature of q log(q / p) (Z = 1); for N(0, I) it is the closed form."""
    model, pi, mean, std = _mixture_model(k=3, z=1, seed=2)
    mu, s = np.array([[0.7]]), np.array([[0.4]])
    q = scipy.stats.norm(mu[0, 0], s[0, 0])

    def log_p(v):
        return np.log(sum(pi[j] * scipy.stats.norm.pdf(v, mean[j, 0], std[j, 0]) for j in range(3)))

    ref, _ = scipy.integrate.quad(lambda v: q.pdf(v) * (q.logpdf(v) - log_p(v)), -10, 10)
    eps = np.random.default_rng(3).normal(size=(200_000, 1))
    mu_b, s_b = np.broadcast_to(mu, eps.shape), np.broadcast_to(s, eps.shape)
    terms = _np(
        model.init_kl(*(jnp.asarray(a, jnp.float32) for a in (mu_b, s_b, mu_b + s_b * eps)))
    )
    assert abs(terms.mean() - ref) < 4 * terms.std() / math.sqrt(len(terms)) + 1e-5
    # N(0, I): the closed form, whatever the sample
    std_model = _model()
    mu4, s4 = jnp.full((2, Z), 0.5), jnp.full((2, Z), 0.8)
    kl = _np(std_model.init_kl(mu4, s4, jnp.zeros((2, Z))))
    np.testing.assert_allclose(kl, Z * (-math.log(0.8) + (0.64 + 0.25) / 2 - 0.5), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Samplers.


@pytest.mark.parametrize("first_step", ["transition", "initial"])
def test_implicit_sampler_is_deterministic_at_eta_zero(first_step):
    """Given z_0, when sampling at eta=0 with two keys, then identical paths equal to a loop."""
    model = _model(first_step=first_step)
    z0 = jax.random.normal(jax.random.key(0), (B, Z))
    za, xa = samplers.implicit_rollout(model, z0, jax.random.key(1), T, 0.0, decode_noise=False)
    zb, xb = samplers.implicit_rollout(model, z0, jax.random.key(2), T, 0.0, decode_noise=False)
    np.testing.assert_array_equal(_np(za), _np(zb))
    np.testing.assert_array_equal(_np(xa), _np(xb))
    h, z_prev = model.initial_state(z0), z0
    first = 0
    if first_step == "initial":  # z_1 = z_0
        np.testing.assert_array_equal(_np(za[:, 0]), _np(z0))
        first = 1
    for k in range(first, T):  # z_k = m(z_{k-1}, c^_k), x_k = f(z_k)
        h, c_hat = model.dynamics(h, z_prev)
        z_prev = model.transition_mean(z_prev, c_hat)
        np.testing.assert_allclose(_np(za[:, k]), _np(z_prev), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_np(xa[:, k]), _np(model.decode(z_prev)), rtol=1e-5, atol=1e-6)
    zc, _ = samplers.implicit_rollout(model, z0, jax.random.key(2), T, 0.5)
    assert not np.allclose(_np(za), _np(zc))  # eta > 0 is stochastic


def test_implicit_step_variance_is_eta_sigma_squared():
    """Given one z_0 repeated, when taking one eta-step, then Var(z_1) = (eta sigma)^2 (chi^2)."""
    model, eta, n = _model(), 0.7, 4000
    z0 = jnp.tile(jax.random.normal(jax.random.key(0), (1, Z)), (n, 1))
    z, _ = samplers.implicit_rollout(model, z0, jax.random.key(5), 1, eta)
    var = _np(z[:, 0]).var(0, ddof=1)  # [Z]
    lo, hi = scipy.stats.chi2.ppf([1e-4, 1 - 1e-4], n - 1) / (n - 1)
    target = (eta * model.cfg.sigma) ** 2
    assert np.all((var > lo * target) & (var < hi * target)), (var, target)


@pytest.mark.parametrize("sampler", ["implicit", "explicit"])
def test_batched_observation_noise_is_fresh_per_bin(sampler):
    """Given z from either sampler, then x - f(z) ~ N(0, obs_std^2), uncorrelated across bins."""
    model, n = _model(), 2000
    cfg = samplers.SamplerConfig(sampler=sampler, eta=1.0, langevin_steps=20)
    z, x = samplers.sample(model, cfg, jax.random.key(3), n, T)
    assert z.shape == (n, T, Z) and x.shape == (n, T, D)
    noise = _np(x - model.decode(z)) / model.cfg.obs_std  # [N, T, D], ~ N(0, 1)
    lo, hi = scipy.stats.chi2.ppf([1e-4, 1 - 1e-4], n * T * D) / (n * T * D)
    assert lo < noise.var() < hi
    corr = np.corrcoef(noise.reshape(n, T * D), rowvar=False)  # [T D, T D]
    off_diagonal = corr[~np.eye(T * D, dtype=bool)]
    assert np.abs(off_diagonal).max() < 5.5 / math.sqrt(n)  # ~5.5 sigma, 435 pairs


def test_langevin_reaches_its_stationary_gaussian():
    """Given a Gaussian target, when running M ULA steps, then mean mu, var sigma^2/(1 - s/4)."""
    n, sigma, s = 20000, 0.3, 0.1
    mu = jnp.full((n, 2), 1.5)
    z = _np(samplers.langevin(mu, sigma, jax.random.key(0), 150, s))
    var_target = sigma**2 / (1 - s / 4)
    se = math.sqrt(var_target / n)
    np.testing.assert_allclose(z.mean(0), 1.5, atol=5 * se + 1.5 * (1 - s / 2) ** 150)
    lo, hi = scipy.stats.chi2.ppf([1e-4, 1 - 1e-4], n - 1) / (n - 1)
    assert np.all((z.var(0, ddof=1) > lo * var_target) & (z.var(0, ddof=1) < hi * var_target))


@pytest.mark.parametrize("w0", [1.0, 0.1])
def test_loss_weights_kl0_by_init_kl_weight(w0):
    """Given init_kl_weight w0 and beta = 1, then loss = mean(-log p(x|z) + w0 KL_0 + sum KL_k)
    / (T D) from elbo_terms at the same key (float64 sums), and the reported elbo keeps w0 = 1."""
    model = _model(init_prior="mixture", first_step="initial")
    x = jnp.asarray(np.random.default_rng(15).normal(size=(B, T, D)), jnp.float32)
    key = jax.random.key(3)
    cfg = objective.ObjectiveConfig(kl_weight=1.0, kl_warmup_steps=0, init_kl_weight=w0)
    loss, m = objective.make_loss_fn(cfg, 10)(model, x, key, 5)
    loglik, kl0, kl = (_np(a) for a in objective.elbo_terms(model, x, jax.random.split(key)[1]))
    assert np.abs(kl0).mean() > 1e-2  # the weight has something to act on
    ref = np.mean(-loglik + w0 * kl0 + kl.sum(-1)) / (T * D)
    np.testing.assert_allclose(float(loss), ref, rtol=1e-5)
    np.testing.assert_allclose(float(m["elbo"]), np.mean(loglik - kl0 - kl.sum(-1)), rtol=1e-5)
    with pytest.raises(ConfigError, match="init_kl_weight"):
        objective.ObjectiveConfig(init_kl_weight=-1.0)


def test_log_joint_matches_a_step_by_step_scipy_sum():
    """Given first_step="initial" and any path z, then log_joint = log p(z_1) + sum_k
    norm.logpdf(x_k; f(z_k), obs_std) + sum_{k>=2} norm.logpdf(z_k; m(z_{k-1}, c^_k), sigma),
    the prior means from a Python loop over the model's one-step dynamics."""
    model = _model(init_prior="mixture", first_step="initial", decoder="linear")
    cfg = model.cfg
    rng = np.random.default_rng(16)
    x, z = rng.normal(size=(B, T, D)), rng.normal(size=(B, T, Z))
    got = _np(objective.log_joint(model, jnp.asarray(x, jnp.float32), jnp.asarray(z, jnp.float32)))
    out = _np(model.decode(jnp.asarray(z, jnp.float32)))
    ref = scipy.stats.norm.logpdf(x, out, cfg.obs_std).sum((1, 2))
    ref += _np(model.init_log_prob(jnp.asarray(z[:, 0], jnp.float32)))
    zk = jnp.asarray(z[:, 0], jnp.float32)
    h = model.initial_state(zk)
    for k in range(1, T):
        h, c_hat = model.dynamics(h, zk)
        mean = math.sqrt(cfg.signal) * _np(c_hat) + cfg.rho * _np(zk)
        ref += scipy.stats.norm.logpdf(z[:, k], mean, cfg.sigma).sum(-1)
        zk = jnp.asarray(z[:, k], jnp.float32)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    with pytest.raises(ValueError, match="initial"):
        objective.log_joint(_model(), jnp.asarray(x, jnp.float32), jnp.asarray(z, jnp.float32))


def test_config_validation_names_the_field():
    """Given bad model/sampler values, then ConfigError names the field."""
    with pytest.raises(ConfigError, match="sigma"):
        ModelConfig(features=2, signal=0.9, sigma=0.5)
    with pytest.raises(ConfigError, match="observation"):
        ModelConfig(features=2, observation="binomial")
    with pytest.raises(ConfigError, match="eta"):
        samplers.SamplerConfig(eta=1.5)


# ---------------------------------------------------------------------------------------------
# Metrics.


def test_affine_alignment_recovers_an_affine_image():
    """Given z = A y + b (+ tiny noise), then corr ~ 1, mse ~ 0; against pearsonr on a shuffle."""
    rng = np.random.default_rng(4)
    y = rng.normal(size=(10, 20, 2))
    a, b = rng.normal(size=(2, 3)), rng.normal(size=3)
    z = y @ a + b + 1e-6 * rng.normal(size=(10, 20, 3))
    out = metrics.affine_alignment(z[:6], y[:6], z[6:], y[6:])
    assert out["corr"] > 1 - 1e-9 and out["mse"] < 1e-9 and out["r2"] > 1 - 1e-9
    noise = rng.normal(size=z.shape)  # unrelated latents: the map generalises to nothing
    w = metrics.fit_affine(noise[:6], y[:6])
    pred = metrics.apply_affine(w, noise[6:]).reshape(-1, 2)
    ref = np.mean([scipy.stats.pearsonr(pred[:, i], y[6:].reshape(-1, 2)[:, i])[0] for i in (0, 1)])
    np.testing.assert_allclose(
        metrics.affine_alignment(noise[:6], y[:6], noise[6:], y[6:])["corr"], ref
    )


def test_bits_per_spike_matches_scipy_poisson():
    """Given rates and counts, then bps = (sum logpmf(rates) - sum logpmf(null)) / (n ln 2)."""
    rng = np.random.default_rng(5)
    rates = rng.gamma(2.0, 0.2, (4, 30, 6))
    counts = rng.poisson(rates)
    null = counts.mean((0, 1))
    gain = scipy.stats.poisson.logpmf(counts, rates).sum()
    gain -= scipy.stats.poisson.logpmf(counts, np.broadcast_to(null, counts.shape)).sum()
    np.testing.assert_allclose(
        metrics.bits_per_spike(rates, counts), gain / (counts.sum() * math.log(2)), rtol=1e-10
    )
    assert metrics.bits_per_spike(np.broadcast_to(null, counts.shape), counts) == pytest.approx(0)


def test_gaussian_smooth_equals_nlb_convolution():
    """Given counts, then smoothing equals np.convolve(.., 'same') with NLB's window."""
    x = np.random.default_rng(6).poisson(0.3, (2, 140, 3)).astype(float)
    for sd in (3, 12):
        w = scipy.signal.windows.gaussian(int(6 * sd), int(sd), sym=True)
        ref = np.apply_along_axis(lambda v: np.convolve(v, w / w.sum(), "same"), 1, x)
        np.testing.assert_allclose(metrics.gaussian_smooth(x, sd), ref, atol=1e-12)


def test_poisson_glm_matches_a_generic_optimiser():
    """Given a small GLM problem, then Newton's weights equal scipy BFGS on the same loss."""
    rng = np.random.default_rng(7)
    f = rng.normal(size=(400, 3))
    y = rng.poisson(np.exp(f @ np.array([[0.5], [-0.3], [0.2]]) - 1.0))
    alpha = 0.05
    w = metrics.fit_poisson_glm(f, y, alpha)[:, 0]
    x = np.concatenate([f, np.ones((400, 1))], 1)

    def loss(v):
        eta = x @ v
        return (np.exp(eta) - y[:, 0] * eta).mean() + 0.5 * alpha * (v[:3] ** 2).sum()

    ref = scipy.optimize.minimize(loss, np.zeros(4), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(w, ref, atol=1e-5)


def test_mmd_matches_pairwise_definition():
    """Given two small sets, then MMD^2 equals the double sum of RBF kernels."""
    rng = np.random.default_rng(8)
    x, y, h = rng.normal(size=(5, 2, 3)), rng.normal(1.0, 1.0, (7, 2, 3)), 1.7
    xf, yf = x.reshape(5, -1), y.reshape(7, -1)

    def k(a, b):
        return math.exp(-np.sum((a - b) ** 2) / (2 * h * h))

    ref = (
        np.mean([[k(a, b) for b in xf] for a in xf])
        + np.mean([[k(a, b) for b in yf] for a in yf])
        - 2 * np.mean([[k(a, b) for b in yf] for a in xf])
    )
    np.testing.assert_allclose(metrics.mmd(x, y, h) ** 2, ref, rtol=1e-10)


def test_ridge_r2_is_one_for_a_linear_target_and_scores_like_definition():
    """Given y linear in f, then R^2 = 1; with noise, R^2 = 1 - SS_res / SS_tot by hand."""
    rng = np.random.default_rng(9)
    f = rng.normal(size=(200, 4))
    y = f @ rng.normal(size=(4, 2)) + 3.0
    assert metrics.ridge_r2(f[:150], y[:150], f[150:], y[150:], l2=0.0) == pytest.approx(1.0)
    noisy = y + rng.normal(size=y.shape)
    pred = np.linalg.lstsq(np.c_[f[:150], np.ones(150)], noisy[:150], rcond=None)[0]
    pred = np.c_[f[150:], np.ones(50)] @ pred
    ref = np.mean(
        1 - ((pred - noisy[150:]) ** 2).sum(0) / ((noisy[150:] - noisy[150:].mean(0)) ** 2).sum(0)
    )
    assert metrics.ridge_r2(f[:150], noisy[:150], f[150:], noisy[150:], 0.0) == pytest.approx(ref)
