"""The per-bin latent error and the model-free references of benchmarks/ldidp_edges.py."""

import numpy as np
import scipy.special
import scipy.stats

from ldx.data import synthetic
from ldx.ldidp import metrics


def test_spiral_posterior_mean_is_the_explicit_bayes_sum():
    # Given noisy windows of the generator, when the posterior mean is written out candidate by
    # candidate with scipy's normal log-density, then it matches the vectorised one.
    t, stride, total = 6, 2, 60
    obs, _ = synthetic.spirals(3, t, seed=1, noise_std=0.3, stride=stride, num_total=total)
    cw, ccw = synthetic.spiral_references(total)
    cands = [
        ref[j : j + stride * t : stride] for ref in (cw, ccw) for j in range(total - 2 * stride * t)
    ]
    for n in range(3):
        logw = np.array([scipy.stats.norm.logpdf(obs[n], c, 0.3).sum() for c in cands])
        w = np.exp(logw - scipy.special.logsumexp(logw))
        expected = np.einsum("c,ctg->tg", w, np.array(cands))
        got = synthetic.spiral_posterior_mean(obs[n : n + 1], stride=stride, num_total=total)
        np.testing.assert_allclose(got[0], expected, rtol=1e-6, atol=1e-9)


def test_spiral_posterior_mean_recovers_the_window_at_low_noise():
    obs, latents = synthetic.spirals(20, 50, seed=0, noise_std=0.01)
    est = synthetic.spiral_posterior_mean(obs, noise_std=0.01)
    np.testing.assert_allclose(est, latents, atol=1e-4)
    # and at the data's noise it beats the raw observations by far
    obs, latents = synthetic.spirals(50, 50, seed=0)
    est = synthetic.spiral_posterior_mean(obs)
    assert ((est - latents) ** 2).mean() < 0.1 * ((obs - latents) ** 2).mean()


def test_per_bin_mse_is_the_alignment_error_split_by_bin():
    # Given inferred latents that are an affine image of the truth, with noise only at bin 0 of
    # the eval windows, the error is zero at every other bin and its mean is the alignment MSE.
    rng = np.random.default_rng(0)
    y_fit, y_eval = rng.normal(size=(40, 7, 2)), rng.normal(size=(30, 7, 2))
    a, b = rng.normal(size=(2, 2)), rng.normal(size=2)  # invertible: the map is unique
    z_fit, z_eval = y_fit @ a + b, y_eval @ a + b
    z_eval[:, 0] += 0.5 * rng.normal(size=(30, 2))
    err = metrics.per_bin_mse(z_fit, y_fit, z_eval, y_eval)
    assert err.shape == (7,)
    np.testing.assert_allclose(err[1:], 0.0, atol=1e-20)
    w = np.linalg.inv(a)
    np.testing.assert_allclose(err[0], (((z_eval[:, 0] - b) @ w - y_eval[:, 0]) ** 2).mean())
    mse = metrics.affine_alignment(z_fit, y_fit, z_eval, y_eval)["mse"]
    np.testing.assert_allclose(err.mean(), mse, rtol=1e-12)


def test_window_ridge_recovers_a_linear_function_of_the_window():
    rng = np.random.default_rng(1)
    x_fit, x_eval = rng.normal(size=(200, 5, 2)), rng.normal(size=(20, 5, 2))
    m, c = rng.normal(size=(10, 5 * 3)), rng.normal(size=5 * 3)

    def target(x):
        return (x.reshape(len(x), -1) @ m + c).reshape(len(x), 5, 3)

    pred = metrics.window_ridge(x_fit, target(x_fit), x_eval, l2=1e-10)
    np.testing.assert_allclose(pred, target(x_eval), atol=1e-6)
    # a large penalty shrinks every prediction to the fit set's mean target
    pred = metrics.window_ridge(x_fit, target(x_fit), x_eval, l2=1e8)
    np.testing.assert_allclose(pred, np.broadcast_to(target(x_fit).mean(0), pred.shape), atol=1e-4)


def test_map_path_climbs_the_log_joint():
    # Given a small model and its posterior-mean path, when Adam runs on -log p(x, z), then the
    # log joint rises and its gradient norm falls.
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from benchmarks.ldidp_edges import map_path
    from ldx.ldidp import objective
    from ldx.ldidp.model import LDIDP, ModelConfig

    cfg = ModelConfig(features=3, latent_dim=2, width=8, init_prior="mixture", first_step="initial")
    model = LDIDP(cfg, rngs=nnx.Rngs(0))
    x = np.random.default_rng(2).normal(size=(4, 6, 3)).astype(np.float32)
    z = np.asarray(objective.posterior_mean(model, jnp.asarray(x)))
    z_map, start, end = map_path(model, x, z, 300)
    assert end > start + 1.0

    def grad_norm(v):
        g = jax.grad(lambda u: objective.log_joint(model, jnp.asarray(x), u).sum())(jnp.asarray(v))
        return float(jnp.linalg.norm(g))

    assert grad_norm(z_map) < 0.8 * grad_norm(z)
