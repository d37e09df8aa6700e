"""The LDIDP model: observation encoder, GRU latent dynamics and observation decoder.

Shapes (ldx/shapes.py):
B batch, T time, D observed features, Din encoder features, Z latent, H width.

The maths (docs/ldidp.md has the derivation):

    encoder      c_{1:T} = f_phi(x_{1:T}[:, :Din]),  mu_0 = g_phi(x_{1:T})          # [B, T, Z]
                 g_phi: linear in the backward GRU's state at k = 1 (init_encoder="backward")
                 or a tanh layer on both GRUs' final states [h_fwd_T, h_bwd_1] ("both")
    transition   m(z, c) = sqrt(abar) c + rho z,  rho = sqrt(1 - abar - sigma^2)   (0: Markovian)
    inference    q(z_0 | x) = N(mu_0, diag s_0^2),
                 q(z_k | z_{k-1}, x) = N(m(z_{k-1}, c_k), sigma^2 I)
    dynamics     h_0 = tanh(W z_0 + b),  h_k = GRU(h_{k-1}, z_{k-1}),  c^_k = W_c h_k + b_c
    generative   p(z_0) = sum_j pi_j q(z_0 | tanh u_j) (learned pseudo-states u_j) | N(0, I),
                 p(z_k | z_{<k}) = N(m(z_{k-1}, c^_k), sigma^2 I)
    first step   first_step="transition": as above, z_1 ~ N(m(z_0, c_1), sigma^2 I);
                 first_step="initial": the initial latent is the first bin's latent, z_1 := z_0
                 (decoded, with q(z_0 | x) and p(z_0) as above), and the transitions run for
                 k = 2..T; the first bin is then not pulled towards a prediction c^_1 with the
                 small fixed variance sigma^2 (docs/ldidp.md, "First step").
    observation  x_k ~ p(x_k | f_theta(z_k)): N(f, obs_std^2 I) | Bernoulli(sigmoid f) |
                 Poisson(exp f)

The generative transition is the inference transition with the observation embedding c_k
replaced by its prediction c^_k from the latent history, as DDIM's p(x_{t-1} | x_t) is
q(x_{t-1} | x_t, x_0) with x_0 replaced by its prediction.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from ldx.errors import ConfigError, check_config
from ldx.nn.recurrent import GRUCell

ENCODERS = ("bigru", "pointwise")
INFERENCES = ("non_markovian", "markovian")
OBSERVATIONS = ("gaussian", "bernoulli", "poisson")
DECODERS = ("linear", "mlp")
INIT_PRIORS = ("mixture", "standard")
INIT_ENCODERS = ("backward", "both")
FIRST_STEPS = ("initial", "transition")
MAX_LOG_RATE = 10.0  # Poisson log-rates are clipped here (e^10 counts per bin) for stability.


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Typed `config.model` of an `ldidp` run; see configs/ldidp_spiral.py for each field.

    Attributes:
      features: D, set from the data.
      encoder_features: Din, the leading features the encoder sees (0: all D). MC_Maze uses the
        107 held-in neurons; the likelihood still covers all D.
      latent_dim: Z.
      width: H, width of the dynamics GRU and of the encoder GRUs / MLPs.
      encoder: "bigru" (f_phi a bidirectional GRU over the window) or "pointwise"
        (c_k = MLP(x_k), the literal q(z_k | z_{k-1}, x_k)).
      inference: "non_markovian" (q(z_k | z_{k-1}, x)) or "markovian" (q(z_k | x), rho = 0).
      observation: "gaussian", "bernoulli" or "poisson".
      decoder: f_theta, "linear" or "mlp" (one tanh hidden layer of width H).
      obs_std: standard deviation of the Gaussian observation model (fixed).
      signal: abar, the weight of the new embedding in the transition mean, in (0, 1).
      sigma: standard deviation of every transition (inference and generative), fixed.
      init_std: standard deviation of q(z_0 | x), fixed; 0 makes it a learned function of x
        (per dimension, as in a VAE), so that unused dimensions of z_0 cost no KL.
      init_prior: p(z_0): "mixture" (a learned mixture of `init_components` diagonal Gaussians
        q(z_0 | tanh u_j) at learned pseudo-states u_j of the encoder, trained with the rest by
        the ELBO, so that it follows the aggregate posterior of z_0 that the sampler draws
        from; the configs use it) or "standard" (N(0, I); the
        default, so that runs saved before the field existed load as they were trained).
      init_components: number of mixture components of p(z_0).
      first_step: "initial" (z_1 is the initial latent z_0 itself; transitions for k >= 2; the
        configs use it) or "transition" (z_1 ~ N(m(z_0, c_1), sigma^2); the default, as above).
      init_encoder: what q(z_0 | x) reads: "backward" (a linear head on the backward GRU's
        state at k = 1; the default, as above) or "both" (a tanh layer of width H, then the
        linear head, on [forward GRU's state at k = T, backward GRU's state at k = 1], each a
        summary of the whole window; needs encoder="bigru").
    """

    features: int
    encoder_features: int = 0
    latent_dim: int = 8
    width: int = 64
    encoder: str = "bigru"
    inference: str = "non_markovian"
    observation: str = "gaussian"
    decoder: str = "linear"
    obs_std: float = 0.1
    signal: float = 0.5
    sigma: float = 0.3
    init_std: float = 0.0
    init_prior: str = "standard"
    init_components: int = 16
    first_step: str = "transition"
    init_encoder: str = "backward"

    def __post_init__(self):
        check_config(
            self,
            "model",
            dict(
                encoder=ENCODERS,
                inference=INFERENCES,
                observation=OBSERVATIONS,
                decoder=DECODERS,
                init_prior=INIT_PRIORS,
                first_step=FIRST_STEPS,
                init_encoder=INIT_ENCODERS,
            ),
            ("features", "latent_dim", "width", "init_components"),
        )
        if not 0 <= self.encoder_features <= self.features:
            raise ConfigError(
                f"config.model.encoder_features={self.encoder_features} must be in "
                f"[0, {self.features}] (the data has {self.features} features; 0 means all)."
            )
        if not 0.0 < self.signal < 1.0:
            raise ConfigError(f"config.model.signal={self.signal} must be in (0, 1).")
        if not 0.0 < self.sigma**2 <= 1.0 - self.signal:
            raise ConfigError(
                f"config.model.sigma={self.sigma} must satisfy 0 < sigma^2 <= 1 - signal "
                f"= {1.0 - self.signal:g}."
            )
        if self.obs_std <= 0:
            raise ConfigError(f"config.model.obs_std={self.obs_std} must be > 0.")
        if self.init_encoder == "both" and self.encoder != "bigru":
            raise ConfigError(
                'config.model.init_encoder="both" needs config.model.encoder="bigru" (the '
                f"{self.encoder!r} encoder has no forward GRU)."
            )
        if self.init_std < 0:
            raise ConfigError(f"config.model.init_std={self.init_std} must be >= 0 (0: learned).")

    @property
    def din(self) -> int:
        """Number of features the encoder sees."""
        return self.encoder_features or self.features

    @property
    def rho(self) -> float:
        """Weight of z_{k-1} in the transition mean: sqrt(1 - abar - sigma^2), 0 if Markovian."""
        if self.inference == "markovian":
            return 0.0
        return math.sqrt(max(1.0 - self.signal - self.sigma**2, 0.0))


def _scan_gru(cell: GRUCell, x: jax.Array, reverse: bool = False) -> jax.Array:
    """Runs a GRU cell over x [B, T, F] from a zero state; returns h [B, T, H] (time-aligned)."""
    gates = jnp.split(jnp.swapaxes(cell.input_proj(x), 0, 1), 3, axis=-1)  # 3 x [T, B, H]
    h0 = jnp.zeros((x.shape[0], cell.hidden), x.dtype)
    _, hs = jax.lax.scan(cell.step, h0, tuple(gates), reverse=reverse)  # [T, B, H]
    return jnp.swapaxes(hs, 0, 1)


class LDIDP(nnx.Module):
    """Encoder f_phi, dynamics (GRU, c^ readout), observation decoder f_theta."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        z, h = cfg.latent_dim, cfg.width
        # Backward GRU: h_bwd[k] summarises x_{k:T}; its state at k = 1 gives mu_0.
        self.enc_bwd = GRUCell(cfg.din, h, rngs=rngs)
        if cfg.encoder == "bigru":
            self.enc_fwd = GRUCell(cfg.din, h, rngs=rngs)
            self.enc_out = nnx.Linear(2 * h, z, rngs=rngs)
        else:
            self.enc_hidden = nnx.Linear(cfg.din, h, rngs=rngs)
            self.enc_out = nnx.Linear(h, z, rngs=rngs)
        summary = h  # width of the state q(z_0 | x) reads
        if cfg.init_encoder == "both":
            summary = 2 * h
            self.enc_init_hidden = nnx.Linear(2 * h, h, rngs=rngs)
        self.enc_init = nnx.Linear(h, z if cfg.init_std else 2 * z, rngs=rngs)
        self.dyn_init = nnx.Linear(z, h, rngs=rngs)
        self.dyn = GRUCell(z, h, rngs=rngs)
        self.dyn_out = nnx.Linear(h, z, rngs=rngs)
        if cfg.init_prior == "mixture":  # p(z_0): logits and pseudo-states of the components
            k = cfg.init_components
            self.prior_logits = nnx.Param(jnp.zeros((k,)))
            self.prior_states = nnx.Param(jax.random.normal(rngs.params(), (k, summary)))
        if cfg.decoder == "mlp":
            self.dec_hidden = nnx.Linear(z, h, rngs=rngs)
            self.dec_out = nnx.Linear(h, cfg.features, rngs=rngs)
        else:
            self.dec_out = nnx.Linear(z, cfg.features, rngs=rngs)

    # --- inference network -------------------------------------------------------------------

    def encode(self, x_in: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Observation embeddings and the initial-state posterior.

        Args:
          x_in: the encoder's features x[..., :Din]. # [B, T, Din]

        Returns:
          (c, mu_0, s_0): c_k = f_phi(x)_k [B, T, Z], and the mean [B, Z] and standard deviation
          ([B, Z], or the fixed init_std broadcast) of q(z_0 | x).
        """
        h_bwd = _scan_gru(self.enc_bwd, x_in, reverse=True)  # [B, T, H]
        summary = h_bwd[:, 0]  # [B, H]
        if self.cfg.encoder == "bigru":
            h_fwd = _scan_gru(self.enc_fwd, x_in)  # [B, T, H]
            c = self.enc_out(jnp.concatenate([h_fwd, h_bwd], -1))  # [B, T, Z]
            if self.cfg.init_encoder == "both":
                summary = jnp.concatenate([h_fwd[:, -1], summary], -1)  # [B, 2H]
        else:
            c = self.enc_out(jnp.tanh(self.enc_hidden(x_in)))  # [B, T, Z]
        return (c, *self.init_head(summary))

    def init_head(self, state: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(mean, std) of q(z_0 | x) from the encoder's summary. # [..., H or 2H] -> 2 x [..., Z]"""
        if self.cfg.init_encoder == "both":
            state = jnp.tanh(self.enc_init_hidden(state))  # [..., H]
        init = self.enc_init(state)  # [..., Z] or [..., 2Z]
        if self.cfg.init_std:
            return init, jnp.full_like(init, self.cfg.init_std)
        mu0, log_std0 = jnp.split(init, 2, axis=-1)
        return mu0, jnp.exp(jnp.clip(log_std0, -7.0, 2.0))

    # --- generative model --------------------------------------------------------------------

    def _mixture(self):
        """(log pi [K], means [K, Z], stds [K, Z]) of the mixture p(z_0).

        Component j is q(z_0 | .) at a learned pseudo-state tanh(u_j) of the backward encoder
        (a VampPrior whose pseudo-inputs sit at the encoder's last hidden layer): the prior
        moves with the posterior's head, at its scale, and costs one [K, H] matmul.
        """
        mean, std = self.init_head(jnp.tanh(self.prior_states[...]))
        return jax.nn.log_softmax(self.prior_logits[...]), mean, std

    def init_log_prob(self, z0: jax.Array) -> jax.Array:
        """log p(z_0). # [..., Z] -> [...]"""
        if self.cfg.init_prior == "standard":
            return -0.5 * jnp.sum(jnp.square(z0) + math.log(2 * math.pi), -1)
        log_pi, mean, std = self._mixture()
        d = (z0[..., None, :] - mean) / std  # [..., K, Z]
        comp = -0.5 * jnp.sum(jnp.square(d) + math.log(2 * math.pi) + 2 * jnp.log(std), -1)
        return jax.nn.logsumexp(log_pi + comp, -1)

    def sample_init(self, key: jax.Array, num: int) -> jax.Array:
        """num draws of z_0 ~ p(z_0). # -> [num, Z]"""
        k_comp, k_eps = jax.random.split(key)
        eps = jax.random.normal(k_eps, (num, self.cfg.latent_dim))
        if self.cfg.init_prior == "standard":
            return eps
        log_pi, mean, std = self._mixture()
        j = jax.random.categorical(k_comp, log_pi, shape=(num,))  # [num]
        return mean[j] + std[j] * eps

    def init_kl(self, mu0: jax.Array, std0: jax.Array, z0: jax.Array) -> jax.Array:
        """KL(q(z_0 | x) || p(z_0)) per window. # [B, Z] x 3 -> [B]

        N(0, I): closed form. Mixture: -H[q] - log p(z_0) at the reparameterised sample
        z_0 ~ q (the entropy in closed form, the cross-entropy by one sample).
        """
        if self.cfg.init_prior == "standard":
            kl = jnp.log(1.0 / std0) + (jnp.square(std0) + jnp.square(mu0)) / 2 - 0.5
            return kl.sum(-1)
        entropy = jnp.sum(jnp.log(std0) + 0.5 * (1.0 + math.log(2 * math.pi)), -1)
        return -entropy - self.init_log_prob(z0)

    def transition_bins(self, seq_len: int) -> int:
        """How many bins the transition scan makes: T - 1 if z_1 = z_0 ("initial"), else T."""
        return seq_len - 1 if self.cfg.first_step == "initial" else seq_len

    def join_path(self, z0: jax.Array, z: jax.Array) -> jax.Array:
        """The latents of bins 1..T: [z_0, z_2..z_T] ("initial") or z as scanned. # -> [N, T, Z]"""
        if self.cfg.first_step == "initial":
            return jnp.concatenate([z0[:, None], z], axis=1)
        return z

    def transition_mean(self, z_prev: jax.Array, c: jax.Array) -> jax.Array:
        """m(z_{k-1}, c) = sqrt(abar) c + rho z_{k-1}. # [B, Z], [B, Z] -> [B, Z]"""
        return math.sqrt(self.cfg.signal) * c + self.cfg.rho * z_prev

    def initial_state(self, z0: jax.Array) -> jax.Array:
        """h_0 = tanh(W z_0 + b). # [B, Z] -> [B, H]"""
        return jnp.tanh(self.dyn_init(z0))

    def dynamics(self, h: jax.Array, z_prev: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One GRU step: (h_k, c^_k) from h_{k-1} [B, H] and z_{k-1} [B, Z]."""
        h, _ = self.dyn.step(h, tuple(jnp.split(self.dyn.input_proj(z_prev), 3, axis=-1)))
        return h, self.dyn_out(h)

    def decode(self, z: jax.Array) -> jax.Array:
        """f_theta(z): Gaussian mean, Bernoulli logit or Poisson log-rate. # [..., Z] -> [..., D]"""
        if self.cfg.decoder == "mlp":
            z = jnp.tanh(self.dec_hidden(z))
        out = self.dec_out(z)
        if self.cfg.observation == "poisson":
            out = jnp.minimum(out, MAX_LOG_RATE)
        return out
