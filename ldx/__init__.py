"""ldx: latent diffusion for time series in JAX/Flax.

The public API, one import away:

    import ldx
    run = ldx.load_run("/tmp/ldx")                 # a trained workdir
    generate = ldx.make_generate_fn(run.model_fn, run.experiment.generate)  # jitted
    x = generate(run.params(), jax.random.key(0), 16)  # [16, T, D], normalised units
"""

from ldx.data import DataConfig, Dataset, MinMaxScaler, build_dataset, get_batch
from ldx.diffusion import Schedule, ddim_sample, ddpm_sample, eps_loss, make_schedule, q_sample
from ldx.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    LdxError,
    NonFiniteError,
    Preempted,
)
from ldx.experiment import Experiment, build_experiment
from ldx.models import LatentDiffusionModel, ModelConfig
from ldx.objectives import METHODS, ObjectiveConfig, make_loss_fn
from ldx.sampling import SamplerConfig, generate, make_generate_fn, save_samples
from ldx.train import Run, TrainState, load_run, train

__version__ = "0.1.0"
