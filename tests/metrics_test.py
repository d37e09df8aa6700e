"""ldx.metrics against closed forms and direct computations; ldx.eval.embedding's PCA and t-SNE."""

import itertools
import math

import jax
import numpy as np
import pytest
import scipy.stats

from ldx import metrics
from ldx.data import sines
from ldx.errors import DataError
from ldx.eval.embedding import _conditional_p, pca, tsne


def _gaussian_quantiles(mean, std, n):
    """n points whose empirical quantiles are those of N(mean, std^2), as [n, 1, 1] windows."""
    u = (np.arange(n) + 0.5) / n
    return (mean + std * scipy.stats.norm.ppf(u)).reshape(n, 1, 1)


@pytest.mark.parametrize("m1, s1, m2, s2", [(0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 0.5, 2.0)])
def test_wasserstein_matches_1d_gaussian_closed_forms(m1, s1, m2, s2):
    # Given quantile-matched samples of two 1-D Gaussians (rows shuffled); then exact OT gives
    # W2 = sqrt((m1 - m2)^2 + (s1 - s2)^2) and W1 = E|a + b Z| (a folded normal's mean).
    rng = np.random.default_rng(0)
    x = rng.permutation(_gaussian_quantiles(m1, s1, 600))
    y = rng.permutation(_gaussian_quantiles(m2, s2, 600))
    a, b = m1 - m2, abs(s1 - s2)
    w1 = (
        abs(a)
        if b == 0
        else (
            b * math.sqrt(2 / math.pi) * math.exp(-(a**2) / (2 * b**2))
            + a * (1 - 2 * scipy.stats.norm.cdf(-a / b))
        )
    )
    assert metrics.wasserstein(x, y, p=1) == pytest.approx(w1, rel=1e-2)
    assert metrics.wasserstein(x, y, p=2) == pytest.approx(math.hypot(a, b), rel=1e-2)


def test_wasserstein_identical_sets_and_shift():
    # Given random windows [N, T, D]; then a shuffled copy is at distance 0, and adding c to
    # every coordinate moves the set by exactly c * sqrt(T * D) for p = 1 and p = 2.
    rng = np.random.default_rng(1)
    x = rng.random((50, 4, 3))
    assert metrics.wasserstein(x, rng.permutation(x)) == pytest.approx(0.0, abs=1e-6)
    for p in (1, 2):
        assert metrics.wasserstein(x, x + 0.3, p=p) == pytest.approx(0.3 * math.sqrt(12), rel=1e-6)


def test_wasserstein_1d_equals_sorted_matching_and_sliced_matches_scipy():
    # Given random 1-D samples; then the exact OT equals the sorted matching, and the sliced
    # estimate (exact in 1-D: directions are +-1) equals scipy's W1, also for unequal sizes.
    rng = np.random.default_rng(2)
    x, y, z = rng.normal(size=200), rng.gamma(2.0, size=200), rng.normal(1.0, 2.0, size=77)
    w = lambda a: a.reshape(-1, 1, 1)
    assert metrics.wasserstein(w(x), w(y)) == pytest.approx(np.abs(np.sort(x) - np.sort(y)).mean())
    for a, b in ((x, y), (x, z)):
        expected = scipy.stats.wasserstein_distance(a, b)
        assert metrics.sliced_wasserstein(w(a), w(b), num_projections=4) == pytest.approx(expected)


def _mmd_direct(x, y, sigmas):
    """Unbiased MMD^2 with double loops (Gretton et al. 2012, eq. 3)."""
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    k = lambda a, b: sum(math.exp(-float(np.sum((a - b) ** 2)) / (2 * s * s)) for s in sigmas)
    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_mmd_matches_a_direct_computation():
    # Given two small sets of unequal size; then MMD_u^2 with a median, a fixed and a
    # multi-scale bandwidth equals the double-loop formula.
    rng = np.random.default_rng(3)
    x, y = rng.random((12, 3, 2)), rng.random((9, 3, 2)) + 0.2
    pooled = np.concatenate([x, y]).reshape(21, -1)
    dists = [np.linalg.norm(a - b) for a, b in itertools.combinations(pooled, 2)]
    sigma = float(np.median(dists))
    assert metrics.median_bandwidth(x, y) == pytest.approx(sigma)
    assert metrics.mmd(x, y) == pytest.approx(_mmd_direct(x, y, [sigma]), rel=1e-9)
    assert metrics.mmd(x, y, 0.7) == pytest.approx(_mmd_direct(x, y, [0.7]), rel=1e-9)
    assert metrics.mmd(x, y, (0.3, 2.0)) == pytest.approx(_mmd_direct(x, y, [0.3, 2.0]), rel=1e-9)


def test_correlational_score_against_corrcoef():
    # Given windows whose second feature is negated in the fake set; then only the pair (1, 0)
    # changes, by twice its correlation: score = 2 |C_10| / 10 with C = corrcoef * (n-1) / n
    # (features standardised with ddof=1, products averaged over n = N * T entries).
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 6, 2))
    x[..., 1] += 0.8 * x[..., 0]
    fake = x * np.array([1.0, -1.0])
    n = 40 * 6
    c10 = np.corrcoef(x.reshape(n, 2).T)[1, 0] * (n - 1) / n
    assert metrics.correlational_score(x, fake) == pytest.approx(2 * abs(c10) / 10)
    assert metrics.correlational_score(x, x) == pytest.approx(0.0, abs=1e-12)


def test_outside_share_and_step_ratio_by_hand():
    # Given 2 windows of 3 steps, 2 features (12 values), three of them beyond [-0.1, 1.1]
    # (-0.2, 1.2, 5.0; -0.1 and 1.1 themselves are inside); then the share is 3 / 12.
    x = np.array([[[0.0, -0.2], [1.2, 0.5], [-0.1, 1.1]], [[0.3, 0.3], [0.3, 5.0], [0.9, 1.0]]])
    assert metrics.outside_share(x) == pytest.approx(3 / 12)
    assert metrics.outside_share(x, tol=0.0) == pytest.approx(5 / 12)  # -0.1 and 1.1 too
    # Given a real set of steps of size 0.1 and a fake one moving 0.3 every step; then the step
    # ratio is 3, and a set against itself is 1.
    real = np.cumsum(np.full((4, 5, 2), 0.1), axis=1)
    fake = np.cumsum(np.where(np.arange(5)[None, :, None] % 2, 0.3, -0.3) * np.ones((4, 5, 2)), 1)
    assert metrics.step_ratio(real, fake) == pytest.approx(3.0)
    assert metrics.step_ratio(fake, fake) == pytest.approx(1.0)
    # Given constant real windows; then a constant fake set is as rough (1), a moving one inf.
    flat = np.full((4, 5, 2), 0.5)
    assert metrics.step_ratio(flat, flat) == 1.0 and metrics.step_ratio(flat, fake) == np.inf


def brute_force_ks(a: np.ndarray, b: np.ndarray) -> float:
    """max over every pooled value v of |F_a(v) - F_b(v)|, the ECDFs by direct comparison."""
    v = np.concatenate([a, b])[:, None]
    return float(np.abs((a[None] <= v).mean(1) - (b[None] <= v).mean(1)).max())


def test_tells_find_the_changed_statistic_and_score_half_its_ks_distance():
    # Given real windows of three independent random walks and fake ones whose feature 1 takes
    # steps twice as large; then the top tells are feature 1's step sizes, each scored half the
    # KS distance of its statistic, and a set against itself has no tell.
    rng = np.random.default_rng(0)
    real = np.cumsum(rng.normal(0, 0.01, size=(500, 24, 3)), axis=1)
    fake = np.cumsum(rng.normal(0, 0.01, size=(500, 24, 3)) * [1.0, 2.0, 1.0], axis=1)
    top = metrics.tells(real, fake, top=2)
    assert {t["statistic"] for t in top} == {"mean_abs_step", "mean_abs_curvature"}
    assert all(t["feature"] == 1 for t in top)
    steps = [np.abs(np.diff(x[:, :, 1], axis=1)).mean(axis=1) for x in (real, fake)]
    want = brute_force_ks(*steps) / 2
    assert [t["score"] for t in top if t["statistic"] == "mean_abs_step"] == [round(want, 4)]
    assert max(t["score"] for t in metrics.tells(real, real)) == 0.0
    # Pair correlations are labelled by their features: 3 features have 3 pairs.
    rows = metrics.tells(real, fake, top=1000)
    pairs = {t["feature"] for t in rows if t["statistic"] == "pair_correlation"}
    assert pairs == {"0-1", "0-2", "1-2"}


def test_bad_inputs_are_named():
    # Given mismatched, non-finite or unequal-size sets; then DataError names the problem.
    x = np.zeros((5, 4, 2))
    with pytest.raises(DataError, match="shape"):
        metrics.mmd(x, np.zeros((5, 4, 3)))
    with pytest.raises(DataError, match="NaN"):
        metrics.wasserstein(x, np.full((5, 4, 2), np.nan))
    with pytest.raises(DataError, match="equal sizes"):
        metrics.wasserstein(x, np.zeros((6, 4, 2)))
    with pytest.raises(DataError, match="rank-3"):
        metrics.correlational_score(np.zeros((5, 4)), np.zeros((5, 4)))


# Learned metrics: every call below has the same shapes, so they share one compiled program
# per metric.
N, ITERS = 300, 500


@pytest.fixture(scope="module")
def sine_sets():
    """Two independent Sines sets and uniform noise, [N, 24, 5] each."""
    rng = np.random.default_rng(5)
    return sines(N, 24, 5, seed=10), sines(N, 24, 5, seed=11), rng.random((N, 24, 5))


def test_discriminative_score_real_vs_real_and_vs_noise(sine_sets):
    # Given two sets of real Sines and a set of noise; then a GRU cannot tell real from
    # real (score near 0) and always tells real from noise (score near 0.5).
    a, b, noise = sine_sets
    key = jax.random.key(0)
    same = metrics.discriminative_score(a, b, key, iterations=ITERS, repeats=3)
    apart = metrics.discriminative_score(a, noise, key, iterations=ITERS, repeats=3)
    assert len(same.values) == 3 and same.mean < 0.1, same
    assert apart.mean > 0.45, apart
    assert same.std == pytest.approx(np.std(same.values, ddof=1))


def test_predictive_score_of_real_data_is_below_noise(sine_sets):
    # Given a GRU trained on real Sines and one trained on noise; then the one trained on real
    # data predicts held-out real data better (TimeGAN reports ~0.09 for Sines after 5000 steps).
    a, b, noise = sine_sets
    key = jax.random.key(1)
    real = metrics.predictive_score(b, a, key, iterations=ITERS, repeats=3)
    fake = metrics.predictive_score(b, noise, key, iterations=ITERS, repeats=3)
    assert real.mean < 0.15 and fake.mean > real.mean + 0.05, (real, fake)


def test_pca_matches_the_covariance_eigenvectors():
    # Given correlated 3-D points; then the first PCA coordinate is (up to sign) the projection
    # on the top eigenvector of the covariance, and the variance it keeps is its eigenvalue.
    rng = np.random.default_rng(6)
    x = rng.normal(size=(200, 3)) @ np.array([[3.0, 0, 0], [1.0, 1.0, 0], [0, 0.5, 0.2]])
    vals, vecs = np.linalg.eigh(np.cov(x.T))
    (y,) = pca(x, dim=1)
    expected = (x - x.mean(0)) @ vecs[:, -1]
    np.testing.assert_allclose(np.abs(y[:, 0]), np.abs(expected), rtol=1e-8, atol=1e-8)
    assert np.var(y[:, 0], ddof=1) == pytest.approx(vals[-1])


def test_tsne_calibrates_perplexity_and_separates_clusters():
    # Given three well separated Gaussian clusters; then every row of the conditional
    # affinities has entropy log(perplexity), and each point's nearest neighbour in the
    # 2-D embedding comes from its own cluster.
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(c, 1.0, (60, 8)) for c in (0.0, 8.0, -8.0)])
    labels = np.repeat([0, 1, 2], 60)
    sq = ((x[:, None] - x[None]) ** 2).sum(-1)
    p = _conditional_p(sq, 20.0)
    entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)
    np.testing.assert_allclose(entropy, np.log(20.0), atol=1e-6)
    y = tsne(x, perplexity=20.0, num_iters=250)
    d = ((y[:, None] - y[None]) ** 2).sum(-1) + np.diag(np.full(len(y), np.inf))
    assert (labels[d.argmin(1)] == labels).all()
