"""Tests of ldx.nn and the latent heads of ldx.ld.model against NumPy re-implementations.

Shape legend: B batch, T time, D features, Z latent, H width, N heads, K = H / N head size.
Every reference below is float64 NumPy written from the documented equations, reading the
weights out of the modules; nothing is computed by calling the code under test twice.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from flax import nnx

from ldx import nn
from ldx.errors import ConfigError
from ldx.ld import model as models
from ldx.nn import transformer

B, T, D, Z, H, HEADS = 3, 6, 2, 8, 8, 2
BACKBONES = ("gru", "lstm", "transformer")
TOL = dict(rtol=1e-5, atol=1e-5)


def _rngs(seed):
    # rbg keys: module init compiles ~2.5x faster than with threefry; values are irrelevant here.
    return nnx.Rngs(jax.random.key(seed, impl="rbg"))


def _np(a):
    return np.asarray(a, np.float64)


def _normal(seed, *shape):  # float32 inputs, so the modules see exactly what NumPy sees
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _dense(linear, x):
    """NumPy x W + b for an nnx.Linear."""
    return _np(x) @ _np(linear.kernel[...]) + _np(linear.bias[...])


def _sigmoid(a):
    return scipy.special.expit(a)


# ---------------------------------------------------------------------------------------------
# NumPy recurrent reference (equations of the GRUCell / LSTMCell docstrings).


def np_gru_step(cell, h, x):
    xr, xu, xn = np.split(_dense(cell.input_proj, x), 3, axis=-1)
    hr, hu, hn = np.split(_dense(cell.hidden_proj, h), 3, axis=-1)
    r, u = _sigmoid(xr + hr), _sigmoid(xu + hu)
    n = np.tanh(xn + r * hn)
    h = (1 - u) * n + u * h
    return h, h


def np_lstm_step(cell, carry, x):
    c, h = carry
    i, f, g, o = np.split(_dense(cell.input_proj, x) + _dense(cell.hidden_proj, h), 4, axis=-1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    h = _sigmoid(o) * np.tanh(c)
    return (c, h), h


NP_STEPS = {"gru": np_gru_step, "lstm": np_lstm_step}


def np_carry(kind, state, num_layers):
    """Flat state [B, L * S] -> per-layer carries; an LSTM layer is (c, tanh(h))."""
    parts = np.split(_np(state), num_layers, axis=-1)
    if kind == "gru":
        return parts
    return [(p[:, : p.shape[1] // 2], np.tanh(p[:, p.shape[1] // 2 :])) for p in parts]


def np_rnn(rnn, carries, x):
    """Layer-by-layer, step-by-step loop; returns (final carries, h [B, T, H])."""
    step, h, finals = NP_STEPS[rnn.kind], _np(x), []
    for cell, c in zip(rnn.cells, carries):
        outs = []
        for t in range(h.shape[1]):
            c, out = step(cell, c, h[:, t])
            outs.append(out)
        finals.append(c)
        h = np.stack(outs, axis=1)
    return finals, h


def _assert_trees_close(actual, expected):
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        np.testing.assert_allclose(_np(a), e, **TOL)


@pytest.fixture(
    scope="module",
    params=[("gru", 1), ("lstm", 1), ("gru", 2), ("lstm", 2)],
    ids=lambda p: f"{p[0]}-{p[1]}layer",
)
def rnn(request):
    kind, layers = request.param
    return nn.RNN(kind, D, H, layers, rngs=_rngs(1))


def _rnn_state(rnn):  # [B, L * S], a random flat initial state
    return _normal(2, B, len(rnn.cells) * rnn.state_size)


def test_rnn_step_matches_numpy(rnn):
    """Given a carry and input, when the stack takes one step, then carry and h equal NumPy."""
    state, x = _rnn_state(rnn), _normal(3, B, D)
    carry, h = rnn.step(rnn.initial_carry(state), x)
    np_finals, np_h = np_rnn(rnn, np_carry(rnn.kind, state, len(rnn.cells)), x[:, None])
    np.testing.assert_allclose(_np(h), np_h[:, 0], **TOL)
    _assert_trees_close(carry, np_finals)


def test_rnn_sequence_matches_numpy(rnn):
    """Given a carry and sequence, when the stack runs, then every h and final carry equal NumPy."""
    state, x = _rnn_state(rnn), _normal(4, B, T, D)
    finals, h = rnn(rnn.initial_carry(state), x)
    np_finals, np_h = np_rnn(rnn, np_carry(rnn.kind, state, len(rnn.cells)), x)
    np.testing.assert_allclose(_np(h), np_h, **TOL)
    _assert_trees_close(finals, np_finals)


def test_rnn_rejects_unknown_cell():
    """Given an unknown cell name, when building an RNN, then ValueError names it."""
    with pytest.raises(ValueError, match="'rnn'"):
        nn.RNN("rnn", D, H, rngs=nnx.Rngs(0))


# ---------------------------------------------------------------------------------------------
# Decoders: causality, teacher forcing == step-by-step decoding.


@pytest.fixture(
    scope="module",
    params=[(b, s) for b in BACKBONES for s in (False, True)],
    ids=lambda p: f"{p[0]}-skip{int(p[1])}",
)
def decoder(request):
    backbone, skip_z = request.param
    return nn.make_decoder(backbone, D, Z, H, 2, HEADS, skip_z, (-6.0, 1.0), rngs=_rngs(5))


# One compiled program per decoder instead of op-by-op dispatch (and a re-traced scan) per call.
_hidden = nnx.jit(lambda decoder, z, x: decoder.hidden(z, x))


def _changed(a, b):
    """Per example, whether a and b differ clearly (not by rounding): [B, ...] -> [B]."""
    return np.abs(_np(a) - _np(b)).reshape(len(a), -1).max(axis=1) > 1e-4


def test_decoder_hidden_is_causal(decoder):
    """Given z, x, when x[:, t:] changes, then h[:, :t+1] is bit-equal; x[:, t-1], z change h_t."""
    z, x = _normal(6, B, Z), _normal(7, B, T, D)
    h = np.asarray(_hidden(decoder, z, x))  # [B, T, H]
    for t in range(T):
        x_suffix = x.copy()
        x_suffix[:, t:] = _normal(8 + t, B, T - t, D)
        np.testing.assert_array_equal(
            np.asarray(_hidden(decoder, z, x_suffix))[:, : t + 1], h[:, : t + 1]
        )
        if t >= 1:
            x_prev = x.copy()
            x_prev[:, t - 1] += 1.0
            h_prev = np.asarray(_hidden(decoder, z, x_prev))
            np.testing.assert_array_equal(h_prev[:, :t], h[:, :t])
            assert _changed(h_prev[:, t], h[:, t]).all(), f"h[:, {t}] ignores x[:, {t - 1}]"
    h_z = np.asarray(_hidden(decoder, z + 1.0, x))
    assert all(_changed(h_z[:, t], h[:, t]).all() for t in range(T)), "some h_t ignores z"


def test_decode_sample_without_noise_is_teacher_forced_mean(decoder):
    """Given z, when decoding step by step with noise=False, then the teacher-forced mean is xs."""
    z = _normal(20, B, Z)
    xs = nn.decode_sample(decoder, jnp.asarray(z), jax.random.key(0), T, D, noise=False)
    mean, _ = decoder(z, xs)
    np.testing.assert_allclose(_np(mean), _np(xs), **TOL)


def test_decode_sample_with_noise_is_mean_plus_scaled_eps(decoder):
    """Given z and a key, when sampling, then xs = mean + exp(logvar / 2) eps for the key's eps."""
    z, key = _normal(21, B, Z), jax.random.key(3)
    xs = nn.decode_sample(decoder, jnp.asarray(z), key, T, D, noise=True)
    eps = np.swapaxes(np.asarray(jax.random.normal(key, (T, B, D))), 0, 1)  # [B, T, D]
    mean, logvar = decoder(z, xs)
    np.testing.assert_allclose(_np(xs), _np(mean) + np.exp(0.5 * _np(logvar)) * eps, **TOL)


def test_decode_sample_with_tie_feeds_the_tied_draws_back(decoder):
    """Given a tie that sets feature 1 to 2 x_0 + 0.5, when sampling, then every draw is tied, and
    each step read the tied values: xs = (mean + exp(logvar / 2) eps) P + c with the mean and
    log-variance teacher-forced on xs itself."""
    p, c = np.eye(D, dtype=np.float32), np.zeros(D, np.float32)
    p[:, 1], p[0, 1], c[1] = 0.0, 2.0, 0.5
    z, key = _normal(24, B, Z), jax.random.key(5)
    xs = nn.decode_sample(decoder, jnp.asarray(z), key, T, D, tie=(jnp.asarray(p), jnp.asarray(c)))
    np.testing.assert_allclose(_np(xs[..., 1]), 2 * _np(xs[..., 0]) + 0.5, **TOL)
    eps = np.swapaxes(np.asarray(jax.random.normal(key, (T, B, D))), 0, 1)  # [B, T, D]
    mean, logvar = decoder(z, xs)
    drawn = _np(mean) + np.exp(0.5 * _np(logvar)) * eps  # [B, T, D]
    np.testing.assert_allclose(_np(xs), drawn @ p + c, **TOL)
    untied = nn.decode_sample(decoder, jnp.asarray(z), key, T, D)
    assert not np.allclose(_np(untied[..., 0]), _np(xs[..., 0]), atol=1e-3)  # the tie fed back


def test_low_rank_decode_sample_is_mean_plus_coupled_eps():
    """Given a rank-2 head, when sampling, then x_t = mean + S (eps_1 + U eps_2) for the key's eps,
    and the head's draws have covariance S (I + U U^T) S."""
    decoder = nn.make_decoder("gru", D, Z, H, 1, HEADS, False, (-6.0, 1.0), 2, rngs=_rngs(6))
    z, key = _normal(23, B, Z), jax.random.key(4)
    xs = nn.decode_sample(decoder, jnp.asarray(z), key, T, D, noise=True)
    eps = np.swapaxes(np.asarray(jax.random.normal(key, (T, B, D + 2))), 0, 1)  # [B, T, D + r]
    mean, logvar, factor = (_np(a) for a in decoder(z, xs))
    coupled = eps[..., :D] + np.einsum("btdr,btr->btd", factor, eps[..., D:])
    np.testing.assert_allclose(_np(xs), mean + np.exp(0.5 * logvar) * coupled, **TOL)
    params = tuple(a[0, 0] for a in decoder(z, xs))  # one step's head output
    draws = np.asarray(decoder.head.sample(params, jax.random.normal(key, (200_000, D + 2))))
    s = np.diag(np.exp(0.5 * _np(params[1])))
    u = _np(params[2])
    np.testing.assert_allclose(np.cov(draws.T), s @ (np.eye(D) + u @ u.T) @ s, rtol=0.03, atol=1e-3)


def test_shift_right():
    """Given x, when shifting right, then the result is [0, x_0 .. x_{T-2}]."""
    x = _normal(22, B, T, D)
    expected = np.concatenate([np.zeros((B, 1, D)), x[:, :-1]], axis=1)
    np.testing.assert_array_equal(np.asarray(nn.shift_right(x)), expected)


# ---------------------------------------------------------------------------------------------
# Gaussian head.


@pytest.mark.parametrize("bounds", [(-8.0, 2.0), (-3.3, 0.7)])
def test_gaussian_head_matches_formula_and_bounds(bounds):
    """Given moderate to extreme h, when applying the head, then the formula holds within bounds."""
    lo, hi = bounds
    head = nn.GaussianHead(H, D, bounds, rngs=_rngs(0))
    h = _normal(30, 4, H) * np.array([[1.0], [10.0], [1e4], [-1e4]], np.float32)
    mean, logvar = head(h)
    out = _dense(head.proj, h)  # [4, 2D]
    np.testing.assert_allclose(_np(mean), out[:, :D], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(_np(logvar), lo + (hi - lo) * _sigmoid(out[:, D:]), **TOL)
    logvar, ulp = _np(logvar), 1e-6  # (-3.3, 0.7) are not float32-representable
    assert np.all((lo - ulp <= logvar) & (logvar <= hi + ulp)), logvar
    assert np.all((lo < logvar[:2]) & (logvar[:2] < hi)), "moderate inputs reach a bound"
    assert logvar[2:].min() == pytest.approx(lo, abs=1e-5)  # extremes saturate at the bounds
    assert logvar[2:].max() == pytest.approx(hi, abs=1e-5)


def test_gaussian_head_rejects_empty_bounds():
    """Given lo >= hi, when building the head, then ValueError."""
    with pytest.raises(ValueError, match="lo < hi"):
        nn.GaussianHead(H, D, (1.0, 1.0), rngs=nnx.Rngs(0))


# ---------------------------------------------------------------------------------------------
# Transformer pieces.


def test_sinusoidal_embedding_closed_form():
    """Given positions, when embedding, then [sin(p w_k), cos(p w_k)], w_k = 10000^(-k/half)."""
    positions = np.array([0, 1, 7, 100, 999])
    for dim in (8, 7):
        half = dim // 2
        w = 10_000.0 ** (-np.arange(half) / half)
        angles = positions[:, None] * w  # [P, half]
        expected = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
        if dim % 2:
            expected = np.pad(expected, ((0, 0), (0, 1)))
        np.testing.assert_allclose(
            _np(nn.sinusoidal_embedding(jnp.asarray(positions), dim)), expected, atol=2e-4
        )  # float32 angles up to ~1e3 rad


def np_attention(attn, x, causal):
    """Multi-head softmax(q k^T / sqrt(K)) v with the qkv columns laid out as [3, N, K]."""
    b, t, width = x.shape
    k_size = width // HEADS
    qkv = _dense(attn.qkv, x).reshape(b, t, 3, HEADS, k_size)
    q, k, v = (qkv[:, :, s].transpose(0, 2, 1, 3) for s in range(3))  # [B, N, T, K]
    logits = q @ k.transpose(0, 1, 3, 2) / math.sqrt(k_size)  # [B, N, T, T]
    if causal:
        logits = np.where(np.tril(np.ones((t, t), bool)), logits, -np.inf)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    out = (p / p.sum(-1, keepdims=True)) @ v  # [B, N, T, K]
    return _dense(attn.out, out.transpose(0, 2, 1, 3).reshape(b, t, width))


@pytest.fixture(scope="module")
def attention():
    return transformer.SelfAttention(H, HEADS, rngs=_rngs(0))


@pytest.mark.parametrize("causal", [True, False])
def test_self_attention_matches_numpy(attention, causal):
    """Given x, when attending (causal or not), then the output equals NumPy attention."""
    x = _normal(40, B, T, H)
    np.testing.assert_allclose(
        _np(attention(x, causal=causal)), np_attention(attention, x, causal), **TOL
    )


def test_self_attention_cached_steps_equal_causal_call(attention):
    """Given x, when stepping 0..T-1 through a KV cache, then each output equals the causal call."""
    x = _normal(41, B, T, H)
    full = np.asarray(attention(x, causal=True))
    zeros = jnp.zeros((B, T, HEADS, H // HEADS))
    cache = (zeros, zeros)
    for pos in range(T):
        y, cache = attention.step(x[:, pos : pos + 1], cache, jnp.asarray(pos, jnp.int32))
        np.testing.assert_allclose(_np(y[:, 0]), full[:, pos], **TOL)


def test_self_attention_rejects_indivisible_width():
    """Given a width not divisible by the heads, when building attention, then ValueError."""
    with pytest.raises(ValueError, match="divisible"):
        transformer.SelfAttention(10, 4, rngs=nnx.Rngs(0))


# ---------------------------------------------------------------------------------------------
# Encoders.


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_rnn_encoder_pooling_matches_numpy(kind):
    """Given x, when encoding with 2 RNN layers, then last / mean pool NumPy h[:, -1] / mean_t h."""
    x = _normal(50, B, T, D)
    for pooling, pool in (("last", lambda h: h[:, -1]), ("mean", lambda h: h.mean(axis=1))):
        enc = nn.RNNEncoder(kind, D, H, 2, pooling, rngs=_rngs(4))
        zero = np.zeros((B, 2 * enc.rnn.state_size))
        _, h = np_rnn(enc.rnn, np_carry(kind, zero, 2), x)
        np.testing.assert_allclose(_np(enc(x)), pool(h), **TOL)


def test_transformer_encoder_pooling_and_bidirectionality():
    """Given x, when encoding, then pooling reads the body output and token 0 sees the last one."""
    x = _normal(51, B, T, D)
    enc_mean = nn.TransformerEncoder(D, H, 1, HEADS, "mean", rngs=_rngs(4))
    enc_last = nn.TransformerEncoder(D, H, 1, HEADS, "last", rngs=_rngs(4))  # same weights
    body = np.asarray(enc_mean.body(enc_mean.embed(x), causal=False))  # [B, T, H]
    np.testing.assert_allclose(_np(enc_mean(x)), body.mean(axis=1), **TOL)
    np.testing.assert_allclose(_np(enc_last(x)), body[:, -1], **TOL)
    x2 = x.copy()
    x2[:, -1] += 1.0
    body2 = np.asarray(enc_mean.body(enc_mean.embed(x2), causal=False))
    assert _changed(body2[:, 0], body[:, 0]).all(), "the encoder is not bidirectional"


@pytest.mark.parametrize("backbone", BACKBONES)
def test_encoder_rejects_unknown_pooling(backbone):
    """Given pooling="max", when building an encoder, then ValueError names it."""
    with pytest.raises(ValueError, match="'max'"):
        nn.make_encoder(backbone, D, H, 1, HEADS, "max", rngs=nnx.Rngs(0))


# ---------------------------------------------------------------------------------------------
# U-net.


@pytest.fixture(scope="module")
def unet():
    return nn.UNet1D(Z, (8, 16), 8, rngs=_rngs(0))


_unet_apply = nnx.jit(lambda unet, z, i: unet(z, i))


def test_unet_is_zero_at_init_then_depends_on_step_and_latent(unet):
    """Given a fresh U-net, then eps = 0; with a random last conv, then eps depends on i and z."""
    z, i = _normal(60, B, Z), jnp.array([1, 500, 999])
    out = np.asarray(_unet_apply(unet, z, i))
    assert out.shape == (B, Z)
    np.testing.assert_array_equal(out, 0.0)
    model = nnx.clone(unet)
    model.out.kernel[...] = jnp.asarray(_normal(61, *model.out.kernel.shape))
    out = np.asarray(_unet_apply(model, z, i))
    assert _changed(_unet_apply(model, z, i + 7), out).all(), "eps ignores the step"
    assert _changed(_unet_apply(model, z + 0.5, i), out).all(), "eps ignores z"
    # Per-example (GroupNorm, no batch statistics): changing example 0 leaves the others alone.
    z0 = z.copy()
    z0[0] += 1.0
    out0 = np.asarray(_unet_apply(model, z0, i))
    assert _changed(out0[:1], out[:1]).all()
    np.testing.assert_allclose(out0[1:], out[1:], **TOL)


@pytest.mark.parametrize("channels, groups", [(16, 8), (12, 4), (6, 2), (5, 1)])
def test_group_norm_matches_the_definition(channels, groups):
    """Given x [B, Z', C] and random scale/shift, then GroupNorm equals the float64 definition
    (mean and biased variance over Z' and the group's channels), and flax's nnx.GroupNorm."""
    x = _normal(70, B, 7, channels) * 3.0 + 1.5
    norm = nn.unet.GroupNorm(channels, groups, rngs=_rngs(0))
    norm.scale[...] = jnp.asarray(_normal(71, channels))
    norm.bias[...] = jnp.asarray(_normal(72, channels))
    xg = x.astype(np.float64).reshape(B, 7, groups, channels // groups)
    mean = xg.mean(axis=(1, 3), keepdims=True)
    var = ((xg - mean) ** 2).mean(axis=(1, 3), keepdims=True)
    want = ((xg - mean) / np.sqrt(var + 1e-6)).reshape(x.shape)
    want = want * np.asarray(norm.scale[...]) + np.asarray(norm.bias[...])
    np.testing.assert_allclose(np.asarray(norm(jnp.asarray(x))), want, rtol=1e-4, atol=1e-4)
    flax_norm = nnx.GroupNorm(channels, num_groups=groups, rngs=_rngs(0))
    flax_norm.scale[...], flax_norm.bias[...] = norm.scale[...], norm.bias[...]
    np.testing.assert_allclose(norm(jnp.asarray(x)), flax_norm(jnp.asarray(x)), **TOL)


def test_unet_rejects_indivisible_latent():
    """Given Z = 6 and 3 levels, when building the U-net, then ValueError names latent_dim."""
    with pytest.raises(ValueError, match="latent_dim=6"):
        nn.UNet1D(6, (8, 8, 8), 8, rngs=_rngs(0))


# ---------------------------------------------------------------------------------------------
# LatentDiffusionModel's latent heads.


def _model(**kw):
    cfg = models.ModelConfig(
        features=D, latent_dim=Z, width=H, num_heads=HEADS, unet_channels=(8, 16), unet_emb=8, **kw
    )
    return models.LatentDiffusionModel(cfg, rngs=_rngs(9))


def _pre_latent(model, x):  # NumPy W f_enc(x) + b, [B, Z or 2Z]
    return _dense(model.to_latent, np.asarray(model.encoder(x)))


@pytest.mark.parametrize("backbone", BACKBONES)
def test_gaussian_encode_splits_to_latent(backbone):
    """Given a Gaussian posterior, when encoding, then (mean, logvar) halve W f_enc(x) + b."""
    model, x = _model(backbone=backbone), _normal(70, B, T, D)
    mean, logvar = model.encode(x)
    out = _pre_latent(model, x)
    np.testing.assert_allclose(_np(mean), out[:, :Z], **TOL)
    np.testing.assert_allclose(_np(logvar), out[:, Z:], **TOL)


def test_deterministic_encode_bounds():
    """Given a deterministic code, when encoding, then tanh / l2 / none follow their formulas."""
    x = _normal(71, B, T, D) * 50  # large inputs push the pre-activation far out
    for bound in ("tanh", "l2", "none"):
        model = _model(posterior="deterministic", bound=bound)
        model.to_latent.kernel[...] *= 20.0
        v, logvar = model.encode(x)
        assert logvar is None
        pre, v = _pre_latent(model, x), _np(v)
        if bound == "tanh":
            assert np.all(np.abs(v) <= 1.0) and np.abs(pre).max() > 5
            np.testing.assert_allclose(v, np.tanh(pre), **TOL)
        elif bound == "l2":
            np.testing.assert_allclose(np.linalg.norm(v, axis=-1), math.sqrt(Z), rtol=1e-5)
            np.testing.assert_allclose(
                v, pre / np.linalg.norm(pre, axis=-1, keepdims=True) * math.sqrt(Z), **TOL
            )
        else:
            np.testing.assert_allclose(v, pre, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "field, value", [("backbone", "rnn"), ("posterior", "flow"), ("bound", "sigmoid")]
)
def test_model_config_rejects_unknown_values(field, value):
    """Given an unknown backbone / posterior / bound, when building the config, then ConfigError."""
    with pytest.raises(ConfigError, match=f"config.model.{field}='{value}'"):
        models.ModelConfig(features=D, **{field: value})
