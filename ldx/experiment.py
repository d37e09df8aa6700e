"""The boundary between an ml_collections config and ldx's typed pieces.

`build_experiment(config)` validates the config once and returns an
`Experiment`: the dataset and frozen dataclasses for the model, objective,
diffusion schedule and sampler. Everything below it takes typed arguments.

The training loop, checkpoints and samplers only use this interface:

    exp.seed, exp.dataset
    exp.init_model() -> nnx.Module
    exp.loss_fn(num_steps) -> loss_fn(model, x, key, step, stage) -> (loss, metrics)
    exp.generate(model, key, num) -> series [num, T, D] in normalised units

so another model family (e.g. LDIDP) plugs in by providing an object with it.
"""

from __future__ import annotations

import dataclasses

import ml_collections
from flax import nnx

from ldx.data import DataConfig, Dataset, build_dataset
from ldx.diffusion import Schedule, make_schedule
from ldx.errors import ConfigError
from ldx.models import LatentDiffusionModel, ModelConfig
from ldx.objectives import METHODS, ObjectiveConfig, make_loss_fn
from ldx.sampling import SamplerConfig, generate

# Fields of config.model / config.sample that the method sets, not the user.
_DERIVED = {"posterior", "skip_z", "features", "stop_max"}


def typed(cls, section: ml_collections.ConfigDict, name: str, **extra):
    """Builds dataclass `cls` from config.<name>, naming any unknown or bad field."""
    known = {f.name for f in dataclasses.fields(cls)} - _DERIVED
    values = dict(section)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"Unknown field(s) config.{name}.{', '.join(unknown)}; "
            f"known fields: {', '.join(sorted(known))}."
        )
    try:
        return cls(**values, **extra)
    except TypeError as e:
        raise ConfigError(f"config.{name}: {e}") from e


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A validated config: data, model, objective, schedule and sampler settings."""

    seed: int
    dataset: Dataset
    model: ModelConfig
    objective: ObjectiveConfig
    schedule: Schedule
    sampler: SamplerConfig
    data_config: DataConfig | None = None  # how `dataset` was built (e.g. for other protocols)

    def init_model(self) -> LatentDiffusionModel:
        return LatentDiffusionModel(self.model, rngs=nnx.Rngs(self.seed))

    def loss_fn(self, num_steps: int):
        return make_loss_fn(self.objective, self.schedule, num_steps)

    def generate(self, model, key, num: int):
        """num series [num, T, D]: z from the DDPM prior, then X ~ p(X | z)."""
        return generate(model, self.schedule, self.sampler, key, num, self.dataset.seq_len)


def build_experiment(config: ml_collections.ConfigDict) -> Experiment:
    """Validates `config` and loads its data. Raises LdxError subclasses on bad input."""
    if not isinstance(config.seed, int) or config.seed < 0:
        raise ConfigError(f"config.seed={config.seed!r} must be an integer >= 0.")
    if config.method == "ldidp":  # Another model family with the same interface (ldx.ldidp).
        from ldx.ldidp.experiment import build_experiment as build_ldidp

        return build_ldidp(config)
    if config.method not in METHODS:
        raise ConfigError(f"config.method={config.method!r} is not one of {(*METHODS, 'ldidp')}.")
    data_config = typed(DataConfig, config.data, "data", seed=config.seed)
    dataset = build_dataset(data_config)
    model = typed(
        ModelConfig,
        config.model,
        "model",
        features=dataset.dim,
        posterior="deterministic" if config.method == "psld" else "gaussian",
        skip_z=config.method == "ld_skip",
    )
    objective = typed(ObjectiveConfig, config.objective, "objective", method=config.method)
    d = config.diffusion
    try:
        schedule = make_schedule(d.num_steps, d.schedule, d.beta_start, d.beta_end)
    except ValueError as e:
        raise ConfigError(f"config.diffusion: {e}") from e
    sample = {k: v for k, v in config.sample.items() if k not in ("num_samples", "use_ema")}
    sampler = typed(
        SamplerConfig,
        ml_collections.ConfigDict(sample),
        "sample",
        stop_max=objective.num_vi_steps if config.method == "psld" else 0,
    )
    return Experiment(config.seed, dataset, model, objective, schedule, sampler, data_config)
