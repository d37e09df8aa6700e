"""LDIDP: latent dynamical implicit diffusion processes (arXiv 2306.07077); docs/ldidp.md.

model.py       encoder f_phi, GRU dynamics, observation decoder f_theta
objective.py   ELBO with closed-form per-step Gaussian KL; Gaussian/Bernoulli/Poisson
samplers.py    implicit (DDIM-like, eta) and explicit (Langevin) samplers: a latent lax.scan
               each, then one batched decoding
poisson.py     exact Poisson draws by inversion (much faster than jax.random.poisson on CPU)
metrics.py     latent alignment, bits/spike, smoothing + GLM baseline, ridge R^2, MMD
evaluation.py  everything `launch.evaluate` reports for a trained run
experiment.py  config -> LDIDPExperiment (the Experiment interface of ldx.train)
"""

from ldx.ldidp.experiment import LDIDPExperiment, build_experiment
from ldx.ldidp.model import LDIDP, ModelConfig
from ldx.ldidp.objective import (
    ObjectiveConfig,
    bernoulli_loglik,
    gaussian_kl,
    gaussian_loglik,
    make_loss_fn,
    poisson_loglik,
    posterior,
    posterior_mean,
)
from ldx.ldidp.samplers import (
    SamplerConfig,
    explicit_rollout,
    implicit_rollout,
    langevin,
    latent_scan,
    observe,
    sample,
)
