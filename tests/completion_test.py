"""SMC completion (ldx/smc.py) against a model whose conditional is known in closed form.

The model: z ~ N(0, I_Z), x_t = a x_{t-1} + B z + c_t + S (e_t + U f_t), x_0 = 0, e_t, f_t
standard normal, S diagonal, U [D, r] (r = 0: a diagonal head). X is then a linear function of
Gaussian noise, so p(X_miss | X_obs) and p(X_obs) are the Gaussian conditional and marginal.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from configs.default import get_config
from ldx.complete import check_input, read_input
from ldx.errors import DataError
from ldx.experiment import build_experiment
from ldx.metrics.completion import completion_scores, crps, last_value, linear_interpolation
from ldx.smc import StepModel, gaussian_observe, smc_complete, systematic_resample

T, D, Z = 4, 3, 2
A = 0.7
RNG = np.random.default_rng(0)
B = RNG.normal(size=(D, Z))
C = RNG.normal(size=(T, D)) * 0.3
S = np.array([0.5, 0.8, 0.6])
U1 = np.array([[0.9], [-0.6], [0.4]])


def linear_model(u: np.ndarray) -> StepModel:
    def init(key, num):
        return jnp.zeros((num,), jnp.int32), jax.random.normal(key, (num, Z))

    def step(state, x_prev, key):
        t, z = state
        mean = A * x_prev + z @ jnp.asarray(B.T, jnp.float32) + jnp.asarray(C, jnp.float32)[t]
        logvar = jnp.broadcast_to(jnp.asarray(2 * np.log(S), jnp.float32), mean.shape)
        head = (mean, logvar)
        if u.shape[1]:
            head += (jnp.broadcast_to(jnp.asarray(u, jnp.float32), mean.shape + u.shape[1:]),)
        return (t + 1, z), head

    return StepModel(init, step, gaussian_observe)


def joint(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [T*D] and covariance [T*D, T*D] of the flattened X, by unrolling the recursion."""
    r = u.shape[1]
    noise = Z + T * (D + r)  # X = m + G w, w = (z, e_1, f_1, ..., e_T, f_T) ~ N(0, I)
    m, g = np.zeros((T, D)), np.zeros((T, D, noise))
    prev_m, prev_g = np.zeros(D), np.zeros((D, noise))
    for t in range(T):
        g_t = A * prev_g
        g_t[:, :Z] += B
        lo = Z + t * (D + r)
        g_t[:, lo : lo + D] += np.diag(S)
        g_t[:, lo + D : lo + D + r] += S[:, None] * u
        m[t], g[t] = A * prev_m + C[t], g_t
        prev_m, prev_g = m[t], g_t
    g = g.reshape(T * D, noise)
    return m.reshape(-1), g @ g.T


def conditional(u, x, mask):
    """Gaussian conditional mean and covariance of the unobserved entries, and log p(x_obs)."""
    m, cov = joint(u)
    o, h = mask.reshape(-1), ~mask.reshape(-1)
    gain = cov[np.ix_(h, o)] @ np.linalg.inv(cov[np.ix_(o, o)])
    resid = x.reshape(-1)[o] - m[o]
    mean = m[h] + gain @ resid
    cond = cov[np.ix_(h, h)] - gain @ cov[np.ix_(o, h)]
    _, logdet = np.linalg.slogdet(cov[np.ix_(o, o)])
    quad = resid @ np.linalg.solve(cov[np.ix_(o, o)], resid)
    return mean, cond, -0.5 * (o.sum() * np.log(2 * np.pi) + logdet + quad)


def _masks():
    forecast = np.zeros((T, D), bool)
    forecast[:2] = True  # observe the first two steps, forecast the last two
    impute = np.ones((T, D), bool)
    impute[:, 1] = False  # a missing feature
    impute[0, 0] = impute[2, 2] = impute[3, 0] = False
    return {"forecast": forecast, "impute": impute}


@pytest.mark.parametrize("rank", [0, 1])
def test_completions_match_the_gaussian_conditional(rank):
    # Given the linear-Gaussian model (diagonal or rank-1 head), a window drawn from it and a
    # forecasting or imputation mask (with a missing feature); when M independent filters
    # each draw one completion, then the completions' mean and covariance on the missing
    # entries, and the log-evidence, match the closed form within Monte Carlo error, and the
    # observed entries are the input's bit for bit.
    u = U1 if rank else np.zeros((D, 0))
    filters, particles = 2000, 128
    model = linear_model(u)

    @jax.jit
    def run(keys, x, mask):
        return jax.vmap(lambda k: smc_complete(model, x, mask, k, particles, 1))(keys)

    m, cov = joint(u)
    for which, mask in _masks().items():
        x = (m + np.linalg.cholesky(cov) @ RNG.normal(size=T * D)).reshape(T, D)
        x = x.astype(np.float32)
        mean, cond, logp = conditional(u, x.astype(np.float64), mask)
        x_in = np.where(mask, x, 0.0).astype(np.float32)
        out = run(jax.random.split(jax.random.key(1), filters), x_in, mask)
        samples = np.asarray(out.samples[:, 0])  # [M, T, D]
        assert (samples[:, mask] == x[mask]).all(), which  # bit for bit
        miss = samples[:, ~mask].astype(np.float64)  # [M, H]
        sd = np.sqrt(np.diag(cond))
        tol_mean = 4.5 * sd / np.sqrt(filters) + 0.02 * sd  # MC error, and O(1/P) bias
        np.testing.assert_array_less(np.abs(miss.mean(0) - mean), tol_mean, err_msg=which)
        emp = np.cov(miss, rowvar=False)
        se = np.sqrt((np.outer(sd**2, sd**2) + cond**2) / filters)
        tol_cov = 4.5 * se + 0.03 * np.outer(sd, sd)
        np.testing.assert_array_less(np.abs(emp - cond), tol_cov, err_msg=which)
        # E[exp(logZ)] = p(x_obs): the evidence estimate is unbiased.
        logz = np.asarray(out.log_evidence, np.float64)
        assert abs(np.log(np.mean(np.exp(logz - logp)))) < 0.05, which
        assert 1 <= float(out.min_ess.min()) <= particles


def test_systematic_resampling_counts_are_floor_or_ceil():
    # Given weights w; then each index is drawn floor(P w_i) or ceil(P w_i) times.
    w = np.array([0.05, 0.3, 0.001, 0.449, 0.2])
    num = 37
    draw = jax.jit(jax.vmap(lambda k: systematic_resample(k, jnp.log(jnp.asarray(w)), num)))
    for idx in np.asarray(draw(jax.random.split(jax.random.key(0), 20))):
        counts = np.bincount(idx, minlength=len(w))
        assert counts.sum() == num
        assert ((counts >= np.floor(num * w)) & (counts <= np.ceil(num * w))).all(), counts


def test_crps_matches_brute_force_and_the_gaussian_closed_form():
    # Given an ensemble; then the sorted form equals the K^2-pair sum, and for draws from
    # N(mu, s^2) it approaches s [w (2 Phi(w) - 1) + 2 phi(w) - 1/sqrt(pi)], w = (y - mu) / s.
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=5)
    brute = np.abs(x - y).mean(0) - 0.5 * np.abs(x[:, None] - x[None]).mean((0, 1))
    np.testing.assert_allclose(crps(x, y), brute, rtol=1e-12)
    mu, s, k = 0.3, 2.0, 40000
    ys = np.array([-3.0, 0.3, 1.0, 6.0])
    w = (ys - mu) / s
    exact = s * (w * (2 * stats.norm.cdf(w) - 1) + 2 * stats.norm.pdf(w) - 1 / np.sqrt(np.pi))
    got = crps(mu + s * rng.normal(size=(k, 1)) * np.ones(4), ys)
    np.testing.assert_allclose(got, exact, atol=5 * s / np.sqrt(k))
    assert crps(np.array([[2.0]]), np.array([0.5]))[0] == 1.5  # one member: |x - y|


def test_point_baselines_and_scores():
    # Given one window, two features: feature 0 observed at t = 1, 3; feature 1 never.
    x = np.array([[[9.0, 9.0], [1.0, 9.0], [9.0, 9.0], [3.0, 9.0], [9.0, 9.0]]])
    mask = np.zeros_like(x, bool)
    mask[0, [1, 3], 0] = True
    fallback = np.array([0.0, 0.5])
    np.testing.assert_array_equal(last_value(x, mask, fallback)[0, :, 0], [1, 1, 1, 3, 3])
    np.testing.assert_array_equal(linear_interpolation(x, mask, fallback)[0, :, 0], [1, 1, 2, 3, 3])
    assert (last_value(x, mask, fallback)[0, :, 1] == 0.5).all()
    # A one-member ensemble: CRPS = MAE; MSE of the mean over the 8 unobserved entries.
    truth = np.zeros_like(x)
    scores = completion_scores(x[:, None], truth, mask)
    assert scores["crps"] == scores["mae"] == 9.0 and scores["mse"] == 81.0


@pytest.fixture(scope="module")
def smoke_experiment():
    return build_experiment(get_config("smoke"))  # sines, T = 24, D = 5; nothing trained


@pytest.mark.parametrize(
    "case, message",
    [
        ("width", r"x has shape \(2, 24, 3\), expected \[N, 24, 5\]"),
        ("length", r"x has shape \(2, 12, 5\), expected \[N, 24, 5\]"),
        ("mask_shape", r"mask has shape \(2, 24, 4\), x has \(2, 24, 5\)"),
        ("all_missing", r"1 window\(s\) observe nothing \(first: window 1\)"),
        ("nan_observed", r"1 observed value\(s\) are NaN or infinite \(first: window 0, step 3"),
    ],
)
def test_bad_windows_are_refused(smoke_experiment, case, message):
    # Given windows that do not fit the run; then check_input names the problem.
    x, mask = np.zeros((2, 24, 5)), np.ones((2, 24, 5), bool)
    if case == "width":
        x, mask = x[..., :3], mask[..., :3]
    elif case == "length":
        x, mask = x[:, :12], mask[:, :12]
    elif case == "mask_shape":
        mask = mask[..., :4]
    elif case == "all_missing":
        mask[1] = False
    else:
        x[0, 3, 1] = np.inf
    with pytest.raises(DataError, match=message):
        check_input(x, mask, smoke_experiment)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a zip", r"cannot read --input=.* as an .npz file"),
        ({"y": np.zeros((1, 2, 1))}, r"holds \['y'\], expected an array `x`"),
        ({"x": np.zeros((1, 2, 1)), "mask": np.ones((1, 2, 2))}, r"mask has shape"),
        ({"x": np.zeros((1, 2, 1)), "mask": np.full((1, 2, 1), 2)}, r"only 0 and 1"),
        ({"x": np.array([["a"]])}, r"expected numbers"),
    ],
)
def test_unreadable_inputs_are_refused(tmp_path, content, message):
    path = tmp_path / "in.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.savez(path, **content)
    with pytest.raises(DataError, match=message):
        read_input(str(path))
    with pytest.raises(DataError, match=r"is not a file"):
        read_input(str(tmp_path / "missing.npz"))
