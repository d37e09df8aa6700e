"""The experiment interface both model families implement, and the {method: builder} registry.

An experiment is the one typed object a run is: `build_experiment(config)` is the single place
where an ml_collections ConfigDict becomes typed, validated dataclasses (the launch apps and
`ldx.train.load_run` call it); everything below takes the `Experiment`. The families register
their builders at import (`ldx.ld`, `ldx.ldidp`, both imported by `ldx/__init__.py`), so this
module imports neither of them.

Shapes follow ldx/shapes.py.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import jax
import ml_collections
from flax import nnx

from ldx.data import DataConfig, Dataset
from ldx.errors import ConfigError, check_config

if TYPE_CHECKING:
    from ldx.train.config import TrainConfig

# loss_fn(model, x [B, T, D], key, step, stage) -> (scalar loss, metrics)
LossFn = Callable[..., tuple[jax.Array, dict[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class DrawConfig:
    """The `config.sample` fields every family shares: how a trained run's series are drawn.

    Attributes:
      num_samples: series `launch.train` draws when training ends.
      use_ema: draw with the EMA parameters.
      batch_size: series per compiled call.
    """

    num_samples: int
    use_ema: bool
    batch_size: int

    def __post_init__(self):
        check_config(self, "sample", positive=("batch_size",))


class Experiment(Protocol):
    """What the training loop, checkpoints, sampling and evaluation use of a run.

    Attributes:
      method: config.method.
      seed: seeds parameters, data order and every training key.
      data: the typed config.data.
      dataset: the loaded train/test windows.
      train: the typed config.train.
      draw: the shared config.sample fields.
      spec: the JSON form of the config the experiment was built from; written to
        `<workdir>/config.json` and compared on resume.
    """

    method: str
    seed: int
    data: DataConfig
    dataset: Dataset
    train: TrainConfig
    draw: DrawConfig
    spec: dict

    def init_model(self) -> nnx.Module:
        """A freshly initialised model."""

    def loss_fn(self, num_steps: int) -> LossFn:
        """The objective, loss_fn(model, x, key, step, stage) -> (loss, metrics)."""

    def generate(self, model: nnx.Module, key: jax.Array, num: int) -> jax.Array:
        """num series [num, T, D] in normalised units."""

    def step_model(self, model: nnx.Module):
        """The model step by step, an `ldx.smc.StepModel`: what completion (`ldx.complete`)
        filters with."""

    def describe(self) -> dict[str, Any]:
        """What the run is, for logs and reports: method, backbone, dataset, seed."""


Builder = Callable[[ml_collections.ConfigDict], Experiment]
BUILDERS: dict[str, Builder] = {}


def register(methods: Iterable[str], builder: Builder) -> None:
    """Makes `build_experiment` call `builder` for each of `methods`."""
    for method in methods:
        BUILDERS[method] = builder


def build_experiment(config: ml_collections.ConfigDict) -> Experiment:
    """Validates `config` and loads its data. Raises LdxError subclasses on bad input."""
    if not isinstance(config.seed, int) or config.seed < 0:
        raise ConfigError(f"config.seed={config.seed!r} must be an integer >= 0.")
    if config.method not in BUILDERS:
        raise ConfigError(f"config.method={config.method!r} is not one of {tuple(BUILDERS)}.")
    return BUILDERS[config.method](config)


def typed(cls, section: ml_collections.ConfigDict, name: str, derived=(), **extra):
    """Builds dataclass `cls` from config.<name>, naming any unknown or bad field.

    Args:
      cls: the dataclass.
      section: config.<name>.
      name: the section's name, for messages.
      derived: fields the builder sets (passed in `extra`), never read from the config.
      **extra: values of fields that are not in the section.
    """
    known = {f.name for f in dataclasses.fields(cls)} - set(derived) - set(extra)
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


def spec(config: ml_collections.ConfigDict) -> dict:
    """The JSON form of a config (what config.json holds)."""
    return json.loads(config.to_json_best_effort())


def draw_config(config: ml_collections.ConfigDict) -> DrawConfig:
    """The shared fields of config.sample."""
    s = config.sample
    return DrawConfig(s.num_samples, s.use_ema, s.batch_size)
