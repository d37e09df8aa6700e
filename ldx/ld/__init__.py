"""LD and PSLD: time-series latent diffusion (arXiv 2405.14021); the README's Methods section.

model.py       encoder -> latent (Gaussian or bounded deterministic) -> decoder, DDPM prior
objective.py   LD, KL annealing, masking, skip and PSLD losses (L_VI, L_DM, L_CS)
generate.py    prior sampling (with PSLD's random stop), then autoregressive decoding; the same
               step by step for completion (ldx/complete.py, ldx/smc.py)
experiment.py  config -> LDExperiment (the interface of ldx/experiment.py); registers the methods
"""

from ldx.ld.experiment import LDExperiment, build_experiment
from ldx.ld.generate import (
    SamplerConfig,
    generate,
    generate_with_latents,
    sample_latents,
    step_model,
)
from ldx.ld.model import LatentDiffusionModel, ModelConfig
from ldx.ld.objective import METHODS, ObjectiveConfig, make_loss_fn
