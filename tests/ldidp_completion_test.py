"""Completion of LDIDP runs (ldx/ldidp/samplers.py `step_model`, ldx/smc.py, ldx/complete.py).

The reference is brute-force self-normalised importance sampling written here: many latent
trajectories from the generative model's own sampler (`sample`, eta = 1, a `lax.scan` over the
bins, not the filter's step model), weighted by the observed entries' likelihood computed with
scipy.stats. It estimates E[x_miss | x_obs] (through E[x | z], Rao-Blackwellised), the
posterior standard deviation of each missing entry and log p(x_obs).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import special, stats

from configs.ldidp_spiral import get_config as spiral_config
from ldx.complete import check_input, complete
from ldx.errors import DataError
from ldx.experiment import build_experiment
from ldx.ldidp.model import LDIDP, ModelConfig
from ldx.ldidp.samplers import SamplerConfig, sample, step_model
from ldx.smc import smc_complete
from ldx.train.run import Run, init_state

T, D = 5, 3


def tiny_model(observation: str, first_step: str) -> LDIDP:
    cfg = ModelConfig(
        features=D,
        latent_dim=2,
        width=4,
        observation=observation,
        obs_std=0.6,
        sigma=0.5,
        init_prior="mixture",
        init_components=3,
        first_step=first_step,
    )
    return LDIDP(cfg, rngs=nnx.Rngs(3))


def importance(model: LDIDP, x: np.ndarray, mask: np.ndarray, num: int):
    """(posterior mean [H] and sd [H] of the missing entries, log p(x_obs), ESS) by
    self-normalised importance sampling with `num` prior trajectories."""
    cfg = model.cfg
    sampler = SamplerConfig(eta=1.0, decode_noise=False)
    _, m = sample(model, sampler, jax.random.key(11), num, T)  # E[x | z] [num, T, D]
    m = np.asarray(m, np.float64)
    obs, miss = mask.astype(bool), ~mask.astype(bool)
    if cfg.observation == "gaussian":
        loglik, var = stats.norm.logpdf(x, m, cfg.obs_std), np.full_like(m, cfg.obs_std**2)
    elif cfg.observation == "bernoulli":
        loglik, var = stats.bernoulli.logpmf(x, m), m * (1 - m)
    else:
        loglik, var = stats.poisson.logpmf(x, m), m
    logw = loglik[:, obs].sum(-1)  # [num]
    w = np.exp(logw - logw.max())
    w /= w.sum()
    mean = w @ m[:, miss]  # [H]
    second = w @ (var[:, miss] + np.square(m[:, miss]))
    log_evidence = special.logsumexp(logw) - np.log(num)
    return mean, np.sqrt(second - mean**2), log_evidence, 1.0 / np.square(w).sum()


def _masks():
    forecast = np.ones((T, D), bool)
    forecast[3:] = False  # the last two bins
    impute = np.ones((T, D), bool)
    impute[:, 1] = False  # a missing feature
    impute[0, 0] = impute[2, 2] = impute[4, 0] = False
    return {"forecast": forecast, "impute": impute}


@pytest.mark.parametrize(
    "observation, first_step",
    [("gaussian", "initial"), ("poisson", "transition"), ("bernoulli", "initial")],
)
def test_filter_matches_brute_force_importance_sampling(observation, first_step):
    # Given a tiny random LDIDP model and a window drawn from it; when M independent filters
    # each draw one completion (forecasting, and imputation with a missing feature), then
    # the completions' mean of each missing entry and the evidence estimate match brute-force
    # importance sampling within Monte Carlo error, the observed entries are the input's bit
    # for bit, and count models complete with counts.
    model = tiny_model(observation, first_step)
    filters, particles = 1000, 64
    steps = step_model(model)

    @jax.jit
    def run(keys, x, mask):
        return jax.vmap(lambda k: smc_complete(steps, x, mask, k, particles, 1))(keys)

    x = np.asarray(sample(model, SamplerConfig(eta=1.0), jax.random.key(5), 1, T)[1][0])
    for which, mask in _masks().items():
        mean, sd, log_evidence, ess = importance(model, x, mask, 200_000)
        assert ess > 2000, (which, ess)
        out = run(jax.random.split(jax.random.key(1), filters), jnp.asarray(x), mask)
        samples = np.asarray(out.samples[:, 0])  # [M, T, D]
        assert (samples[:, mask] == x[mask]).all(), which  # bit for bit
        miss = samples[:, ~mask].astype(np.float64)  # [M, H]
        if observation != "gaussian":
            np.testing.assert_array_equal(miss, np.round(miss))
            assert miss.min() >= 0 and (observation == "poisson" or miss.max() <= 1)
        tol = 4.5 * sd * (1 / np.sqrt(filters) + 1 / np.sqrt(ess)) + 0.02 * sd
        np.testing.assert_array_less(np.abs(miss.mean(0) - mean), tol, err_msg=which)
        logz = np.asarray(out.log_evidence, np.float64)  # E[exp(logZ)] = p(x_obs)
        gap = special.logsumexp(logz) - np.log(filters) - log_evidence
        assert abs(gap) < 0.03 + 4 / np.sqrt(ess), (which, gap)


def test_completions_sharing_a_latent_path_get_their_own_observation_noise():
    # Given a Gaussian tiny model and a filter of 2 particles asked for 16 completions (so
    # they share at most 2 latent paths); then each missing entry takes 16 distinct values:
    # the missing entries are drawn anew for each completion, not copied from its ancestor.
    model = tiny_model("gaussian", "transition")
    x = np.asarray(sample(model, SamplerConfig(eta=1.0), jax.random.key(5), 1, T)[1][0])
    mask = _masks()["forecast"]
    out = smc_complete(step_model(model), jnp.asarray(x), mask, jax.random.key(2), 2, 16)
    assert int(out.num_ancestors) <= 2
    miss = np.asarray(out.samples)[:, ~mask]  # [K, H]
    assert all(len(np.unique(column)) == 16 for column in miss.T)


@pytest.fixture(scope="module")
def spiral_run() -> Run:
    """An untrained Run of the smoke spiral config (T = 50, D = 2; nothing on disk)."""
    exp = build_experiment(spiral_config("smoke"))
    model_fn, _, state = init_state(exp)
    return Run("unused", exp, model_fn, state)


def test_complete_keeps_observed_entries(spiral_run):
    # Given an (untrained) smoke spiral run, test windows in data units (float64, min-max
    # scaled for the model) and a mask that forecasts the last 10 bins and hides a feature of
    # one window; when ldx.complete fills them, then every observed entry is the input's bit
    # for bit and the rest are finite.
    run = spiral_run
    data = run.experiment.dataset
    x = data.scaler.inverse_transform(data.test[:3]).astype(np.float64)  # [3, 50, D]
    mask = np.ones(x.shape, bool)
    mask[:, 40:] = False
    mask[1, :, 0] = False
    out = complete(run, np.where(mask, x, np.nan), mask, jax.random.key(0), 4, 16)
    samples = out["samples"]
    assert samples.shape == (3, 4, *x.shape[1:]) and samples.dtype == np.float64
    seen = np.broadcast_to(mask[:, None], samples.shape)
    assert (samples[seen] == np.broadcast_to(x[:, None], samples.shape)[seen]).all()
    assert np.isfinite(samples).all() and np.isfinite(out["log_evidence"]).all()


@pytest.mark.parametrize(
    "case, message",
    [
        ("width", r"x has shape \(2, 50, 3\), expected \[N, 50, 2\]"),
        ("mask_shape", r"mask has shape \(2, 50, 1\), x has \(2, 50, 2\)"),
        ("all_missing", r"1 window\(s\) observe nothing \(first: window 1\)"),
        ("nan_observed", r"1 observed value\(s\) are NaN or infinite \(first: window 0, step 3"),
    ],
)
def test_bad_windows_of_an_ldidp_run_are_refused(spiral_run, case, message):
    # Given windows that do not fit a spiral run (T = 50, D = 2); then check_input names the
    # problem, as for LD/PSLD runs (a width of 3: windows of another data set).
    x, mask = np.zeros((2, 50, 2)), np.ones((2, 50, 2), bool)
    if case == "width":
        x, mask = np.zeros((2, 50, 3)), np.ones((2, 50, 3), bool)
    elif case == "mask_shape":
        mask = mask[..., :1]
    elif case == "all_missing":
        mask[1] = False
    else:
        x[0, 3, 1] = np.nan
    with pytest.raises(DataError, match=message):
        check_input(x, mask, spiral_run.experiment)
