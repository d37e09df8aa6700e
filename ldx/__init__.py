"""ldx: latent diffusion for time series in JAX/Flax.

The public API, one import away:

    import ldx
    run = ldx.load_run("/tmp/ldx")                 # a trained workdir
    generate = ldx.make_generate_fn(run.model_fn, run.experiment.generate)  # jitted
    x = generate(run.params(), jax.random.key(0), 16)  # [16, T, D], normalised units
    out = ldx.complete(run, x_obs, mask, jax.random.key(0), 8, 256)  # forecasting, imputation

Importing ldx imports both model families (ldx.ld, ldx.ldidp), which register their
builders with ldx.experiment.
"""

from ldx import ld, ldidp  # noqa: F401  (fills ldx.experiment.BUILDERS)
from ldx.batching import batch_map, make_generate_fn
from ldx.complete import complete
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
from ldx.ld import (
    METHODS,
    LatentDiffusionModel,
    LDExperiment,
    ModelConfig,
    ObjectiveConfig,
    SamplerConfig,
    generate,
    make_loss_fn,
)
from ldx.train import Run, TrainConfig, TrainState, load_run, run_from_state, train

__version__ = "0.1.0"
