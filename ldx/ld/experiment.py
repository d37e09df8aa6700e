"""An LD/PSLD config as an Experiment (the interface of ldx/experiment.py).

`build_experiment(config)` validates config.{data, model, diffusion, objective, sample, train}
into frozen dataclasses and loads the data; the method sets the fields users do not
(`posterior`, `stop_max`, and `skip_z` for ld_skip).
"""

from __future__ import annotations

import dataclasses

import ml_collections
from flax import nnx

from ldx import experiment
from ldx.data import DataConfig, Dataset, build_dataset, tie_projection
from ldx.diffusion import Schedule, make_schedule
from ldx.errors import ConfigError
from ldx.ld.generate import SamplerConfig, generate, step_model
from ldx.ld.model import LatentDiffusionModel, ModelConfig
from ldx.ld.objective import METHODS, ObjectiveConfig, make_loss_fn
from ldx.train.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class LDExperiment:
    """A validated LD/PSLD config: data, model, objective, schedule, sampler and training."""

    method: str
    seed: int
    data: DataConfig
    dataset: Dataset
    model: ModelConfig
    objective: ObjectiveConfig
    schedule: Schedule
    sampler: SamplerConfig
    train: TrainConfig
    draw: experiment.DrawConfig
    spec: dict
    # (P, c) of `ldx.data.tie_projection` on the training windows when sample.tie_dependent
    # and some column is an exact affine function of others; else None. Derived from the
    # fields above (arrays), so not compared.
    tie: tuple | None = dataclasses.field(default=None, compare=False)

    def init_model(self) -> LatentDiffusionModel:
        return LatentDiffusionModel(self.model, rngs=nnx.Rngs(self.seed))

    def loss_fn(self, num_steps: int):
        return make_loss_fn(self.objective, self.schedule, num_steps)

    def generate(self, model, key, num: int):
        """num series [num, T, D]: z from the DDPM prior, then X ~ p(X | z)."""
        return generate(
            model, self.schedule, self.sampler, key, num, self.dataset.seq_len, self.tie
        )

    def step_model(self, model):
        """The model step by step, for completion (`ldx.complete`)."""
        return step_model(model, self.schedule, self.sampler, self.dataset.seq_len)

    def describe(self) -> dict:
        return {
            "method": self.method,
            "backbone": self.model.backbone,
            "dataset": self.data.name,
            "seed": self.seed,
        }


def build_experiment(config: ml_collections.ConfigDict) -> LDExperiment:
    """Validates an LD/PSLD `config` and loads its data. Raises LdxError subclasses."""
    if config.method not in METHODS:
        raise ConfigError(f"config.method={config.method!r} is not one of {METHODS}.")
    data = experiment.typed(DataConfig, config.data, "data", seed=config.seed)
    dataset = build_dataset(data)
    model = experiment.typed(
        ModelConfig,
        config.model,
        "model",
        features=dataset.dim,
        posterior="deterministic" if config.method == "psld" else "gaussian",
    )
    if config.method == "ld_skip":
        model = dataclasses.replace(model, skip_z=True)
    objective = experiment.typed(
        ObjectiveConfig, config.objective, "objective", method=config.method
    )
    d = config.diffusion
    try:
        schedule = make_schedule(d.num_steps, d.schedule, d.beta_start, d.beta_end)
    except ValueError as e:
        raise ConfigError(f"config.diffusion: {e}") from e
    sample = {k: v for k, v in config.sample.items() if k not in ("num_samples", "use_ema")}
    sampler = experiment.typed(
        SamplerConfig,
        ml_collections.ConfigDict(sample),
        "sample",
        stop_max=objective.num_vi_steps if config.method == "psld" else 0,
    )
    if sampler.sampler == "ddim" and sampler.ddim_steps > schedule.num_steps:
        raise ConfigError(
            f"config.sample.ddim_steps={sampler.ddim_steps} must be at most "
            f"config.diffusion.num_steps={schedule.num_steps}."
        )
    train = experiment.typed(TrainConfig, config.train, "train")
    return LDExperiment(
        config.method,
        config.seed,
        data,
        dataset,
        model,
        objective,
        schedule,
        sampler,
        train,
        experiment.draw_config(config),
        experiment.spec(config),
        tie_projection(dataset.train) if sampler.tie_dependent else None,
    )


experiment.register(METHODS, build_experiment)
