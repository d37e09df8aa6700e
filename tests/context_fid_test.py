"""Context-FID: the Frechet distance, TS2Vec's encoder and loss, and the metric end to end."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.special
import scipy.stats
from flax import nnx

from ldx import metrics
from ldx.data import sines
from ldx.errors import DataError
from ldx.metrics import ts2vec
from ldx.metrics.context_fid import gaussian_fit
from ldx.metrics.learned import Repeated

# A small encoder: the tests check the computation, not TS2Vec's default widths.
SMALL = ts2vec.TS2VecConfig(hidden=8, depth=4, out_features=16)


def _random_spd(rng, c):
    a = rng.normal(size=(c, c))
    return a @ a.T / c + 0.1 * np.eye(c)


# --- frechet_distance ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "m1, s1, m2, s2", [(0.0, 1.0, 0.0, 1.0), (0.0, 1.0, 2.0, 3.0), (1.5, 0.2, -1.0, 0.7)]
)
def test_frechet_1d_is_w2_squared(m1, s1, m2, s2):
    # Given two 1-D Gaussians (std s); then d^2 = (m1 - m2)^2 + (s1 - s2)^2.
    d = metrics.frechet_distance([m1], [[s1**2]], [m2], [[s2**2]])
    assert d == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, abs=1e-12)


def test_frechet_commuting_covariances_closed_form():
    # Given covariances sharing eigenvectors Q (diagonal ones: Q = I); then
    # d^2 = ||mu1 - mu2||^2 + sum_k (sqrt(a_k) - sqrt(b_k))^2.
    rng = np.random.default_rng(0)
    c = 6
    mu1, mu2 = rng.normal(size=c), rng.normal(size=c)
    a, b = rng.uniform(0.0, 2.0, c), rng.uniform(0.0, 2.0, c)
    a[0] = 0.0  # a singular covariance
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    q, _ = np.linalg.qr(rng.normal(size=(c, c)))
    for basis in (np.eye(c), q):
        s1, s2 = basis @ np.diag(a) @ basis.T, basis @ np.diag(b) @ basis.T
        # sqrt of a round-off eigenvalue (~1e-16) of the singular direction costs ~1e-8.
        assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, abs=1e-7)


def test_frechet_matches_sqrtm_formula_symmetric_and_zero_on_identical():
    # Given non-commuting SPD covariances; then d^2 equals the standard FID formula with
    # scipy.linalg.sqrtm, is symmetric, and is 0 between a Gaussian and itself (also when the
    # covariance is singular, as with fewer samples than dimensions).
    rng = np.random.default_rng(1)
    c = 8
    mu1, mu2, s1, s2 = (
        rng.normal(size=c),
        rng.normal(size=c),
        _random_spd(rng, c),
        _random_spd(rng, c),
    )
    want = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    d12 = metrics.frechet_distance(mu1, s1, mu2, s2)
    assert d12 == pytest.approx(want, rel=1e-8)
    assert metrics.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(d12, rel=1e-10)
    e = rng.normal(size=(5, 40))  # 5 samples in 40 dimensions: rank-4 covariance
    mu, s = gaussian_fit(e)
    assert metrics.frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-8 * np.trace(s))
    with pytest.raises(DataError, match="expected"):
        metrics.frechet_distance(mu1, s1, mu2[:3], s2)


def test_t_interval_is_diffusion_ts_display_scores():
    r = Repeated((1.0, 2.0, 4.0, 3.0, 5.0))
    want = scipy.stats.sem(r.values) * scipy.stats.t.ppf(0.975, 4)
    assert metrics.t_interval(r) == pytest.approx(want, rel=1e-12)
    assert math.isnan(metrics.t_interval(Repeated((1.0,))))


# --- hierarchical contrastive loss against a brute-force reading of the reference ---------------


def _nll_rows(sim, positive):
    """Row i: -log softmax over the columns j != i, at column positive[i]."""
    k = len(sim)
    return [
        scipy.special.logsumexp([sim[i, j] for j in range(k) if j != i]) - sim[i, positive[i]]
        for i in range(k)
    ]


def _brute_force_loss(z1, z2, alpha):
    """z1, z2 [B, L, C] of exactly L steps; loops over scales, steps and windows."""
    total, scales = 0.0, 0
    while True:
        b, l = z1.shape[:2]
        inst = []
        for t in range(l):
            z = np.concatenate([z1[:, t], z2[:, t]])  # [2B, C]
            inst += _nll_rows(z @ z.T, [(i + b) % (2 * b) for i in range(2 * b)])
        temp = []
        for i in range(b):
            z = np.concatenate([z1[i], z2[i]])  # [2L, C]
            temp += _nll_rows(z @ z.T, [(s + l) % (2 * l) for s in range(2 * l)])
        total += alpha * (np.mean(inst) if b > 1 else 0.0)
        total += (1 - alpha) * (np.mean(temp) if l > 1 else 0.0)
        scales += 1
        if l == 1:
            return total / scales
        m = 2 * (l // 2)
        z1 = z1[:, :m].reshape(b, l // 2, 2, -1).max(2)
        z2 = z2[:, :m].reshape(b, l // 2, 2, -1).max(2)


@pytest.mark.parametrize("b, length, alpha", [(3, 7, 0.5), (3, 2, 0.5), (2, 5, 0.3), (1, 6, 0.5)])
def test_loss_matches_brute_force_on_a_crop(b, length, alpha):
    # Given two views of L valid steps held in length-9 buffers whose tail is garbage; then the
    # masked loss equals the brute-force loss on the L steps alone.
    rng = np.random.default_rng(2)
    z1, z2 = rng.normal(size=(2, b, 9, 4))
    want = _brute_force_loss(z1[:, :length], z2[:, :length], alpha)
    got = ts2vec.hierarchical_contrastive_loss(
        jnp.asarray(z1, jnp.float32), jnp.asarray(z2, jnp.float32), length, alpha
    )
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_crops_hold_the_same_steps_on_the_overlap():
    # Given windows whose value is (window, time index); then for random crops the two views,
    # view 1 shifted by `start`, hold the same original steps on the overlap of length l, each
    # view lies inside its window and within its valid length, and 2 <= l <= T.
    b, t = 5, 11
    batch = jnp.stack(
        jnp.broadcast_arrays(jnp.arange(b)[:, None], jnp.arange(t)[None, :]), axis=-1
    ).astype(jnp.float32)  # [B, T, 2]
    for seed in range(20):
        views, lengths, start, crop = ts2vec._crops(batch, jax.random.key(seed))
        v1, v2 = np.asarray(views[:b]), np.asarray(views[b:])
        start, crop, l1, l2 = int(start), int(crop), int(lengths[0]), int(lengths[b])
        assert 2 <= crop <= t and start + crop == l1 and crop <= l2
        np.testing.assert_array_equal(v1[:, start : start + crop], v2[:, :crop])
        assert (v1[:, :l1, 0] == np.arange(b)[:, None]).all()  # row i comes from window i
        for v, n in ((v1, l1), (v2, l2)):  # consecutive steps of the window, no clipping
            np.testing.assert_array_equal(np.diff(v[:, :n, 1], axis=1), 1.0)


# --- encoder ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dilation", [1, 2, 5, 8])
def test_dilated_conv_is_torch_conv1d_same_padding(dilation):
    # Given PyTorch's Conv1d(kernel 3, dilation d, padding d) written with lax.conv; then the
    # stacked-tap matmul agrees, with d static and traced (d = 8 >= T reads only padding).
    rng = np.random.default_rng(3)
    h = jnp.asarray(rng.normal(size=(2, 6, 3)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(9, 4)), jnp.float32)  # rows: taps t-d, t, t+d
    bias = jnp.asarray(rng.normal(size=4), jnp.float32)
    want = (
        jax.lax.conv_general_dilated(
            h,
            kernel.reshape(3, 3, 4),
            (1,),
            [(dilation, dilation)],
            rhs_dilation=(dilation,),
            dimension_numbers=("NWC", "WIO", "NWC"),
        )
        + bias
    )
    np.testing.assert_allclose(ts2vec.dilated_conv(h, kernel, bias, dilation), want, atol=1e-5)
    traced = jax.jit(lambda d: ts2vec.dilated_conv(h, kernel, bias, d))(jnp.int32(dilation))
    np.testing.assert_allclose(traced, want, atol=1e-5)


def test_encoder_shapes_crops_and_masks():
    enc = ts2vec.new_encoder(3, SMALL, jax.random.key(0))
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(4, 12, 3)), jnp.float32)
    r = enc(x)
    assert r.shape == (4, 12, SMALL.out_features)
    # A crop of L steps at the start of the buffer: the output on it is that of the crop alone,
    # whatever the buffer holds past L.
    length = 5
    garbage = x.at[:, length:].set(100.0)
    np.testing.assert_allclose(
        enc(garbage, length=length)[:, :length], enc(x[:, :length]), atol=1e-4
    )
    # Masked steps: the output does not depend on the inputs there.
    keep = jnp.asarray(rng.random((4, 12)) < 0.5)
    changed = jnp.where(keep[..., None], x, -7.0)
    np.testing.assert_allclose(enc(x, keep), enc(changed, keep), atol=1e-5)
    assert not np.allclose(enc(x), enc(changed), atol=1e-3)


def test_embedding_depends_only_on_its_own_window():
    # Given a trained encoder (a few steps); then each window's embedding is the same whatever
    # windows it is embedded with or in which order, and whatever the chunk size.
    x = jnp.asarray(sines(37, 12, 3, seed=0))
    params = ts2vec.fit(x, jax.random.key(1), jnp.int32(3), SMALL)
    e = ts2vec.encode(params, x, SMALL, chunk=8)
    assert e.shape == (37, SMALL.out_features)
    perm = np.random.default_rng(5).permutation(37)
    np.testing.assert_allclose(ts2vec.encode(params, x[perm], SMALL, chunk=37), e[perm], atol=1e-5)


def test_train_averages_iterates():
    # Zero steps leave the initial encoder; training moves it and its embedding.
    x = jnp.asarray(sines(37, 12, 3, seed=0))
    key = jax.random.key(2)
    init = nnx.split(ts2vec.new_encoder(3, SMALL, jax.random.split(key)[0]))[1]
    same = ts2vec.fit(x, key, jnp.int32(0), SMALL)
    for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(same)):
        np.testing.assert_array_equal(a, b)
    moved = ts2vec.fit(x, key, jnp.int32(3), SMALL)
    assert not np.allclose(ts2vec.encode(moved, x, SMALL), ts2vec.encode(same, x, SMALL))


# --- context_fid ----------------------------------------------------------------------------------


def test_context_fid_floor_and_perturbations():
    # Given sines and an encoder trained on them (same key: same encoders for every call); then
    # real vs itself is ~0, and a shifted or noised copy is clearly farther than a fresh sample
    # of the same generator.
    n, t, d = 256, 16, 2
    real, fresh = sines(n, t, d, seed=0), sines(n, t, d, seed=1)
    noise = np.random.default_rng(6).normal(0.0, 0.1, real.shape)
    kw = dict(repeats=2, iterations=20, hidden=16, depth=4, out_features=32)
    key = jax.random.key(3)
    fid = lambda fake: metrics.context_fid(real, fake, key, **kw)
    same, floor = fid(real), fid(fresh)
    shifted, noised = fid(real + 0.2), fid(real + noise)
    assert len(same.values) == 2 and max(same.values) < 1e-6 * max(floor.values)
    assert min(shifted.values) > 5 * max(floor.values)
    assert min(noised.values) > 5 * max(floor.values)


def test_context_fid_rejects_bad_input():
    x = sines(8, 4, 2, seed=0)
    key = jax.random.key(0)
    with pytest.raises(DataError, match="T=1"):
        metrics.context_fid(x[:, :1], x[:, :1], key)
    with pytest.raises(DataError, match="shape"):
        metrics.context_fid(x, x[:, :3], key)
    with pytest.raises(DataError, match="iterations=0"):
        metrics.context_fid(x, x, key, iterations=0)
    with pytest.raises(DataError, match="NaN"):
        metrics.context_fid(x, np.full_like(x, np.nan), key)
