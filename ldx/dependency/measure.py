"""The dependency measure: how much each step of a causal decoder relies on z and on its past.

Shapes (ldx/shapes.py): B series, T time, D features, Z latent, H width, S quadrature points,
J = T + 1 inputs of a step (z, x_0 .. x_{T-1}).

For a causal decoder h_t = f(z, x_0 .. x_{t-1}) (h_t predicts x_t; time is 0-indexed),
the inputs are the blocks a_0 = z, a_j = x_{j-1} (j = 1 .. T). With the all-zero
baseline, the straight path gamma(s) = s * a and h~_t = f(0), the measure is the
integrated-gradients attribution of h_t, projected on the direction h_t - h~_t:

    m_{t,j} = < h_t - h~_t, int_0^1 J_{t,j}(s a) a_j ds > / ||h_t - h~_t||^2,

where J_{t,j} = d h_t / d a_j. m_{t,0} is the global dependency (on z), m_{t,t-k+1}
the k-th order local dependency (on x_{t-k}), and m_{t,j} = 0 for j > t (causality).
Completeness: by the fundamental theorem of calculus along the path,
sum_j m_{t,j} = <h_t - h~_t, h_t - h~_t> / ||h_t - h~_t||^2 = 1, up to quadrature error.

How it is computed. A causal h_t only sees its prefix, so the single path point
s * (z, x) is the path point of every t at once: one decoder evaluation per s
serves all T outputs. The integrand J_{t,j}(s a) a_j is a Jacobian-vector product
in the direction "a_j in block j, zero elsewhere". Forward mode therefore needs
J = T + 1 JVPs per (series, s), each giving the tangents of all T outputs; reverse
mode would need T VJPs (one per output cotangent) plus stored residuals. Forward mode
costs the same number of passes, needs no residuals, and its tangents for block j
are exactly zero before step j. The J tangents, the S points and the B series are
all `vmap`ped into one jitted program; `chunk_size` bounds memory by scanning over
chunks of quadrature points.

Quadrature rules for int_0^1 g(s) ds: `riemann` (midpoints (k + 1/2) / S, error
O(S^-2)), `gauss_legendre` (exact for polynomials of degree 2S - 1) and
`monte_carlo` (s ~ U(0, 1), independent per series, error O(S^-1/2); needs `key`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ldx.errors import LdxError

RULES = ("riemann", "gauss_legendre", "monte_carlo")

DecoderFn = Callable[[jax.Array, jax.Array], jax.Array]  # (z [Z], x [T, D]) -> h [T, H]


def quadrature(
    rule: str, num_points: int, key: jax.Array | None = None, batch: int = 1
) -> tuple[jax.Array, jax.Array]:
    """Points and weights of a rule on [0, 1].

    Args:
      rule: one of RULES.
      num_points: S.
      key: PRNG key, required by `monte_carlo`.
      batch: B; `monte_carlo` draws independent points per series.

    Returns:
      (points [B, S], weights [B, S]); the weights of each row sum to 1.
    """
    _check_rule(rule, num_points, key)
    if rule == "monte_carlo":
        s = jax.random.uniform(key, (batch, num_points))  # [B, S]
    elif rule == "riemann":
        s = jnp.asarray((np.arange(num_points) + 0.5) / num_points, jnp.float32)
    else:
        nodes, weights = np.polynomial.legendre.leggauss(num_points)
        s = jnp.asarray((nodes + 1.0) / 2.0, jnp.float32)
        w = jnp.asarray(weights / 2.0, jnp.float32)
        return jnp.broadcast_to(s, (batch, num_points)), jnp.broadcast_to(w, (batch, num_points))
    w = jnp.full((batch, num_points), 1.0 / num_points, jnp.float32)
    return jnp.broadcast_to(s, (batch, num_points)), w


def _check_rule(rule: str, num_points: int, key) -> None:
    if rule not in RULES:
        raise LdxError(f"dependency rule={rule!r} is not one of {RULES}.")
    if num_points < 1:
        raise LdxError(f"dependency num_points={num_points} must be >= 1.")
    if rule == "monte_carlo" and key is None:
        raise LdxError("dependency rule='monte_carlo' needs a PRNG key (key=...).")


def dependency_measures(
    fn: DecoderFn,
    z: jax.Array,
    x: jax.Array,
    *,
    num_points: int = 32,
    rule: str = "riemann",
    key: jax.Array | None = None,
    chunk_size: int | None = None,
    z_baseline: jax.Array | None = None,
) -> jax.Array:
    """The dependency measure of a causal decoder on B series.

    Args:
      fn: fn(z [Z], x [T, D]) -> h [T, H], causal (h[t] depends on z and x[:t] only),
        e.g. `decoder_fn(model)`. It is a static argument of the jitted computation:
        reuse one fn object to reuse the compiled program. Inside your own `jax.jit`
        (e.g. with parameters as arguments) the call is traced inline.
      z: latents. # [B, Z]
      x: series. # [B, T, D]
      num_points: S, quadrature points on [0, 1].
      rule: "riemann" (midpoint), "gauss_legendre" or "monte_carlo".
      key: PRNG key for `monte_carlo`.
      chunk_size: quadrature points evaluated at once (None: all S). Peak memory
        grows with chunk_size * B * (T + 1) * T * H.
      z_baseline: where z's path starts: None (all zeros, the paper's), one latent [Z] for
        every series (e.g. the mean code) or one per series [B, Z] (e.g. another window's
        code). The path then runs from (z0, 0) to (z, x): each series is measured as
        `with_z_baseline(fn, z0)` on (z - z0, x), so m[:, t, 0] credits z only with what
        tells it from z0. x's baseline is always 0.

    Returns:
      m [B, T, T + 1]: m[:, t, 0] on z, m[:, t, j] on x[:, j - 1] for 1 <= j <= t,
      exactly 0 for j > t. A row with h_t = h~_t (measure undefined) is NaN for j <= t.

    Raises:
      LdxError: bad rule, num_points, chunk_size, missing key or inconsistent shapes.
    """
    _check_rule(rule, num_points, key)
    if chunk_size is not None and chunk_size < 1:
        raise LdxError(f"dependency chunk_size={chunk_size} must be >= 1 or None.")
    if z.ndim != 2 or x.ndim != 3 or z.shape[0] != x.shape[0]:
        raise LdxError(
            f"dependency_measures expects z [B, Z] and x [B, T, D] with the same B; "
            f"got z {z.shape} and x {x.shape}."
        )
    h = jax.eval_shape(fn, z[0], x[0])
    if h.ndim != 2 or h.shape[0] != x.shape[1]:
        raise LdxError(
            f"fn(z [Z], x [T, D]) must return h [T, H] with T={x.shape[1]}; got {h.shape}."
        )
    z0 = jnp.zeros_like(z) if z_baseline is None else jnp.asarray(z_baseline, z.dtype)
    if z0.shape not in (z.shape, z.shape[1:]):
        raise LdxError(
            f"dependency z_baseline must be [Z] or [B, Z] like z {z.shape}; got {z0.shape}."
        )
    z0 = jnp.broadcast_to(z0, z.shape)
    chunk = min(chunk_size or num_points, num_points)
    return _measures(fn, z, x, z0, key, num_points=num_points, rule=rule, chunk=chunk)


@functools.partial(jax.jit, static_argnames=("fn", "num_points", "rule", "chunk"))
def _measures(fn, z, x, z0, key, *, num_points, rule, chunk):
    b, t = x.shape[:2]

    def shifted(z01, u1, x1):  # series b measured on (u = z - z0, x) from the baseline (0, 0)
        return with_z_baseline(fn, z01)(u1, x1)

    z = z - z0  # [B, Z], u: the zero baseline leaves z as it is
    h1 = jax.vmap(shifted)(z0, z, x)  # [B, T, H]
    h0 = jax.vmap(shifted)(z0, jnp.zeros_like(z), jnp.zeros_like(x))  # [B, T, H], h~
    delta = h1 - h0  # [B, T, H]
    sq = jnp.sum(jnp.square(delta), axis=-1)  # [B, T]
    u = delta / jnp.where(sq > 0, sq, 1.0)[..., None]  # [B, T, H]

    eye = jnp.eye(t + 1, dtype=x.dtype)  # [J, J]

    def integrand(z1, x1, u1, z01, s):
        # Tangent j is block j of the input: z for j = 0, x[j - 1] at time j - 1 otherwise.
        tz = eye[:, :1] * z1  # [J, Z]
        tx = eye[:, 1:, None] * x1  # [J, T, D]
        jvp = functools.partial(jax.jvp, with_z_baseline(fn, z01), (s * z1, s * x1))
        _, dh = jax.vmap(lambda a, c: jvp((a, c)))(tz, tx)  # [J, T, H]
        return jnp.einsum("jth,th->tj", dh, u1)  # [T, J]

    per_point = jax.vmap(jax.vmap(integrand), in_axes=(None, None, None, None, 0))  # S, then B
    points, weights = quadrature(rule, num_points, key, b)  # [B, S]
    pad = -num_points % chunk  # padded points carry weight 0
    points = jnp.pad(points, ((0, 0), (0, pad)), constant_values=0.5)
    weights = jnp.pad(weights, ((0, 0), (0, pad)))
    points = points.T.reshape(-1, chunk, b)  # [S / chunk, chunk, B]
    weights = weights.T.reshape(-1, chunk, b)

    def body(acc, sw):
        s, w = sw  # [chunk, B]
        vals = per_point(z, x, u, z0, s)  # [chunk, B, T, J]
        return acc + jnp.einsum("cb,cbtj->btj", w, vals), None

    m, _ = jax.lax.scan(body, jnp.zeros((b, t, t + 1), x.dtype), (points, weights))
    m = jnp.where((sq > 0)[..., None], m, jnp.nan)
    return jnp.where(jnp.tri(t, t + 1, dtype=bool), m, 0.0)  # j <= t


def global_dependency(m: jax.Array) -> jax.Array:
    """m_{t,0}, the dependency of each step on z: [B, T, T + 1] -> [B, T]."""
    return m[..., 0]


def local_dependency(m: jax.Array, order: int = 1) -> jax.Array:
    """The order-k local dependency m_{t,t-k+1} of step t on x_{t-k}: [B, T, T + 1] -> [B, T].

    Steps t < k have no x_{t-k}; they are NaN (use `jnp.nanmean` to average over t).
    """
    t = m.shape[-2]
    if not 1 <= order < t:
        raise LdxError(f"local dependency order={order} must be in [1, T - 1 = {t - 1}].")
    steps = jnp.arange(t)  # [T]
    idx = jnp.clip(steps - order + 1, 0, t)  # [T]
    vals = jnp.take_along_axis(m, jnp.broadcast_to(idx[:, None], m.shape[:-1] + (1,)), -1)
    return jnp.where(steps >= order, vals[..., 0], jnp.nan)


def decoder_fn(model) -> DecoderFn:
    """fn(z [Z], x [T, D]) -> h [T, H] for a model's (or a bare decoder's) `hidden`.

    Works for every ldx decoder (GRU, LSTM, Transformer, with or without skip_z):
    h[t] is the representation that predicts x[t] from z and x[:t].
    """
    decoder = getattr(model, "decoder", model)

    def fn(z: jax.Array, x: jax.Array) -> jax.Array:
        return decoder.hidden(z[None], x[None])[0]

    return fn


def with_z_baseline(fn: DecoderFn, z0: jax.Array) -> DecoderFn:
    """fn shifted to u = z - z0: measure it on (z - z0, x) for the baseline (z0, 0).

    `dependency_measures(with_z_baseline(fn, z0), z - z0, x)` integrates along the path
    from (z0, 0) to (z, x) instead of from all zeros. With z0 a code the decoder reads as
    one (e.g. the mean code), z is credited only for what tells its code from z0, not for
    moving the decoder out of the state it takes on a non-code such as z = 0
    (docs/dependency_analysis.md, fifth session). `dependency_measures(..., z_baseline=z0)`
    does this for you, also with one baseline per series.
    """

    def shifted(u: jax.Array, x: jax.Array) -> jax.Array:
        return fn(z0 + u, x)

    return shifted


def dependency_measures_loop(
    fn: DecoderFn,
    z: jax.Array,
    x: jax.Array,
    *,
    num_points: int = 32,
    rule: str = "riemann",
    key: jax.Array | None = None,
) -> np.ndarray:
    """The same measure by brute force: one jitted reverse-mode `jax.grad` per (series, t, s).

    The textbook way, and the reference the vectorised estimator is benchmarked
    against: the gradient of the scalar <u_t, h_t> at each path point, output by output.
    Compiles once per fn object.

    Returns:
      m [B, T, T + 1] as a NumPy array.
    """
    b, t = x.shape[:2]
    points, weights = map(np.asarray, quadrature(rule, num_points, key, b))  # [B, S]
    h0 = fn(jnp.zeros_like(z[0]), jnp.zeros_like(x[0]))  # [T, H]
    m = np.zeros((b, t, t + 1), np.float32)
    for i in range(b):
        delta = np.asarray(fn(z[i], x[i]) - h0)  # [T, H]
        for step in range(t):
            u = delta[step] / np.sum(np.square(delta[step]))  # [H]
            for s, w in zip(points[i], weights[i]):
                terms = _grad_terms(fn, z[i], x[i], u, step, s)  # [T + 1]
                m[i, step, : step + 1] += w * np.asarray(terms[: step + 1])
    return m


@functools.partial(jax.jit, static_argnums=0)
def _grad_terms(fn, z, x, u, step, s):
    """[z . dg/dz, x_0 . dg/dx_0, ...] at s * (z, x), g = <u, h_step>: [Z], [T, D] -> [T + 1]."""
    gz, gx = jax.grad(lambda a, c: jnp.vdot(u, fn(a, c)[step]), argnums=(0, 1))(s * z, s * x)
    return jnp.concatenate([jnp.vdot(gz, z)[None], jnp.sum(gx * x, -1)])


def completeness_error(m: jax.Array) -> jax.Array:
    """|sum_j m[t, j] - 1|, the quadrature's error on each step: [B, T, T + 1] -> [B, T]."""
    return jnp.abs(jnp.sum(m, -1) - 1.0)


def summarize(m: jax.Array) -> dict[str, jax.Array]:
    """Scalar summaries of m [B, T, T + 1]: means over series (and over t where not `_last`),
    and the largest completeness error |sum_j m[t, j] - 1| (the quadrature's accuracy)."""
    g, loc = global_dependency(m), local_dependency(m, 1)  # [B, T], [B, T]
    return {
        "dependency_global": jnp.nanmean(g),
        "dependency_global_last": jnp.nanmean(g[:, -1]),
        "dependency_local1": jnp.nanmean(loc),
        "dependency_local1_last": jnp.nanmean(loc[:, -1]),
        "dependency_completeness_error": jnp.max(completeness_error(m)),
    }
