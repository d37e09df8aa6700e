"""LDIDP: latent dynamical implicit diffusion processes (arXiv 2306.07077); docs/ldidp.md.

model.py       encoder f_phi, GRU dynamics, observation decoder f_theta
objective.py   ELBO with closed-form per-step Gaussian KL; Gaussian/Bernoulli/Poisson
samplers.py    implicit (DDIM-like, eta) and explicit (Langevin) samplers: a latent lax.scan
               each, then one batched decoding; the model bin by bin for completion (SMC)
poisson.py     exact Poisson draws by inversion (much faster than jax.random.poisson on CPU)
metrics.py     latent alignment, bits/spike, smoothing + GLM baseline, ridge R^2, MMD
evaluation.py  everything `launch.evaluate` reports for a trained run; figures.py its figures
experiment.py  config -> LDIDPExperiment (the interface of ldx/experiment.py); registers `ldidp`

The likelihoods and KLs are in ldx/probability.py, shared with LD.
"""

from ldx.ldidp.experiment import LDIDPExperiment, build_experiment
from ldx.ldidp.model import LDIDP, ModelConfig
from ldx.ldidp.objective import ObjectiveConfig, make_loss_fn, posterior, posterior_mean
from ldx.ldidp.samplers import (
    SamplerConfig,
    explicit_rollout,
    implicit_rollout,
    langevin,
    latent_scan,
    observe,
    sample,
    step_model,
)
